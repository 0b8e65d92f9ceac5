"""S3 adapters on moto: verified artifact reads, and captured traffic written as Parquet and read back."""

from __future__ import annotations

import io
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcore.catalog import META_COLUMNS, Artifact
from mlcore.data import read_window
from mlcore.errors import ArtifactIntegrityError, NotFoundError
from mlcore.serving import CaptureBuffer, capture_batch, capture_schema
from mlcore.spec import ModelSpec, parse_spec
from mlcore.storage import ObjectStore, sha256_hex

NOW = datetime(2025, 3, 1, 1, 30, tzinfo=UTC)  # early in the day: a 24 h window spans two dates
ROW = {
    "tenure_months": 3.0,
    "monthly_charges": 89.5,
    "support_calls": 4.0,
    "age": 27.0,
    "data_usage_gb": None,
    "plan": "basic",
    "region": "north",
}


def test_put_returns_uri_and_sha_and_get_verified_reads_it(artifacts: ObjectStore) -> None:
    artifact = artifacts.put("runs/churn/r1/model.onnx", b"model-bytes")
    assert artifact == Artifact(
        uri="s3://mlops-artifacts/runs/churn/r1/model.onnx", sha256=sha256_hex(b"model-bytes"), size=11
    )
    assert artifacts.get_verified(artifact) == b"model-bytes"


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


