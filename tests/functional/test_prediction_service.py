"""The prediction service on moto: responses, capture, verified loading, the alias TTL and rollouts."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infra.local.example_data import churn_instances, churn_table
from mlcore.errors import (
    BadRequestError,
    ModelNotFoundError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
)
from mlcore.registry import CHALLENGER, CHAMPION, Registry, RolloutMode, VersionStatus
from mlcore.serving import CaptureBuffer, OnnxModel, Outcome, PredictionService, route_share, validate_instances
from mlcore.storage import ObjectStore

TTL = 30.0


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_service(
    registry: Registry, artifacts: ObjectStore, capture: ObjectStore, clock: FakeClock
) -> Callable[..., PredictionService]:
    """`make_service(capture_max_rows=1, **options)`: a service whose capture buffer writes every request."""

    def make(capture_max_rows: int = 1, **options: Any) -> PredictionService:
        buffer = CaptureBuffer(capture, max_rows=capture_max_rows, rng=random.Random(0), clock=clock)
        return PredictionService(
            registry, artifacts, buffer, **{"max_rows": 100, "alias_ttl_seconds": TTL, "clock": clock, **options}
        )

    return make


@pytest.fixture
def service(make_service: Callable[..., PredictionService]) -> PredictionService:
    return make_service()


def body(rows: int = 2, seed: int = 41) -> str:
    return json.dumps({"instances": churn_instances(rows, seed=seed)})


def answer(service: PredictionService, request: str, request_id: str = "req-1", **kwargs: Any) -> dict[str, Any]:
    """The response of a prediction (without its outcome)."""
    response, _ = service.predict("churn", request, request_id, **kwargs)
    return response


def captured(capture: ObjectStore) -> pa.Table:
    """Every captured row of the churn model, oldest file first."""
    keys = sorted(capture.list_keys("capture/model=churn/"))
    return pa.concat_tables([pq.read_table(io.BytesIO(capture.get(key))) for key in keys])


def test_predict_returns_labels_probabilities_and_the_serving_version(
    churn_champion: Any, service: PredictionService
) -> None:
    response, outcome = service.predict("churn", body(3), "req-1")
    assert outcome == Outcome(model_name="churn", version=1, variant=CHAMPION, rows=3)
    assert set(response) == {"predictions", "probabilities", "model", "request_id"}
    assert response["model"] == {"name": "churn", "version": 1}
    assert response["request_id"] == "req-1"
    assert len(response["predictions"]) == 3
    assert set(response["predictions"]) <= {"no", "yes"}
    for label, probabilities in zip(response["predictions"], response["probabilities"], strict=True):
        assert set(probabilities) == {"no", "yes"}
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert label == max(probabilities, key=probabilities.get)  # type: ignore[arg-type]


def test_predict_matches_the_trained_pipeline(
    churn_champion: Any, service: PredictionService, trained_churn: Any
) -> None:
    import pandas as pd

    instances = churn_instances(20, seed=42)
    response = answer(service, json.dumps({"instances": instances}))
    expected = trained_churn.pipeline.predict_proba(pd.DataFrame(instances).astype({"data_usage_gb": float}))
    served = [row["yes"] for row in response["probabilities"]]
    assert served == pytest.approx(expected[:, 1].tolist(), abs=1e-4)


def test_every_request_is_captured_at_sample_rate_one(
    churn_champion: Any, service: PredictionService, capture: ObjectStore
) -> None:
    response = answer(service, body(2), "req-7")
    [key] = capture.list_keys("capture/model=churn/")
    assert key.endswith(".parquet")
    rows = captured(capture).to_pylist()
    assert [row["prediction"] for row in rows] == response["predictions"]
    assert [row["request_id"] for row in rows] == ["req-7", "req-7"]
    sent = json.loads(body(2))["instances"][0]
    assert {name: rows[0][name] for name in sent} == sent
    assert (rows[0]["model_version"], rows[0]["variant"], rows[0]["shadow_version"]) == (1, CHAMPION, None)
    assert rows[0]["latency_ms"] > 0


def test_capture_is_buffered_until_the_buffer_is_full_or_flushed(
    churn_champion: Any, make_service: Callable[..., PredictionService], capture: ObjectStore
) -> None:
    service = make_service(capture_max_rows=5)
    answer(service, body(2), "r1")
    answer(service, body(2), "r2")
    assert capture.list_keys("capture/") == []
    assert service.capture.pending() == 4
    answer(service, body(2), "r3")  # 6 rows >= 5: written
    assert captured(capture).num_rows == 6
    answer(service, body(1), "r4")
    assert service.capture.flush() == 1
    assert captured(capture).column("request_id").to_pylist()[-1] == "r4"


def test_a_capture_failure_does_not_fail_the_request(
    churn_champion: Any, service: PredictionService, capture: ObjectStore, caplog: pytest.LogCaptureFixture
) -> None:
    capture.client.delete_bucket(Bucket=capture.bucket)  # the capture bucket is gone
    response = answer(service, body(2))
    assert len(response["predictions"]) == 2
    assert "capture write failed" in caplog.text
    assert service.capture.pending() == 2  # kept for the next flush


def test_a_bad_request_is_refused_before_predicting(
    churn_champion: Any, service: PredictionService, capture: ObjectStore
) -> None:
    instances = churn_instances(2, seed=1)
    del instances[1]["plan"]
    with pytest.raises(BadRequestError, match=r"instances\[1\].plan: is missing"):
        service.predict("churn", json.dumps({"instances": instances}), "req-1")
    assert capture.list_keys("capture/") == []


def test_unknown_model_is_not_found(registry: Registry, service: PredictionService) -> None:
    with pytest.raises(ModelNotFoundError):
        service.predict("nope", body(), "req-1")


def test_a_model_without_champion_is_not_found(
    registry: Registry, service: PredictionService, trained_churn: Any
) -> None:
    registry.put_spec(trained_churn.spec, actor="test")
    with pytest.raises(
        NotFoundError, match=r"to serve \(none was promoted yet, or the champion was archived or rejected\)"
    ):
        service.describe("churn")


def test_describe_shows_the_signature(churn_champion: Any, service: PredictionService) -> None:
    described = service.describe("churn")
    assert described["version"] == 1
    assert described["classes"] == ["no", "yes"]
    assert [field["name"] for field in described["signature"]][:2] == ["tenure_months", "monthly_charges"]


def test_a_promoted_version_is_served_only_after_the_alias_ttl(  # noqa: PLR0917 (pytest fixtures)
    churn_champion: Any,
    service: PredictionService,
    registry: Registry,
    artifacts: ObjectStore,
    trained_churn: Any,
    register_model: Any,
    clock: FakeClock,
) -> None:
    # GIVEN version 1 is being served
    assert answer(service, body(), "r1")["model"]["version"] == 1
    # WHEN version 2 is promoted
    register_model(registry, artifacts, trained_churn, run_id="run-2")
    clock.now += TTL - 1
    # THEN the container keeps serving version 1 until the TTL passes
    assert answer(service, body(), "r2")["model"]["version"] == 1
    clock.now += 1
    assert answer(service, body(), "r3")["model"]["version"] == 2


def test_a_tampered_artifact_is_refused_and_the_last_good_version_keeps_serving(  # noqa: PLR0917 (pytest fixtures)
    churn_champion: Any,
    service: PredictionService,
    registry: Registry,
    artifacts: ObjectStore,
    trained_churn: Any,
    register_model: Any,
    clock: FakeClock,
) -> None:
    # GIVEN version 1 served, then version 2 promoted and its model file overwritten after registration
    assert answer(service, body(), "r1")["model"]["version"] == 1
    second = register_model(registry, artifacts, trained_churn, run_id="run-2")
    artifacts.put("runs/churn/run-2/model.onnx", b"not the registered model")
    clock.now += TTL
    # WHEN requests keep coming
    response = answer(service, body(), "r2")
    # THEN the tampered version is never loaded and version 1 answers
    assert registry.get_alias("churn", CHAMPION).version == second.version  # type: ignore[union-attr]
    assert response["model"]["version"] == 1


def test_with_no_verified_version_the_service_is_unavailable(
    registry: Registry, artifacts: ObjectStore, trained_churn: Any, register_model: Any, service: PredictionService
) -> None:
    registry.put_spec(trained_churn.spec, actor="test")
    register_model(registry, artifacts, trained_churn, run_id="run-1")
    artifacts.put("runs/churn/run-1/model.onnx", b"tampered")
    with pytest.raises(ServiceUnavailableError) as caught:
        service.predict("churn", body(), "r1")
    assert caught.value.status == 503
    assert caught.value.message == "model 'churn' has no verified version to serve"


# -- request formats -----------------------------------------------------------------------------


def test_dataframe_split_is_answered_like_the_same_instances(churn_champion: Any, service: PredictionService) -> None:
    instances = churn_instances(5, seed=7)
    columns = list(instances[0])
    split = {"dataframe_split": {"columns": columns, "data": [[row[c] for c in columns] for row in instances]}}
    by_split = answer(service, json.dumps(split), "r1")
    by_instances = answer(service, json.dumps({"instances": instances}), "r2")
    assert by_split["predictions"] == by_instances["predictions"]
    assert by_split["probabilities"] == by_instances["probabilities"]


def test_a_mistake_in_a_dataframe_split_is_named_by_its_row_and_column(
    churn_champion: Any, service: PredictionService
) -> None:
    instances = churn_instances(2, seed=7)
    columns = list(instances[0])
    data = [[row[c] for c in columns] for row in instances]
    data[1][columns.index("age")] = "old"
    with pytest.raises(BadRequestError) as caught:
        service.predict("churn", json.dumps({"dataframe_split": {"columns": columns, "data": data}}), "r1")
    where = f"dataframe_split.data[1][{columns.index('age')}]"
    assert (caught.value.field, caught.value.message) == (where, f"{where} (age): expected a number, got str")
    # the same mistake in instances is named as instances have it
    instances[1]["age"] = "old"
    with pytest.raises(BadRequestError) as caught:
        service.predict("churn", json.dumps({"instances": instances}), "r2")
    assert caught.value.field == "instances[1].age"


def test_a_clean_batch_is_answered_and_captured_in_one_pass_as_value_by_value(
    churn_champion: Any, service: PredictionService, capture: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlcore.serving import service as module

    parsed: list[str] = []
    parse = module.parse_body
    monkeypatch.setattr(module, "parse_body", lambda body, *limit: parsed.append(body) or parse(body, *limit))
    instances = churn_instances(40, seed=7)  # nulls in the nullable feature among them
    assert any(row["data_usage_gb"] is None for row in instances)
    columns = list(instances[0])
    split = {"dataframe_split": {"columns": columns, "data": [[row[c] for c in columns] for row in instances]}}
    one_pass = answer(service, json.dumps({"instances": instances}), "r1")
    assert parsed == []  # decoded and checked in one pass: never parsed into dicts
    by_value = answer(service, json.dumps(split), "r2")
    assert len(parsed) == 1  # MLflow's format is parsed and checked value by value
    assert (one_pass["predictions"], one_pass["probabilities"]) == (by_value["predictions"], by_value["probabilities"])
    service.capture.flush()
    rows = captured(capture).to_pylist()
    features = [{c: row[c] for c in columns} for row in rows]
    assert features[:40] == features[40:]  # the same values captured, nulls as nulls
    assert [row["data_usage_gb"] for row in features[:40]] == [row["data_usage_gb"] for row in instances]


@pytest.mark.parametrize("rows", [1, 40])  # value by value, and the one-pass decode
def test_an_unknown_member_beside_the_rows_is_refused_naming_it(
    churn_champion: Any, service: PredictionService, rows: int
) -> None:
    # a client that believes it pins a version, or misspells an option, learns it is not taken
    request = json.dumps({"instances": churn_instances(rows, seed=5), "version": 1})
    with pytest.raises(BadRequestError) as caught:
        service.predict("churn", request, "req-1")
    assert (caught.value.status, caught.value.field) == (400, "version")
    assert caught.value.message == "version: unknown member (a body has instances or dataframe_split, nothing else)"
    assert answer(service, body(rows))["model"]["version"] == 1  # the same rows alone are answered


def test_a_body_that_is_no_request_is_named_before_an_unknown_model(
    registry: Registry, service: PredictionService
) -> None:
    with pytest.raises(BadRequestError, match="not valid JSON") as caught:
        service.predict("nope", "{", "req-1")
    assert caught.value.status == 400
    with pytest.raises(ModelNotFoundError):  # a request, for a model that does not exist
        service.predict("nope", body(), "req-1")


def test_a_body_that_is_no_request_is_named_before_the_request_ids_key_fails(
    churn_champion: Any, make_service: Callable[..., PredictionService]
) -> None:
    def unreachable_key() -> Any:
        raise ServiceUnavailableError("the request ids' key cannot be read")

    service = make_service(request_ids=unreachable_key)
    with pytest.raises(BadRequestError, match="not valid JSON"):
        service.predict("churn", '{"instances": [', "req-1")
    with pytest.raises(ServiceUnavailableError):  # a request: the key's failure is the answer
        service.predict("churn", body(), "req-1")


def test_a_lone_surrogate_in_the_text_is_a_bad_request(churn_champion: Any, service: PredictionService) -> None:
    row = {**churn_instances(1, seed=3)[0], "region": "@"}
    escaped = json.dumps({"instances": [row]}).replace('"@"', '"\\ud800"')  # JSON's escape of a lone surrogate
    raw = escaped.replace("\\ud800", "\ud800")  # the surrogate itself in the body's text
    for request in (escaped, raw):
        with pytest.raises(BadRequestError, match=r"instances\[0\]\.region"):
            service.predict("churn", request, "req-1")


def test_a_body_over_the_byte_limit_is_413_before_anything_is_loaded(
    make_service: Callable[..., PredictionService], capture: ObjectStore
) -> None:
    service = make_service(max_body_bytes=200)
    with pytest.raises(PayloadTooLargeError) as caught:
        service.predict("no-model-needed", body(5), "r1")
    assert (caught.value.status, caught.value.field) == (413, "body")
    assert capture.list_keys("capture/") == []


# -- rollouts: canary and shadow -----------------------------------------------------------------


@pytest.fixture(scope="session")
def contrarian_onnx(trained_churn: Any) -> bytes:
    """A challenger trained on flipped labels: it disagrees with the champion on most rows."""
    from mlcore.data import enforce_contract
    from mlcore.spec import parse_spec
    from mlcore.training import export_onnx, fit

    raw = trained_churn.spec.model_dump(mode="json")
    spec = parse_spec({**raw, "estimator": {"kind": "random_forest_classifier", "params": {"n_estimators": 5}}})
    table, _ = enforce_contract(churn_table(500, seed=5), spec)
    labels = np.asarray(table.column("churned").to_pylist())
    flipped = table.set_column(
        table.schema.get_field_index("churned"), "churned", pa.array(np.where(labels == "yes", "no", "yes"))
    )
    pipeline, _ = fit(spec, flipped)
    return export_onnx(pipeline, spec)


@pytest.fixture
def rollout(
    churn_champion: Any, registry: Registry, artifacts: ObjectStore, trained_churn: Any, register_model: Any
) -> Callable[..., int]:
    """`rollout(mode, weight, onnx=...)`: register version 2 and make it the challenger."""

    def start(mode: RolloutMode, weight: float = 0.0, onnx: bytes | None = None) -> int:
        second = register_model(registry, artifacts, trained_churn, run_id="run-2", onnx=onnx, promote=False)
        registry.set_alias("churn", CHALLENGER, second.version, actor="test", mode=mode, weight=weight)
        return int(second.version)

    return start


def test_canary_routes_each_key_to_the_same_side_at_the_weight(
    rollout: Callable[..., int], make_service: Callable[..., PredictionService]
) -> None:
    # GIVEN version 2 as a canary for 20 % of the traffic (capture stays in memory: no S3 write per request)
    rollout(RolloutMode.CANARY, 0.2)
    service = make_service(capture_max_rows=10**6)
    one_row = body(1)
    rng = random.Random(7)
    keys = [f"customer-{rng.getrandbits(64):x}" for _ in range(2000)]
    # WHEN 2000 callers send a request each
    variants = {key: answer(service, one_row, "r", routing_key=key)["model"].get("variant", CHAMPION) for key in keys}
    # THEN the challenger answers the keys whose share is under the weight, about 20 % of them
    assert all((variants[key] == CHALLENGER) == (route_share(key) < 0.2) for key in keys)
    assert abs(sum(v == CHALLENGER for v in variants.values()) / len(keys) - 0.2) <= 0.03
    # AND a caller sticks to its side, request after request
    for key in keys[:20]:
        assert answer(service, one_row, "again", routing_key=key)["model"].get("variant", CHAMPION) == variants[key]


def test_the_canary_answers_with_its_version_and_is_captured_as_challenger(
    rollout: Callable[..., int], service: PredictionService, capture: ObjectStore
) -> None:
    version = rollout(RolloutMode.CANARY, 1.0)
    response, outcome = service.predict("churn", body(2), "r1", routing_key="anyone")
    assert response["model"] == {"name": "churn", "version": version, "variant": CHALLENGER}
    assert (outcome.version, outcome.variant) == (version, CHALLENGER)
    rows = captured(capture).to_pylist()
    assert {(row["model_version"], row["variant"]) for row in rows} == {(version, CHALLENGER)}


@pytest.mark.parametrize(("weight", "challenger_share"), [(0.0, 0), (1.0, 100)])
def test_canary_weight_zero_never_and_one_always_routes_to_the_challenger(
    rollout: Callable[..., int], make_service: Callable[..., PredictionService], weight: float, challenger_share: int
) -> None:
    rollout(RolloutMode.CANARY, weight)
    service = make_service(capture_max_rows=10**6)
    variants = [answer(service, body(1), f"req-{i}")["model"].get("variant", CHAMPION) for i in range(100)]
    assert variants.count(CHALLENGER) == challenger_share


def test_without_a_routing_key_the_request_id_routes(
    rollout: Callable[..., int], make_service: Callable[..., PredictionService]
) -> None:
    rollout(RolloutMode.CANARY, 0.5)
    service = make_service(capture_max_rows=10**6)
    for request_id in (f"req-{i}" for i in range(50)):
        expected = CHALLENGER if route_share(request_id) < 0.5 else CHAMPION
        assert answer(service, body(1), request_id)["model"].get("variant", CHAMPION) == expected


def test_shadow_scores_every_request_while_the_champion_answers(
    rollout: Callable[..., int],
    service: PredictionService,
    capture: ObjectStore,
    trained_churn: Any,
    contrarian_onnx: bytes,
) -> None:
    # GIVEN a challenger that learned the opposite, in shadow mode
    version = rollout(RolloutMode.SHADOW, onnx=contrarian_onnx)
    instances = churn_instances(40, seed=9)
    inputs = validate_instances(instances, trained_churn.signature, 100)
    champion = OnnxModel(trained_churn.onnx, trained_churn.signature, trained_churn.classes).predict(inputs.tensors)
    challenger = OnnxModel(contrarian_onnx, trained_churn.signature, trained_churn.classes).predict(inputs.tensors)
    disagreements = int((champion["label"] != challenger["label"]).sum())
    assert disagreements > 0
    # WHEN a request comes in
    response, outcome = service.predict("churn", json.dumps({"instances": instances}), "r1")
    # THEN the champion answers, and the outcome counts where the challenger disagreed
    assert response["model"] == {"name": "churn", "version": 1}
    assert response["predictions"] == champion["label"].tolist()
    assert (outcome.version, outcome.variant, outcome.shadow_version) == (1, CHAMPION, version)
    assert outcome.shadow_disagreements == disagreements
    # AND the capture holds both outputs
    table = captured(capture)
    assert table.column("prediction").to_pylist() == champion["label"].tolist()
    assert table.column("shadow_prediction").to_pylist() == challenger["label"].tolist()
    assert set(table.column("shadow_version").to_pylist()) == {version}
    assert set(table.column("variant").to_pylist()) == {CHAMPION}


def test_describe_shows_the_rollout(rollout: Callable[..., int], service: PredictionService) -> None:
    version = rollout(RolloutMode.CANARY, 0.25)
    assert service.describe("churn")["challenger"] == {"version": version, "mode": "canary", "weight": 0.25}


def test_a_tampered_challenger_is_dropped_and_the_champion_keeps_serving(
    rollout: Callable[..., int], service: PredictionService, artifacts: ObjectStore
) -> None:
    # GIVEN a canary for all traffic whose model file was overwritten after registration
    artifacts_key = "runs/churn/run-2/model.onnx"
    rollout(RolloutMode.CANARY, 1.0)
    artifacts.put(artifacts_key, b"not the registered model")
    # WHEN requests come in
    responses = [answer(service, body(1), f"r{i}") for i in range(5)]
    # THEN the champion answers them all and the challenger is never loaded
    assert all(r["model"] == {"name": "churn", "version": 1} for r in responses)
    assert service.integrity_failures == 1
    assert "challenger" not in service.describe("churn")


# -- status rules in serving --------------------------------------------------------------------------


def test_a_recalled_champion_is_replaced_by_the_previous_approved_version_at_the_next_refresh(  # noqa: PLR0917
    churn_champion: Any,
    service: PredictionService,
    registry: Registry,
    artifacts: ObjectStore,
    trained_churn: Any,
    register_model: Any,
    clock: FakeClock,
) -> None:
    # GIVEN version 2 promoted over version 1 and serving
    register_model(registry, artifacts, trained_churn, run_id="run-2")
    clock.now += TTL
    assert answer(service, body(), "r1")["model"]["version"] == 2
    # WHEN version 2 is rejected (recalled)
    registry.set_status("churn", 2, VersionStatus.REJECTED, actor="reviewer", reason="leak")
    clock.now += TTL
    # THEN version 1 answers
    assert answer(service, body(), "r2")["model"]["version"] == 1


def force_status(registry: Registry, version: int, status: VersionStatus) -> None:
    """Write a version's status behind the registry's back, leaving its aliases where they are."""
    record = registry.get_version("churn", version)
    document = record.model_copy(update={"status": status}).model_dump_json()
    item = {"pk": {"S": "MODEL#churn"}, "sk": {"S": f"VERSION#{version:08d}"}, "rev": {"N": str(record.revision + 1)}}
    registry.client.put_item(TableName=registry.table, Item={**item, "doc": {"S": document}})


def test_an_alias_read_while_it_pointed_at_an_unapproved_version_serves_nothing(
    churn_champion: Any, registry: Registry, service: PredictionService
) -> None:
    # GIVEN the champion alias names a version that is not approved (a state no registry write leaves)
    force_status(registry, 1, VersionStatus.ARCHIVED)
    # WHEN a request comes THEN it is refused with 503, naming the version and its status
    with pytest.raises(ServiceUnavailableError, match="version 1 of 'churn' is archived: it is not served"):
        service.predict("churn", body(), "r1")


def test_a_challenger_that_is_no_longer_approved_is_not_scored(
    rollout: Callable[..., int], registry: Registry, make_service: Callable[..., PredictionService]
) -> None:
    challenger = rollout(RolloutMode.CANARY, weight=1.0)
    force_status(registry, challenger, VersionStatus.REJECTED)
    assert answer(make_service(), body(), "r1")["model"]["version"] == 1


def test_a_container_that_served_a_version_now_unapproved_stops_serving_it(
    churn_champion: Any, registry: Registry, service: PredictionService, clock: FakeClock
) -> None:
    # GIVEN version 1 served from this container's cache
    assert answer(service, body(), "r1")["model"]["version"] == 1
    # WHEN, past the alias TTL, the alias names it while it is no longer approved
    force_status(registry, 1, VersionStatus.REJECTED)
    clock.now += TTL
    # THEN the container refuses rather than serve its cached copy, until the registry says otherwise
    with pytest.raises(ServiceUnavailableError, match="version 1 of 'churn' is rejected: it is not served"):
        service.predict("churn", body(), "r2")
    with pytest.raises(ServiceUnavailableError):
        service.predict("churn", body(), "r3")


def test_a_spec_changed_since_the_champion_was_trained_still_captures_the_champions_inputs(
    churn_champion: Any, registry: Registry, service: PredictionService, capture: ObjectStore, trained_churn: Any
) -> None:
    from mlcore.spec import parse_spec

    # GIVEN a spec registered since v1 was trained: it adds `discount` and drops `monthly_charges`
    raw = trained_churn.spec.model_dump(mode="json", exclude_none=True)
    features = [f for f in raw["features"] if f["name"] != "monthly_charges"]
    registry.put_spec(parse_spec({**raw, "features": [*features, {"name": "discount", "type": "numeric"}]}), "test")
    # WHEN v1 answers a request (it reads its own inputs: monthly_charges, not discount)
    response = answer(service, body(2), "req-1")
    # THEN the request is answered and captured with v1's inputs, as v1 read them
    assert len(response["predictions"]) == 2
    rows = captured(capture).to_pylist()
    sent = json.loads(body(2))["instances"]
    assert [row["monthly_charges"] for row in rows] == [row["monthly_charges"] for row in sent]
    assert "discount" not in rows[0]


def test_a_canary_reading_fewer_features_answers_the_documented_requests_captured_with_nulls(  # noqa: PLR0917
    churn_champion: Any,
    registry: Registry,
    artifacts: ObjectStore,
    service: PredictionService,
    capture: ObjectStore,
    trained_churn: Any,
    train_model: Callable[..., Any],
    register_model: Callable[..., Any],
) -> None:
    from mlcore.spec import parse_spec

    # GIVEN v2, trained without data_usage_gb, as a canary for all the traffic beside v1 (and as a shadow after)
    raw = trained_churn.spec.model_dump(mode="json", exclude_none=True)
    narrower = parse_spec({**raw, "features": [f for f in raw["features"] if f["name"] != "data_usage_gb"]})
    second = register_model(
        registry, artifacts, train_model(narrower, churn_table(600, seed=8)), run_id="run-2", promote=False
    )
    registry.set_alias("churn", CHALLENGER, second.version, actor="test", mode=RolloutMode.CANARY, weight=1.0)
    # WHEN requests valid under the API's document (v1's signature) come its way, with data_usage_gb or without
    rows = [{k: v for k, v in row.items() if k != "data_usage_gb"} for row in churn_instances(2, seed=41)]
    for request, sent in (("without", json.dumps({"instances": rows})), ("with", body(2))):
        # THEN v2 answers both, reading its own features
        assert answer(service, sent, request)["model"]["version"] == second.version
    # AND a request the document refuses is refused by v1's signature, whichever side it was routed to
    with pytest.raises(BadRequestError, match=r"^instances\[0\]\.age: 130 is above the maximum"):
        answer(service, json.dumps({"instances": [{**rows[0], "age": 130}]}), "bad")
    # AND v2's rows are captured without data_usage_gb, which it did not read
    captured_rows = captured(capture).to_pylist()
    assert [r["data_usage_gb"] for r in captured_rows] == [None] * 4
    assert {r["model_version"] for r in captured_rows} == {second.version}
    # AND as a shadow, v2 scores the rows v1 answers
    registry.set_alias("churn", CHALLENGER, second.version, actor="test", mode=RolloutMode.SHADOW)
    shadowed = PredictionService(registry, artifacts, service.capture, max_rows=100, alias_ttl_seconds=0)
    _, outcome = shadowed.predict("churn", body(2), "shadowed")
    assert (outcome.version, outcome.shadow_version) == (1, second.version)


def test_a_canary_reading_a_new_feature_answers_the_requests_that_carry_it(  # noqa: PLR0917
    churn_champion: Any,
    registry: Registry,
    artifacts: ObjectStore,
    service: PredictionService,
    trained_churn: Any,
    train_model: Callable[..., Any],
    register_model: Callable[..., Any],
) -> None:
    from mlcore.serving import openapi
    from mlcore.spec import parse_spec

    # GIVEN v2, trained with a new required feature, discount, as a canary for all the traffic beside v1
    raw = trained_churn.spec.model_dump(mode="json", exclude_none=True)
    wider = parse_spec({**raw, "features": [*raw["features"], {"name": "discount", "type": "numeric", "min": 0}]})
    table = churn_table(600, seed=8)
    table = table.append_column("discount", pa.array(np.linspace(0, 30, table.num_rows)))
    second = register_model(registry, artifacts, train_model(wider, table), run_id="run-2", promote=False)
    registry.set_alias("churn", CHALLENGER, second.version, actor="test", mode=RolloutMode.CANARY, weight=1.0)
    # THEN the API's document takes discount, as an optional property, while the rollout lasts
    serving = service.serving("churn")
    document = openapi.model_document("churn", 1, serving.request_signature, ["no", "yes"], 100)
    instance = document["components"]["schemas"]["churn-instance"]
    assert "discount" in instance["properties"] and "discount" not in instance["required"]
    # AND a request that carries it is answered by v2, one without it by v1 (v2 cannot read it)
    rows = churn_instances(2, seed=41)
    assert answer(service, json.dumps({"instances": [{**r, "discount": 5.0} for r in rows]}), "a")["model"] == {
        "name": "churn", "version": second.version, "variant": CHALLENGER
    }  # fmt: skip
    assert answer(service, json.dumps({"instances": rows}), "b")["model"] == {"name": "churn", "version": 1}
    # AND a value of it the document refuses is refused (a 400 naming it), as is a typo
    with pytest.raises(BadRequestError, match=r"instances\[0\]\.discount: -1 is below the minimum 0"):
        answer(service, json.dumps({"instances": [{**rows[0], "discount": -1.0}]}), "c")
    with pytest.raises(BadRequestError, match="discont"):
        answer(service, json.dumps({"instances": [{**rows[0], "discont": 5.0}]}), "d")


def test_a_regressors_output_that_overflows_is_null_as_the_apis_document_says() -> None:
    import jsonschema

    from mlcore.serving import jsonio, openapi, signature_of
    from mlcore.spec import parse_spec
    from mlcore.training import export_onnx, fit

    # GIVEN a ridge regressor whose rooms have no bound: float32's largest number is a valid value
    spec = parse_spec(
        {
            "name": "house", "task": "regression", "target": "price",
            "features": [{"name": "rooms", "type": "integer"}, {"name": "area", "type": "numeric"}],
            "estimator": {"kind": "ridge"}, "metrics": {"primary": "rmse"}, "data": {"min_rows": 50},
        }
    )  # fmt: skip
    rng = np.random.default_rng(3)
    rooms, area = rng.integers(1, 8, 300).astype(float), rng.normal(100, 20, 300)
    pipeline, _ = fit(spec, pa.table({"rooms": rooms, "area": area, "price": 1000 * rooms + 30 * area}))
    model = OnnxModel(export_onnx(pipeline, spec), signature_of(spec.features), None)
    rows = [{"rooms": float(np.finfo(np.float32).max), "area": 100.0}, {"rooms": 3, "area": 90.0}]
    # WHEN it predicts THEN the overflowed output is null, the other a number, and the body is the document's
    labels = model.predict(model.validate(rows, 10).tensors)["label"].tolist()
    body = json.loads(
        jsonio.dumps({"predictions": labels, "model": {"name": "house", "version": 1}, "request_id": "r"})
    )
    assert body["predictions"][0] is None and isinstance(body["predictions"][1], float)
    schemas = openapi.openapi_document()["components"]["schemas"]
    jsonschema.validate(body, {**schemas["PredictResponse"], "components": {"schemas": schemas}})


def test_a_retired_model_serves_nothing_and_says_so(
    churn_champion: Any, registry: Registry, make_service: Callable[..., PredictionService], clock: FakeClock
) -> None:
    from mlcore.errors import ModelRetiredError

    service = make_service()
    assert answer(service, body())["model"]["version"] == churn_champion.version
    # WHEN its spec is registered retired THEN, once the aliases are read again, it answers nothing
    registry.put_spec(registry.get_spec("churn").model_copy(update={"retired": True}), actor="test")
    clock.now += service.ttl
    with pytest.raises(ModelRetiredError, match=r"^model 'churn' is retired: it serves, trains and scores nothing"):
        service.predict("churn", body(), "r-2")
    # AND registered back (retired: false), its champion serves again
    registry.put_spec(registry.get_spec("churn").model_copy(update={"retired": False}), actor="test")
    clock.now += service.ttl
    assert answer(service, body())["model"]["version"] == churn_champion.version
