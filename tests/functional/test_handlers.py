"""The Lambda handlers on moto, invoked with the sample events in events/."""

from __future__ import annotations

import copy
import io
import json
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from functional_helpers import load_module

from infra.local.runner import LambdaContext
from mlcore.data import to_parquet
from mlcore.registry import CHAMPION, ModelVersion, Registry
from mlcore.storage import ObjectStore
from mlcore.training import train_candidate

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = (
    "validate",
    "evaluate",
    "register",
    "promote",
    "predict",
    "list_due",
    "drift_check",
    "request_retraining",
    "materialize_features",
    "publish_registry_events",
)
POWERTOOLS = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "test",
    "POWERTOOLS_SERVICE_NAME": "test",
}


@pytest.fixture(scope="module")
def handlers() -> Iterator[dict[str, ModuleType]]:
    """Every `functions/<name>/handler.py`, imported once under a unique module name."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in POWERTOOLS.items():
            patch.setenv(key, value)
        modules = {}
        for name in HANDLERS:
            modules[name] = load_module(f"handler_{name}", ROOT / "functions" / name / "handler.py", patch)
        yield modules


@pytest.fixture
def invoke(
    handlers: dict[str, ModuleType], resources: Any, light_clients_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str, dict[str, Any]], Any]:
    """`invoke(function, event)` with the function's settings in the environment and fresh caches.

    The predict function's shutdown hook (the capture flush) runs at teardown, and the SIGTERM
    handler it installs is put back.
    """
    import mlruntime

    sigterm = signal.getsignal(signal.SIGTERM)
    key = boto3.client("kms", region_name="us-east-1").create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    monkeypatch.setenv("REQUEST_ID_KEY", key["KeyMetadata"]["Arn"])

    for key, value in {
        **POWERTOOLS,
        "REGISTRY_TABLE": "registry",
        "DATA_BUCKET": "mlops-data",
        "DATASETS_DATABASE": "mlops_datasets",
        "ARTIFACTS_BUCKET": "mlops-artifacts",
        "CAPTURE_BUCKET": "mlops-capture",
        "ONLINE_FEATURES_TABLE": "online-features",
        "EVENT_BUS": "default",
        "IMAGE_JOB_PREFIX": "mlops-training-image",
        "IMAGE_JOB_ROLE_ARN": "arn:aws:iam::123456789012:role/image-job",
        "IMAGE_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/image-execution",
        "IMAGE_LOG_GROUP": "image-logs",
        "GPU_JOBS": "false",
        "CODE_VERSION": "c0ffee-test",
        "MAX_ROWS": "50",
        "ALIAS_TTL_SECONDS": "0",
    }.items():
        monkeypatch.setenv(key, value)

    def clear() -> None:
        mlruntime.client.cache_clear()  # moto's state lives per test: clients must not outlive it
        for module in handlers.values():
            for getter in ("settings", "service", "s3"):
                if hasattr(module, getter):
                    getattr(module, getter).cache_clear()

    clear()

    def call(function: str, event: dict[str, Any]) -> Any:
        return handlers[function].handler(event, LambdaContext("test-function"))

    yield call  # type: ignore[misc]
    mlruntime.shutdown()  # while moto still runs
    signal.signal(signal.SIGTERM, sigterm)
    clear()


def json_body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def predict_event(load_event: Callable[[str], dict[str, Any]], instances: Any) -> dict[str, Any]:
    event = load_event("predict")
    event["body"] = json.dumps({"instances": instances})
    return event


# -- the training pipeline, step by step ---------------------------------------------------------


def test_pipeline_handlers_take_a_dataset_to_a_served_champion(  # noqa: PLR0917 (pytest fixtures)
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    churn_spec: Any,
    churn_dataset: pa.Table,
) -> None:
    # GIVEN the churn model registered and a dataset uploaded
    registry.put_spec(churn_spec, actor="test")
    sink = io.BytesIO()
    pacsv.write_csv(churn_dataset, sink)
    data.put("datasets/churn/2025-03-01.csv", sink.getvalue())
    # WHEN the pipeline's functions run with the sample events (and the Batch job in between)
    validated = invoke("validate", load_event("validate"))
    assert (validated["model_name"], validated["run_id"], validated["rows"]) == ("churn", "churn-run-1", 1000)
    train_candidate("churn", "churn-run-1", registry=registry, artifacts=artifacts)
    evaluated = invoke("evaluate", load_event("evaluate"))
    assert evaluated["passed"], evaluated["reason"]
    registered = invoke("register", load_event("register"))
    assert registered == {
        "model_name": "churn",
        "version": 1,
        "status": "approved",
        "reason": load_event("register")["evaluation"]["reason"],
        "champion_version": None,  # gated against no champion: the promotion moves the alias only from none
        "approval_timeout_seconds": None,  # approved (approval: auto): no pipeline waits for a person
        "held": "",  # nor did the gate hold it for one
    }
    # AND the version carries its lineage: the platform's commit and the spec it was trained under
    from mlcore.spec import spec_sha256

    registered_version = registry.get_version("churn", 1)
    assert registered_version.code_version == "c0ffee-test"
    assert registered_version.spec_sha256 == spec_sha256(registry.get_spec("churn"))
    promoted = invoke("promote", load_event("promote"))
    assert promoted == {"model_name": "churn", "alias": "champion", "version": 1, "previous_version": None}
    # THEN the API serves version 1
    response = invoke("predict", load_event("predict"))
    assert response["statusCode"] == 200
    assert json_body(response)["model"] == {"name": "churn", "version": 1}
    assert registry.get_alias("churn", CHAMPION).version == 1  # type: ignore[union-attr]


# -- the prediction API --------------------------------------------------------------------------


def test_predict_returns_200_with_predictions(
    churn_champion: Any, invoke: Callable[[str, dict[str, Any]], Any], load_event: Callable[[str], dict[str, Any]]
) -> None:
    event = load_event("predict")
    response = invoke("predict", event)
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    payload = json_body(response)
    assert len(payload["predictions"]) == len(json.loads(event["body"])["instances"]) == 2
    assert set(payload["probabilities"][0]) == {"no", "yes"}
    # the id feedback names the prediction by: the gateway's, with the API's signature (its header keeps the gateway's)
    gateway_id = event["requestContext"]["requestId"]
    assert payload["request_id"].startswith(f"{gateway_id}.2.") and len(payload["request_id"]) == len(gateway_id) + 25
    assert response["headers"]["X-Request-Id"] == gateway_id


def test_describe_returns_the_signature(
    churn_champion: Any, invoke: Callable[[str, dict[str, Any]], Any], load_event: Callable[[str], dict[str, Any]]
) -> None:
    response = invoke("predict", load_event("predict_describe"))
    assert response["statusCode"] == 200
    described = json_body(response)
    assert (described["name"], described["version"], described["task"]) == ("churn", 1, "classification")
    assert len(described["signature"]) == 7


def test_bad_json_is_a_400_naming_the_body(
    churn_champion: Any, invoke: Callable[[str, dict[str, Any]], Any], load_event: Callable[[str], dict[str, Any]]
) -> None:
    response = invoke("predict", load_event("predict_bad_json"))
    assert response["statusCode"] == 400
    error = json_body(response)["error"]
    assert error["code"] == "bad_request"
    assert error["field"] == "body"
    assert error["message"].startswith("the request body is not valid JSON")


def mutate(
    load_event: Callable[[str], dict[str, Any]], change: Callable[[list[dict[str, Any]]], Any]
) -> dict[str, Any]:
    instances = json.loads(load_event("predict")["body"])["instances"]
    result = change(instances)
    return predict_event(load_event, instances if result is None else result)


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        (
            lambda rows: [rows[0], {k: v for k, v in rows[1].items() if k != "plan"}],
            400,
            "bad_request",
            "instances[1].plan",
        ),
        (lambda rows: rows[0].update(age="twenty"), 400, "bad_request", "instances[0].age"),
        (lambda rows: rows[0].update(age=True), 400, "bad_request", "instances[0].age"),
        (lambda rows: rows[1].update(tenure_months=None), 400, "bad_request", "instances[1].tenure_months"),
        (lambda rows: rows[0].update(discount=0.1), 400, "bad_request", "instances[0].discount"),
        (lambda rows: [], 400, "bad_request", "instances"),
        (lambda rows: "all of them", 400, "bad_request", "instances"),
        (lambda rows: rows * 30, 413, "payload_too_large", "instances"),
    ],
    ids=["missing", "string-for-number", "bool", "null", "unknown", "empty", "not-a-list", "too-many"],
)
def test_client_mistakes_are_4xx_naming_the_field(  # noqa: PLR0917 (pytest fixtures)
    churn_champion: Any,
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
    change: Callable[[list[dict[str, Any]]], Any],
    status: int,
    code: str,
    field: str,
) -> None:
    response = invoke("predict", mutate(load_event, change))
    assert response["statusCode"] == status
    error = json_body(response)["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"].startswith(field)


def test_request_without_instances_is_a_400(
    churn_champion: Any, invoke: Callable[[str, dict[str, Any]], Any], load_event: Callable[[str], dict[str, Any]]
) -> None:
    event = load_event("predict")
    event["body"] = json.dumps({"rows": []})
    response = invoke("predict", event)
    assert (response["statusCode"], json_body(response)["error"]["field"]) == (400, "instances")


def with_model(event: dict[str, Any], name: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["path"] = event["path"].replace("/churn", f"/{name}")
    event["pathParameters"] = {"name": name}
    return event


@pytest.mark.parametrize("event_name", ["predict", "predict_describe"])
def test_unknown_model_is_a_404(
    churn_champion: Any,
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
    event_name: str,
) -> None:
    response = invoke("predict", with_model(load_event(event_name), "upsell"))
    assert response["statusCode"] == 404
    assert json_body(response)["error"] == {
        "code": "model_not_found",
        "message": "model 'upsell' is not registered",
        "request_id": response["headers"]["X-Request-Id"],
    }


def test_unknown_route_is_a_404(
    churn_champion: Any, invoke: Callable[[str, dict[str, Any]], Any], load_event: Callable[[str], dict[str, Any]]
) -> None:
    event = load_event("predict_describe")
    event["resource"] = event["path"] = "/health"  # routing is by the proxy event's resource
    response = invoke("predict", event)
    assert response["statusCode"] == 404
    assert json_body(response)["error"]["code"] == "not_found"


def test_a_registered_model_without_champion_is_not_a_server_error(
    registry: Registry,
    churn_spec: Any,
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
) -> None:
    registry.put_spec(churn_spec, actor="test")
    response = invoke("predict", load_event("predict"))
    assert response["statusCode"] == 404


def test_a_tampered_only_version_is_a_503(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    artifacts: ObjectStore,
    trained_churn: Any,
    register_model: Any,
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
) -> None:
    registry.put_spec(trained_churn.spec, actor="test")
    register_model(registry, artifacts, trained_churn, run_id="run-1")
    artifacts.put("runs/churn/run-1/model.onnx", b"tampered")
    response = invoke("predict", load_event("predict"))
    assert response["statusCode"] == 503
    assert json_body(response)["error"]["code"] == "model_unavailable"


def test_a_body_over_max_body_bytes_is_a_413(
    churn_champion: Any,
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_BODY_BYTES", "100")
    response = invoke("predict", load_event("predict"))
    assert response["statusCode"] == 413
    assert json_body(response)["error"]["field"] == "body"


def test_the_routing_key_header_chooses_the_canary_side(  # noqa: PLR0917 (pytest fixtures)
    churn_champion: Any,
    registry: Registry,
    artifacts: ObjectStore,
    trained_churn: Any,
    register_model: Any,
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
) -> None:
    from mlcore.registry import CHALLENGER, RolloutMode
    from mlcore.serving import route_share

    # GIVEN version 2 as a canary for half the traffic
    second = register_model(registry, artifacts, trained_churn, run_id="run-2", promote=False)
    registry.set_alias("churn", CHALLENGER, second.version, actor="test", mode=RolloutMode.CANARY, weight=0.5)
    keys = [f"customer-{i}" for i in range(40)]
    canary = next(k for k in keys if route_share(k) < 0.5)
    stable = next(k for k in keys if route_share(k) >= 0.5)
    # WHEN callers send their routing key (in any case, as HTTP headers are)
    for key, expected in ((canary, {"name": "churn", "version": 2, "variant": "challenger"}),
                          (stable, {"name": "churn", "version": 1})):  # fmt: skip
        event = load_event("predict")
        event["headers"]["X-Routing-Key"] = key
        response = invoke("predict", event)
        # THEN the key decides which version answers
        assert response["statusCode"] == 200
        assert json_body(response)["model"] == expected


# -- feedback ------------------------------------------------------------------------------------


def stored_feedback(capture: ObjectStore) -> list[dict[str, Any]]:
    keys = sorted(capture.list_keys("feedback/model=churn/"))
    return [row for key in keys for row in pq.read_table(io.BytesIO(capture.get(key))).to_pylist()]


def test_feedback_event_stores_the_label(
    churn_champion: Any,
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
    capture: ObjectStore,
) -> None:
    from infra.local.example_data import churn_instances

    # GIVEN a prediction, answered with the request id this API issued for it
    issued = json_body(invoke("predict", predict_event(load_event, churn_instances(1, seed=5))))["request_id"]
    event = load_event("feedback")
    event["body"] = json.dumps({**json.loads(event["body"]), "request_id": issued})
    response = invoke("predict", event)
    assert response["statusCode"] == 200
    assert json_body(response) == {"accepted": 1, "model": "churn"}
    [row] = stored_feedback(capture)
    assert (row["request_id"], row["row_index"], row["label"]) == (issued, 0, "yes")


def test_feedback_names_only_rows_the_prediction_had(
    churn_champion: Any,
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
    capture: ObjectStore,
) -> None:
    from infra.local.example_data import churn_instances

    # GIVEN a prediction of 3 rows
    issued = json_body(invoke("predict", predict_event(load_event, churn_instances(3, seed=5))))["request_id"]
    event = load_event("feedback")
    # WHEN a batch labels its last row, and a row after it THEN the batch is refused, naming the item
    event["body"] = json.dumps(
        {"feedback": [{"request_id": issued, "row_index": row, "label": "yes"} for row in (2, 3)]}
    )
    response = invoke("predict", event)
    assert response["statusCode"] == 400
    assert json_body(response)["error"] == {
        "code": "bad_request",
        "message": "feedback[1].row_index: 3 is not a row of the prediction, which had 3 (0 to 2)",
        "field": "feedback[1].row_index",
        "request_id": response["headers"]["X-Request-Id"],
    }
    assert stored_feedback(capture) == []
    # and its last row alone is stored
    event["body"] = json.dumps({"request_id": issued, "row_index": 2, "label": "yes"})
    assert invoke("predict", event)["statusCode"] == 200
    assert [row["row_index"] for row in stored_feedback(capture)] == [2]


@pytest.mark.parametrize("forge", ["gateway id alone", "another id with a copied mac"])
def test_feedback_for_a_request_id_the_api_did_not_issue_is_a_400(
    churn_champion: Any,
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
    capture: ObjectStore,
    forge: str,
) -> None:
    from infra.local.example_data import churn_instances

    predicted = invoke("predict", predict_event(load_event, churn_instances(1, seed=5)))
    gateway_id, rows, mac = json_body(predicted)["request_id"].split(".")
    forged = {"gateway id alone": gateway_id, "another id with a copied mac": f"{gateway_id[:-1]}x.{rows}.{mac}"}
    event = load_event("feedback")
    event["body"] = json.dumps({"request_id": forged[forge], "label": "yes"})
    response = invoke("predict", event)
    assert response["statusCode"] == 400
    assert json_body(response)["error"]["field"] == "body.request_id"
    assert stored_feedback(capture) == []


def test_feedback_with_an_unknown_class_is_a_400_naming_the_item(
    churn_champion: Any,
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
    capture: ObjectStore,
) -> None:
    event = load_event("feedback")
    event["body"] = json.dumps(
        {"feedback": [{"request_id": "r", "label": "no"}, {"request_id": "r", "label": "maybe"}]}
    )
    response = invoke("predict", event)
    assert response["statusCode"] == 400
    assert json_body(response)["error"]["field"] == "feedback[1].label"
    assert stored_feedback(capture) == []


def test_feedback_for_an_unknown_model_is_a_404(
    churn_champion: Any, invoke: Callable[[str, dict[str, Any]], Any], load_event: Callable[[str], dict[str, Any]]
) -> None:
    response = invoke("predict", with_model(load_event("feedback"), "upsell"))
    assert response["statusCode"] == 404
    assert json_body(response)["error"]["code"] == "model_not_found"


# -- the monitor ---------------------------------------------------------------------------------


def test_list_due_lists_the_registered_models(
    registry: Registry,
    churn_spec: Any,
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
) -> None:
    registry.put_spec(churn_spec, actor="test")
    assert invoke("list_due", load_event("list_due")) == {"models": [{"model_name": "churn", "window_hours": 24}]}


def test_drift_check_reports_too_little_traffic(
    churn_champion: Any, invoke: Callable[[str, dict[str, Any]], Any], load_event: Callable[[str], dict[str, Any]]
) -> None:
    result = invoke("drift_check", load_event("drift_check"))
    assert (result["model_name"], result["status"], result["rows"]) == ("churn", "not_enough_data", 0)
    assert result["retrain_recommended"] is False


def test_drift_check_after_served_traffic(
    churn_champion: Any, invoke: Callable[[str, dict[str, Any]], Any], load_event: Callable[[str], dict[str, Any]]
) -> None:
    import mlruntime
    from infra.local.example_data import churn_instances

    for seed in range(3):  # 3 requests of 50 rows, captured by the API
        response = invoke("predict", predict_event(load_event, churn_instances(50, seed=100 + seed)))
        assert response["statusCode"] == 200
    mlruntime.shutdown()  # Lambda recycles the container: the SIGTERM hook flushes the buffered capture
    result = invoke("drift_check", load_event("drift_check"))
    assert (result["status"], result["rows"]) == ("ok", 150)
    assert result["report"]["uri"].endswith("/drift.html")


def emf_documents(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


@pytest.fixture
def printed_metrics(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[[], Any]:
    """Metrics on (the local target's sessions turn them off); each call gives the EMF documents printed since the
    last one (or since the fixture)."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()
    return lambda: emf_documents(capsys.readouterr().out)


def test_drift_metrics_rise_with_drift_and_the_fleet_metric_has_no_model_dimension(
    churn_champion: Any,
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
    printed_metrics: Callable[[], Any],
) -> None:
    """On 150 rows every feature is tested: its metric is the test's confidence 1 - p, never the raw p-value."""
    import mlruntime
    from infra.local.example_data import churn_instances

    for seed in range(3):
        invoke("predict", predict_event(load_event, churn_instances(50, seed=100 + seed)))
    mlruntime.shutdown()
    printed_metrics()  # the predictions' own
    result = invoke("drift_check", load_event("drift_check"))
    documents = printed_metrics()
    per_feature = {
        doc["feature"]: (metric["Name"], doc[metric["Name"]])
        for doc in documents
        if "feature" in doc
        for metric in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    assert set(per_feature) == {f.name for f in churn_champion.signature} == set(result["p_values"])
    for feature, (name, value) in per_feature.items():
        assert name == "DriftTestConfidence"
        assert value == [pytest.approx(1 - result["p_values"][feature])]
    fleet = [doc for doc in documents if "DatasetDrift" in doc and "model" not in doc]
    assert len(fleet) == 1
    assert fleet[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]


def test_feature_metrics_read_higher_as_more_drift() -> None:
    from mlcore.catalog import DriftCheckResult
    from mlcore.monitoring import feature_metrics

    result = DriftCheckResult(
        model_name="m", check_id="c", status="drift", rows=2000, drifted_features=["a"], drift_share=0.5,
        dataset_drift=True, retrain_recommended=True, summary="",
        distances={"a": 0.4, "b": 0.01}, p_values={"c": 0.001, "d": 0.9},
    )  # fmt: skip
    values = {feature: (name, value) for feature, name, value in feature_metrics(result)}
    assert values["a"][1] > values["b"][1]
    assert values["c"][1] > values["d"][1]
    assert values["c"] == ("DriftTestConfidence", pytest.approx(0.999))
    assert values["a"] == ("DriftDistance", 0.4)


CANCELLED = "TransactionCanceledException"


@pytest.mark.parametrize(
    "failure",
    [
        ("ThrottlingException", 400, True),
        ("ProvisionedThroughputExceededException", 400, True),
        ("InternalServerError", 500, True),
        ("ServiceUnavailable", 503, True),
        ("ValidationException", 400, False),
        ("AccessDeniedException", 403, False),
        # a transaction cancelled by throttling alone goes through later; by a failed condition, never
        (CANCELLED, 400, True, ["None", "ThrottlingError"]),
        (CANCELLED, 400, True, ["ProvisionedThroughputExceeded", "RequestLimitExceeded"]),
        (CANCELLED, 400, False, ["ThrottlingError", "ConditionalCheckFailed"]),
        (CANCELLED, 400, False, ["ValidationError"]),
        (CANCELLED, 400, False, []),
    ],
)
def test_a_step_reports_aws_failures_worth_retrying_as_transient_errors(
    failure: tuple[Any, ...],
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ASL retries `TransientError` with backoff; a client error goes to the Catch (and the alert) at once."""
    from botocore.exceptions import ClientError

    from mlcore.errors import TransientError
    from mlcore.registry import Registry

    code, status, transient, *reasons = failure
    answer: dict[str, Any] = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    if reasons:
        answer["CancellationReasons"] = [{"Code": reason} for reason in reasons[0]]

    def fail(self: Registry, name: str) -> None:
        raise ClientError(answer, "GetItem")

    monkeypatch.setattr(Registry, "get_spec", fail)
    with pytest.raises(TransientError if transient else ClientError) as raised:
        invoke("evaluate", load_event("evaluate"))
    assert type(raised.value) is (TransientError if transient else ClientError)


def test_request_retraining_starts_the_pipeline_once(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    data: ObjectStore,
    churn_spec: Any,
    state_machine_arn: str,
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
) -> None:
    registry.put_spec(churn_spec, actor="test")
    data.put("datasets/churn/20250301T120000000000Z.csv", b"a,b\n1,2\n")
    first = invoke("request_retraining", load_event("request_retraining"))
    second = invoke("request_retraining", load_event("request_retraining"))
    assert [d["started"] for d in first["decisions"] + second["decisions"]] == [True, False]
    assert first["decisions"][0]["execution_name"].startswith("churn-drift-20250301T120000-")
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    assert len(sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]) == 1


def test_a_data_drop_event_asks_to_wait_out_the_debounce(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    data: ObjectStore,
    churn_spec: Any,
    state_machine_arn: str,
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
) -> None:
    from mlcore.spec import parse_spec

    spec = {**churn_spec.model_dump(mode="json", exclude_none=True), "retrain": {"on_new_data": True}}
    registry.put_spec(parse_spec(spec), actor="test")
    event = load_event("request_retraining_new_data")
    data.put(event["key"], b"a,b\n1,2\n")
    assert invoke("request_retraining", event) == {"decisions": [], "wait_seconds": 900}


def test_a_malformed_pipeline_event_is_refused(
    invoke: Callable[[str, dict[str, Any]], Any], load_event: Callable[[str], dict[str, Any]]
) -> None:
    from pydantic import ValidationError

    event = load_event("promote")
    del event["version"]
    with pytest.raises(ValidationError, match="version"):
        invoke("promote", event)


def test_the_captured_score_is_the_probability_of_the_positive_class_the_response_gave(
    churn_champion: Any,
    capture: ObjectStore,
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
) -> None:
    import io

    import pyarrow.parquet as pq

    import mlruntime
    from infra.local.example_data import churn_instances

    response = invoke("predict", predict_event(load_event, churn_instances(20, seed=7)))
    answer = json_body(response)
    mlruntime.shutdown()  # the capture's flush
    [key] = capture.list_keys("capture/model=churn/")
    captured = pq.read_table(io.BytesIO(capture.get(key))).sort_by("row_index").to_pylist()
    assert [row["request_id"] for row in captured] == [answer["request_id"]] * 20
    assert [row["prediction"] for row in captured] == answer["predictions"]
    # the response rounds to 6 decimals; the capture keeps the model's float
    assert [row["score"] for row in captured] == pytest.approx([p["yes"] for p in answer["probabilities"]], abs=1e-6)
    assert len({row["score"] for row in captured}) > 1
    returned = [p for row in answer["probabilities"] for p in row.values()]
    assert all(round(p, 6) == p for p in returned)  # 0.687571, never float32's 0.6875709891319275


# -- predict under faults ------------------------------------------------------------------------


@pytest.fixture
def throttled_dynamodb(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """`throttle()`: from then on, the embedded DynamoDB answers every GetItem and Query with a 400
    ThrottlingException, as AWS does past a table's capacity (the light client retries it, then gives up)."""
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.models import DynamoDBBackend

    from mlruntime import lightaws

    def refuse(*_: Any, **__: Any) -> Any:
        raise JsonRESTError("com.amazonaws.dynamodb.v20120810#ThrottlingException", "Rate of requests exceeds")

    def throttle() -> None:
        monkeypatch.setattr(lightaws, "BACKOFF_BASE_SECONDS", 0.0)
        for method in ("get_item", "query"):
            monkeypatch.setattr(DynamoDBBackend, method, refuse)

    return throttle


def test_a_throttled_registry_keeps_the_verified_champion_serving(
    churn_champion: Any,
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
    throttled_dynamodb: Callable[[], None],
) -> None:
    # GIVEN the champion served once by this container (the alias TTL is 0 here: every request refreshes)
    assert invoke("predict", load_event("predict"))["statusCode"] == 200
    # WHEN the registry throttles every read
    throttled_dynamodb()
    # THEN the verified champion keeps answering
    response = invoke("predict", load_event("predict"))
    assert response["statusCode"] == 200
    assert json_body(response)["model"]["version"] == 1


def test_a_throttled_registry_is_a_503_in_the_envelope_never_a_bare_502(
    churn_champion: Any,
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
    throttled_dynamodb: Callable[[], None],
    printed_metrics: Callable[[], Any],
) -> None:
    # GIVEN a container that has loaded nothing yet, and a registry that throttles
    throttled_dynamodb()
    # WHEN a prediction, and feedback, are asked for THEN each is a 503 with the envelope and the request id
    for event in (load_event("predict"), load_event("predict_describe")):
        response = invoke("predict", event)
        assert response["statusCode"] == 503
        error = json_body(response)["error"]
        assert error["code"] in {"model_unavailable", "dependency_unavailable"}
        assert error["request_id"] == response["headers"]["X-Request-Id"]
    # and each answer counts as a server error of the model, for its alarm
    assert [document["ServerErrors"] for document in printed_metrics()] == [1.0, 1.0]


@pytest.mark.parametrize("name", ["Churn", "a", "churn_v2", "x" * 49, "churn/../../etc", ""])
def test_a_name_that_is_no_model_name_is_refused_before_any_lookup_metric_or_header(
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
    name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    event = with_model(load_event("predict"), name)
    response = invoke("predict", event)  # no registry at all: a lookup would fail otherwise
    if not name:
        assert response["statusCode"] == 404  # no model in the path: no route
        return
    assert response["statusCode"] == 400
    error = json_body(response)["error"]
    assert error["code"] == "bad_request" and error["message"].startswith("name: ")
    assert "X-Model-Name" not in response["headers"]
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert metrics and all(m.get("model") == "invalid" for m in metrics if "model" in m)


def test_a_name_is_read_as_the_client_meant_it_not_as_it_encoded_it(
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
    churn_champion: ModelVersion,
) -> None:
    # API Gateway's REST proxy passes a path parameter percent-encoded, as the client sent it
    refused = invoke("predict", with_model(load_event("predict"), "Churn%5B1%5D"))
    assert json_body(refused)["error"]["message"] == "name: 'Churn[1]' is not a model name (^[a-z][a-z0-9-]{1,47}$)"
    answered = invoke("predict", with_model(load_event("predict"), "ch%75rn"))
    assert answered["statusCode"] == 200 and json_body(answered)["model"]["name"] == "churn"


def test_a_name_that_names_no_model_is_no_metric_dimension(
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
    churn_champion: ModelVersion,
    printed_metrics: Callable[[], Any],
) -> None:
    # GIVEN a client asking for a well-formed name that no model has
    response = invoke("predict", with_model(load_event("predict"), "made-up-1"))
    # THEN it gets a 404, and its answer is counted under "unknown": invented names add no metric, no alarm contributor
    assert response["statusCode"] == 404
    [document] = printed_metrics()
    assert document["model"] == "unknown" and document["Errors_model_not_found"] == 1


def test_the_api_s_metrics_are_by_model_and_version_and_by_model_alone_for_its_alarms(
    invoke: Callable[[str, dict[str, Any]], Any],
    load_event: Callable[[str], dict[str, Any]],
    churn_champion: ModelVersion,
    printed_metrics: Callable[[], Any],
) -> None:
    response = invoke("predict", load_event("predict"))
    assert response["statusCode"] == 200
    [document] = printed_metrics()
    by_version, by_model = document["_aws"]["CloudWatchMetrics"]
    assert by_version["Dimensions"] == [["model", "version"], ["model"]]
    assert (document["model"], document["version"]) == ("churn", str(churn_champion.version))
    assert {"Latency", "PredictedRows"} <= {m["Name"] for m in by_version["Metrics"]}
    # the alarms' metrics by model alone: by version they would be two custom metrics more per version
    assert by_model["Dimensions"] == [["model"]]
    assert {m["Name"] for m in by_model["Metrics"]} == {"SlowAnswers", "ServerErrors"}
    assert not {"SlowAnswers", "ServerErrors"} & {m["Name"] for m in by_version["Metrics"]}
    assert (document["SlowAnswers"], document["ServerErrors"]) == (0.0, 0.0)  # a quick answer, and not our fault


def test_the_feature_stores_tick_materializes_online_views_and_fails_naming_a_broken_one(
    invoke: Callable[[str, dict[str, Any]], Any], load_event: Callable[[str], dict[str, Any]], registry: Registry,
    data: ObjectStore,
) -> None:  # fmt: skip
    from infra.local.example_data import CARD_VIEW
    from mlcore.errors import FeatureMaterializationError
    from mlcore.spec import load_view

    view = load_view(CARD_VIEW.read_text())
    registry.put_view(view, actor="test")
    data.put(
        "features/card-activity/date=2026-03-10/20260310T000000000000Z-a.parquet",
        to_parquet(
            pa.table(
                {
                    "card_id": ["c1"],
                    "event_time": pa.array([datetime(2026, 3, 10, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
                    "tx_count_24h": [3.0],
                    "amount_mean_7d": [None],
                }
            )
        ),
    )
    data.put("features/_ingests/card-activity/20260310T000000000000Z-a.json", b"{}")
    result = invoke("materialize_features", load_event("materialize_features"))
    assert [(v["view"], v["written"], v["stale"]) for v in result["views"]] == [("card-activity", 1, True)]
    # its drift was checked too (one row of 2026, nowhere near today's windows: not enough data), and recorded
    assert result["drift"] == {"card-activity": "not_enough_data"}
    assert registry.get_view("card-activity").drift.status == "not_enough_data"  # type: ignore[union-attr]
    # WHEN a view's offline files cannot be read THEN the tick fails naming it (for the alert)
    registry.put_view(view.model_copy(update={"name": "broken-view"}), actor="test")
    data.put("features/broken-view/date=2026-03-10/20260310T000000000000Z-b.parquet", b"not parquet")
    data.put("features/_ingests/broken-view/20260310T000000000000Z-b.json", b"{}")
    with pytest.raises(
        FeatureMaterializationError, match="1 views were not materialized or checked: broken-view: Data"
    ):
        invoke("materialize_features", load_event("materialize_features"))


def test_registry_changes_read_from_the_tables_stream_become_events_on_the_bus(
    invoke: Callable[[str, dict[str, Any]], Any], trained_churn: Any, register_model: Callable[..., Any],
    artifacts: ObjectStore,
) -> None:  # fmt: skip
    from botocore.config import Config

    from mlcore.registry import VersionStatus, create_registry_table

    # GIVEN a registry table with its stream (as deployed), and a rule sending the registry's events to a queue
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    create_registry_table(dynamodb, "streamed")
    stream = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    dynamodb.update_table(TableName="streamed", StreamSpecification=stream)
    sqs, events = boto3.client("sqs", region_name="us-east-1"), boto3.client("events", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="registry-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="registry", EventPattern=json.dumps({"source": ["mlops.registry"]}))
    events.put_targets(Rule="registry", Targets=[{"Id": "q", "Arn": queue_arn}])
    # WHEN a version is registered and promoted, then recalled
    registry = Registry("streamed", dynamodb)
    registry.put_spec(trained_churn.spec, actor="test")
    version = register_model(registry, artifacts, trained_churn)
    registry.set_status("churn", version.version, VersionStatus.REJECTED, actor="test", reason="leak")
    streams = boto3.client(
        "dynamodbstreams", region_name="us-east-1", config=Config(account_id_endpoint_mode="disabled")
    )
    arn = dynamodb.describe_table(TableName="streamed")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    result = invoke("publish_registry_events", {"Records": json.loads(json.dumps(records, default=str))})
    # THEN the bus carried each change, in order
    received = []
    while message := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        received += [json.loads(m["Body"]) for m in message]
        sqs.delete_message_batch(QueueUrl=queue, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                          for i, m in enumerate(message)])  # fmt: skip
    kinds = [(event["detail-type"], event["detail"].get("version")) for event in received]
    assert kinds == [("VersionRegistered", 1), ("VersionApproved", 1), ("AliasMoved", 1), ("VersionRejected", 1),
                     ("AliasMoved", None)]  # fmt: skip
    assert result == {"published": 5}
    assert received[-1]["detail"]["previous_version"] == 1
