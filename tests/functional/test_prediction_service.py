"""The prediction service on moto: responses, capture, verified loading and the alias TTL."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from infra.local.example_data import churn_instances
from mlcore.capture import CaptureWriter
from mlcore.errors import BadRequestError, ModelNotFoundError, NotFoundError, ServiceUnavailableError
from mlcore.inference import PredictionService
from mlcore.registry import CHAMPION, Registry
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
def service(registry: Registry, artifacts: ObjectStore, capture: ObjectStore, clock: FakeClock) -> PredictionService:
    return PredictionService(
        registry,
        artifacts,
        CaptureWriter(capture, rng=random.Random(0)),
        max_rows=100,
        alias_ttl_seconds=TTL,
        clock=clock,
    )


def body(rows: int = 2, seed: int = 41) -> str:
    return json.dumps({"instances": churn_instances(rows, seed=seed)})


def test_predict_returns_labels_probabilities_and_the_serving_version(
    churn_champion: Any, service: PredictionService
) -> None:
    response = service.predict("churn", body(3), "req-1")
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
    response = service.predict("churn", json.dumps({"instances": instances}), "req-1")
    expected = trained_churn.pipeline.predict_proba(pd.DataFrame(instances).astype({"data_usage_gb": float}))
    served = [row["yes"] for row in response["probabilities"]]
    assert served == pytest.approx(expected[:, 1].tolist(), abs=1e-4)


def test_every_request_is_captured_at_sample_rate_one(
    churn_champion: Any, service: PredictionService, capture: ObjectStore
) -> None:
    response = service.predict("churn", body(2), "req-7")
    [key] = capture.list_keys("capture/churn/")
    assert key.endswith("-req-7.jsonl")
    lines = [json.loads(line) for line in capture.get(key).decode().splitlines()]
    assert [line["prediction"] for line in lines] == response["predictions"]
    assert lines[0]["features"] == json.loads(body(2))["instances"][0]
    assert lines[0]["model_version"] == 1


def test_a_capture_failure_does_not_fail_the_request(
    churn_champion: Any, service: PredictionService, capture: ObjectStore, caplog: pytest.LogCaptureFixture
) -> None:
    capture.client.delete_bucket(Bucket=capture.bucket)  # the capture bucket is gone
    response = service.predict("churn", body(2), "req-1")
    assert len(response["predictions"]) == 2
    assert "capture write failed" in caplog.text


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
    with pytest.raises(NotFoundError, match="has no champion version to serve yet"):
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
    assert service.predict("churn", body(), "r1")["model"]["version"] == 1
    # WHEN version 2 is promoted
    register_model(registry, artifacts, trained_churn, run_id="run-2")
    clock.now += TTL - 1
    # THEN the container keeps serving version 1 until the TTL passes
    assert service.predict("churn", body(), "r2")["model"]["version"] == 1
    clock.now += 1
    assert service.predict("churn", body(), "r3")["model"]["version"] == 2


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
    assert service.predict("churn", body(), "r1")["model"]["version"] == 1
    second = register_model(registry, artifacts, trained_churn, run_id="run-2")
    artifacts.put("runs/churn/run-2/model.onnx", b"not the registered model")
    clock.now += TTL
    # WHEN requests keep coming
    response = service.predict("churn", body(), "r2")
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