def test_a_large_file_is_uploaded_in_parts_telling_its_progress(artifacts: ObjectStore, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    data = random.Random(3).randbytes(9 * 1024 * 1024)  # over boto3's 8 MiB multipart threshold
    path.write_bytes(data)
    sent: list[int] = []
    stored = artifacts.upload("big.bin", str(path), progress=sent.append)
    assert sum(sent) == len(data) and len(sent) > 1
    assert (stored.sha256, stored.size) == (sha256_hex(data), len(data))
    assert artifacts.get_verified(stored) == data


def test_missing_object_is_not_found(artifacts: ObjectStore) -> None:
    with pytest.raises(NotFoundError, match="no object at s3://mlops-artifacts/nothing"):
        artifacts.get("nothing")


@pytest.fixture
def write(capture: ObjectStore, churn_spec: ModelSpec, capture_request: Callable[..., int]) -> Callable[..., int]:
    """`write(at, request_id, rows=2)`: one captured churn request served by version 3."""

    def write_request(at: datetime, request_id: str, rows: int = 2, spec: ModelSpec = churn_spec) -> int:
        return capture_request(
            capture, spec, [ROW] * rows, ["no"] * rows, at=at, request_id=request_id, version=3, latency_ms=12.3456
        )

    return write_request


def read(capture: ObjectStore, key: str) -> pa.Table:
    return pq.read_table(io.BytesIO(capture.get(key)))


def test_an_opened_object_reads_ranges_so_a_parquet_footer_is_read_without_the_file(artifacts: ObjectStore) -> None:
    raw = io.BytesIO()
    pq.write_table(pa.table({"x": list(range(500_000))}), raw, compression="none")  # ~4 MB
    artifacts.put("views/a.parquet", raw.getvalue())
    fetched: list[int] = []
    client = artifacts.client

    class Counting:  # the S3 client, counting the bytes of each GET
        exceptions = client.exceptions
        head_object = staticmethod(client.head_object)

        @staticmethod
        def get_object(**request: object) -> dict[str, object]:
            body = client.get_object(**request)["Body"].read()
            fetched.append(len(body))
            return {"Body": io.BytesIO(body)}

    opened = ObjectStore(artifacts.bucket, Counting()).open("views/a.parquet")  # type: ignore[arg-type]
    assert pq.ParquetFile(opened).metadata.num_rows == 500_000
    assert opened.size == len(raw.getvalue()) and sum(fetched) < opened.size / 20
    opened.seek(-4, io.SEEK_END)
    assert opened.read() == b"PAR1" and opened.read() == b""  # the end of a Parquet file, then nothing
    opened.seek(0)
    assert opened.read(4) == b"PAR1" and opened.tell() == 4
    with pytest.raises(NotFoundError):
        artifacts.open("views/none.parquet")


def test_capture_writes_one_parquet_row_per_served_row(
    capture: ObjectStore, churn_spec: ModelSpec, write: Callable[..., int]
) -> None:
    assert write(NOW, "req-1", rows=3) == 3
    [key] = capture.list_keys("capture/")
    assert re.fullmatch(r"capture/model=churn/dt=2025-03-01/\d{12}-[0-9a-f]{12}\.parquet", key)
    table = read(capture, key)
    assert table.column_names == [name for name, _ in (*META_COLUMNS, *capture_schema(churn_spec))]
    assert table.schema.field("captured_at").type == pa.timestamp("ms", tz="UTC")
    assert table.column("row_index").to_pylist() == [0, 1, 2]
    assert table.to_pylist()[0] == {
        "request_id": "req-1",
        "captured_at": NOW,
        "row_index": 0,
        "model_version": 3,
        "variant": "champion",
        "latency_ms": 12.3456,
        **ROW,
        "prediction": "no",
        "score": None,
        "shadow_version": None,
        "shadow_prediction": None,
    }


def test_read_window_keeps_only_rows_inside_the_window(capture: ObjectStore, write: Callable[..., int]) -> None:
    write(NOW - timedelta(hours=25), "too-old")
    write(NOW - timedelta(hours=23), "yesterday")  # the previous date's folder
    write(NOW - timedelta(minutes=5), "recent")
    write(NOW + timedelta(minutes=5), "future")
    assert len(capture.list_keys("capture/model=churn/dt=2025-02-28/")) == 2
    names = ["tenure_months", "plan", "loyalty_points"]
    columns, predictions, versions = read_window(capture, "churn", names, hours=24, now=NOW)
    assert len(predictions) == 4
    assert versions == [3, 3, 3, 3]
    assert list(columns["plan"]) == ["basic"] * 4
    assert list(columns["tenure_months"]) == [3.0] * 4
    assert list(columns["loyalty_points"]) == [None] * 4  # a feature the captured rows do not have


def test_read_window_of_no_traffic_is_empty(capture: ObjectStore) -> None:
    assert read_window(capture, "churn", ["plan"], hours=24, now=NOW) == ({"plan": []}, [], [])


def test_read_window_ignores_other_models(
    capture: ObjectStore, churn_spec: ModelSpec, write: Callable[..., int]
) -> None:
    write(NOW, "r", spec=parse_spec({**churn_spec.model_dump(mode="json"), "name": "churn-v2"}))
    _, predictions, _ = read_window(capture, "churn", ["plan"], hours=1, now=NOW)
    assert len(predictions) == 0
    _, predictions, _ = read_window(capture, "churn-v2", ["plan"], hours=1, now=NOW)
    assert len(predictions) == 2


@pytest.mark.parametrize(("rate", "expected"), [(1.0, 100), (0.0, 0)])
def test_sampling_rate_bounds(capture: ObjectStore, rate: float, expected: int) -> None:
    buffer = CaptureBuffer(capture, rng=random.Random(1))
    assert sum(buffer.sampled(rate) for _ in range(100)) == expected


def test_sampling_rate_is_honoured_on_average(capture: ObjectStore) -> None:
    buffer = CaptureBuffer(capture, rng=random.Random(1))
    assert 200 < sum(buffer.sampled(0.25) for _ in range(1000)) < 300


def test_a_failed_write_to_s3_keeps_the_rows_for_the_next_flush(
    capture: ObjectStore, churn_spec: ModelSpec, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN the capture bucket is gone when the buffer writes
    buffer = CaptureBuffer(capture)
    batch = capture_batch(
        schema=capture_schema(churn_spec),
        request_id="r",
        captured_at=NOW,
        version=1,
        variant="champion",
        latency_ms=1.0,
        values={name: [value] for name, value in ROW.items()},
        labels=["no"],
        scores=[0.3],
    )
    buffer.add("churn", capture_schema(churn_spec), batch)
    capture.client.delete_bucket(Bucket=capture.bucket)
    assert buffer.flush() == 0
    assert "capture write failed" in caplog.text
    assert buffer.pending() == 1
    # WHEN the bucket is back
    capture.client.create_bucket(Bucket=capture.bucket)
    # THEN the next flush writes the kept row
    assert buffer.flush() == 1
    assert buffer.pending() == 0
    [key] = capture.list_keys("capture/model=churn/")
    assert read(capture, key).column("request_id").to_pylist() == ["r"]
