"""S3 adapters on moto: verified artifact reads, and the captured-traffic window."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from mlcore.capture import CaptureWriter, capture_key, read_window
from mlcore.errors import ArtifactIntegrityError, NotFoundError
from mlcore.storage import Artifact, ObjectStore, sha256_hex

NOW = datetime(2025, 3, 1, 1, 30, tzinfo=UTC)  # early in the day: a 24 h window spans two dates
ROW = {"tenure_months": 3.0, "plan": "basic"}


def test_put_returns_uri_and_sha_and_get_verified_reads_it(artifacts: ObjectStore) -> None:
    artifact = artifacts.put("runs/churn/r1/model.onnx", b"model-bytes")
    assert artifact == Artifact(
        uri="s3://mlops-artifacts/runs/churn/r1/model.onnx", sha256=sha256_hex(b"model-bytes"), size=11
    )
    assert artifacts.get_verified(artifact) == b"model-bytes"
    assert artifacts.get_verified(artifact.model_dump()) == b"model-bytes"


def test_get_verified_refuses_bytes_that_do_not_match(artifacts: ObjectStore) -> None:
    # GIVEN a registered artifact that was overwritten afterwards
    artifact = artifacts.put("runs/churn/r1/model.onnx", b"model-bytes")
    artifacts.put("runs/churn/r1/model.onnx", b"tampered")
    # THEN reading it is refused
    with pytest.raises(ArtifactIntegrityError, match=r"has SHA-256 .* the registry recorded"):
        artifacts.get_verified(artifact)


def test_get_verified_refuses_an_artifact_in_a_foreign_bucket(artifacts: ObjectStore, data: ObjectStore) -> None:
    foreign = data.put("model.onnx", b"model-bytes")
    with pytest.raises(ArtifactIntegrityError, match="outside the registry bucket mlops-artifacts"):
        artifacts.get_verified(foreign)


def test_missing_object_is_not_found(artifacts: ObjectStore) -> None:
    with pytest.raises(NotFoundError, match="no object at s3://mlops-artifacts/nothing"):
        artifacts.get("nothing")


def write(capture: ObjectStore, at: datetime, request_id: str, rows: int = 2) -> str:
    return CaptureWriter(capture).write(
        model_name="churn",
        version=3,
        request_id=request_id,
        instances=[ROW] * rows,
        predictions=["no"] * rows,
        latency_ms=12.3456,
        at=at,
    )


def test_capture_writes_one_line_per_row(capture: ObjectStore) -> None:
    key = write(capture, NOW, "req-1", rows=3)
    assert key == capture_key("churn", NOW, "req-1") == "capture/churn/dt=2025-03-01/013000.000000-req-1.jsonl"
    lines = [json.loads(line) for line in capture.get(key).decode().splitlines()]
    assert [line["row"] for line in lines] == [0, 1, 2]
    assert lines[0] == {
        "request_id": "req-1",
        "at": NOW.isoformat(),
        "model_version": 3,
        "latency_ms": 12.346,
        "row": 0,
        "features": ROW,
        "prediction": "no",
    }


def test_read_window_keeps_only_rows_inside_the_window(capture: ObjectStore) -> None:
    write(capture, NOW - timedelta(hours=25), "too-old")
    write(capture, NOW - timedelta(hours=23), "yesterday")  # the previous date's folder
    write(capture, NOW - timedelta(minutes=5), "recent")
    write(capture, NOW + timedelta(minutes=5), "future")
    columns, predictions, versions = read_window(capture, "churn", ["tenure_months", "plan", "age"], hours=24, now=NOW)
    assert len(predictions) == 4
    assert versions == [3, 3, 3, 3]
    assert list(columns["plan"]) == ["basic"] * 4
    assert list(columns["age"]) == [None] * 4  # a feature absent from the captured rows


def test_read_window_ignores_other_models(capture: ObjectStore) -> None:
    CaptureWriter(capture).write(
        model_name="churn-v2", version=1, request_id="r", instances=[ROW], predictions=["no"], latency_ms=1, at=NOW
    )
    _, predictions, _ = read_window(capture, "churn", ["plan"], hours=1, now=NOW)
    assert len(predictions) == 0


@pytest.mark.parametrize(("rate", "expected"), [(1.0, 100), (0.0, 0)])
def test_sampling_rate_bounds(capture: ObjectStore, rate: float, expected: int) -> None:
    writer = CaptureWriter(capture, rng=random.Random(1))
    assert sum(writer.sampled(rate) for _ in range(100)) == expected


def test_sampling_rate_is_honoured_on_average(capture: ObjectStore) -> None:
    writer = CaptureWriter(capture, rng=random.Random(1))
    assert 200 < sum(writer.sampled(0.25) for _ in range(1000)) < 300
