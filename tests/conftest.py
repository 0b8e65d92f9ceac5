"""Fixtures shared by unit and functional tests: sample events, moto-backed adapters, a tiny trained model."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from infra.local.example_data import EXAMPLE_SPEC, churn_table
from infra.local.hooks import atomic_dynamodb_writes
from mlcore.features import create_online_table
from mlcore.registry import CHAMPION, ModelVersion, Registry, VersionStatus, create_registry_table, utc_now
from mlcore.serving import CaptureBuffer, capture_batch, capture_schema
from mlcore.spec import ModelSpec, load_spec
from mlcore.storage import ObjectStore

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
REGION = "us-east-1"
TABLE = "registry"
DATA_BUCKET = "mlops-data"
ARTIFACTS_BUCKET = "mlops-artifacts"
CAPTURE_BUCKET = "mlops-capture"
ONLINE_TABLE = "online-features"
DATASETS_DATABASE = "mlops_datasets"
# A dataset whose holdout clears the example gate (roc_auc >= 0.70) comfortably.
TRAINING_ROWS, TRAINING_SEED = 1000, 2


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    """Read `events/<name>.json`, the same files a user would invoke the functions with."""

    def load(name: str) -> dict[str, Any]:
        return json.loads((EVENTS / f"{name}.json").read_text())

    return load


@pytest.fixture
def churn_spec() -> ModelSpec:
    return load_spec(EXAMPLE_SPEC.read_text())


# -- moto ----------------------------------------------------------------------------------------


@pytest.fixture
def tables(resources: Any) -> Any:
    """The datasets database in the embedded Glue (a spec's data.source names its tables)."""
    import boto3

    from mlcore.data import DatasetTables

    glue = boto3.client("glue")
    glue.create_database(DatabaseInput={"Name": DATASETS_DATABASE})
    return DatasetTables(glue, DATASETS_DATABASE)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An in-process fake AWS (moto) with fake credentials; never an endpoint from the environment."""
    from moto import mock_aws

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws(), atomic_dynamodb_writes():  # conditional writes atomic, as DynamoDB's are
        yield


@pytest.fixture
def runs_stay_running(monkeypatch: pytest.MonkeyPatch) -> None:
    """Executions on moto's Step Functions stay RUNNING until stopped, whatever a local target running in this session
    turned on (moto's executing engine would run a one-Pass pipeline to its end at once). Ask for it before the state
    machine is made: the two modes keep their machines apart."""
    from moto.core.config import default_user_config

    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": False})


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on loopback: the predict function's light clients speak HTTP (no botocore to patch).

    It serves the same in-process backends as `mock_aws`, so what a test creates is there too.
    """
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def light_clients_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the light S3 and DynamoDB clients (mlruntime.lightaws) at the moto server."""
    from mlruntime import lightaws

    monkeypatch.setattr(lightaws, "DEFAULT_ENDPOINT", moto_server)
    return moto_server


@dataclass(frozen=True)
class Clients:
    dynamodb: Any
    s3: Any


@pytest.fixture
def resources(aws: None) -> Clients:
    """The registry and online feature tables, and the data, artifacts and capture buckets."""
    import boto3

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    create_registry_table(dynamodb, TABLE)
    create_online_table(dynamodb, ONLINE_TABLE)
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in (DATA_BUCKET, ARTIFACTS_BUCKET, CAPTURE_BUCKET):
        s3.create_bucket(Bucket=bucket)
    return Clients(dynamodb=dynamodb, s3=s3)


@pytest.fixture
def registry(resources: Clients) -> Registry:
    return Registry(TABLE, resources.dynamodb)


@pytest.fixture
def data(resources: Clients) -> ObjectStore:
    return ObjectStore(DATA_BUCKET, resources.s3)


@pytest.fixture
def artifacts(resources: Clients) -> ObjectStore:
    return ObjectStore(ARTIFACTS_BUCKET, resources.s3)


@pytest.fixture
def capture(resources: Clients) -> ObjectStore:
    return ObjectStore(CAPTURE_BUCKET, resources.s3)


# -- a tiny real model, trained once -------------------------------------------------------------


@dataclass(frozen=True)
class TrainedModel:
    """The example spec trained on a small churn dataset, without AWS."""

    spec: ModelSpec
    pipeline: Any
    onnx: bytes
    classes: list[str]
    signature: list[dict[str, Any]]
    profile: dict[str, Any]
    metrics: dict[str, float]
    holdout: pa.Table


@pytest.fixture
def churn_dataset() -> pa.Table:
    """A labelled churn dataset the example model learns well enough to pass its gate."""
    return churn_table(TRAINING_ROWS, seed=TRAINING_SEED)


def train_tiny(spec: ModelSpec, table: pa.Table) -> TrainedModel:
    """Fit, export and profile a spec's model on a small table, without AWS."""
    from mlcore.data import build_profile, enforce_contract, split_holdout
    from mlcore.serving import OnnxModel, signature_of
    from mlcore.training import export_onnx, fit, score, table_columns

    clean, _ = enforce_contract(table, spec)
    train, holdout = split_holdout(clean, spec)
    pipeline, classes = fit(spec, train)
    onnx = export_onnx(pipeline, spec)
    signature = signature_of(spec.features)
    model = OnnxModel(onnx, signature, classes)
    train_columns = table_columns(train, spec)
    profile = build_profile(spec, train_columns, model.predict(train_columns)["label"])
    truth = np.asarray(holdout.column(spec.target).to_pylist())
    metrics = score(spec, truth, model.predict(table_columns(holdout, spec)), classes)
    assert classes is not None
    return TrainedModel(spec, pipeline, onnx, classes, signature, profile, metrics, holdout)


@pytest.fixture
def train_model() -> Callable[[ModelSpec, pa.Table], TrainedModel]:
    """`train_model(spec, table)`: a spec's model fitted, exported and profiled on a small table."""
    return train_tiny


@pytest.fixture
def online_table(resources: Clients) -> str:
    """The online feature store's table (empty)."""
    return ONLINE_TABLE


@pytest.fixture(scope="session")
def trained_churn() -> TrainedModel:
    """Fit, export and profile the example model on 1000 rows (a few seconds, once per session)."""
    return train_tiny(load_spec(EXAMPLE_SPEC.read_text()), churn_table(TRAINING_ROWS, seed=TRAINING_SEED))


def register_trained(
    registry: Registry,
    artifacts: ObjectStore,
    trained: TrainedModel,
    *,
    run_id: str = "seed-run",
    onnx: bytes | None = None,
    promote: bool = True,
    importance: dict[str, float] | None = None,
    status: VersionStatus = VersionStatus.APPROVED,
) -> ModelVersion:
    """Store a trained model's artifacts, register it as a version (approved by default) and (by default) promote
    it."""
    prefix = f"runs/{trained.spec.name}/{run_id}/"
    version = registry.register_version(
        ModelVersion(
            model_name=trained.spec.name,
            version=registry.allocate_version(trained.spec.name),
            run_id=run_id,
            status=status,
            created_at=utc_now(),
            artifacts={
                "model": artifacts.put(prefix + "model.onnx", onnx if onnx is not None else trained.onnx),
                "profile": artifacts.put(prefix + "profile.json", trained.profile.model_dump_json().encode()),
            },
            metrics=trained.metrics,
            signature=trained.signature,
            classes=trained.classes,
            importance=importance or {},
            views=dict(trained.spec.views),  # as the training job records them
        ),
        actor="test",
    )
    if promote:
        registry.set_alias(trained.spec.name, CHAMPION, version.version, actor="test")
    return version


@pytest.fixture
def register_model() -> Callable[..., ModelVersion]:
    """`register_model(registry, artifacts, trained, run_id=..., onnx=..., promote=..., importance=..., status=...)`."""
    return register_trained


@pytest.fixture
def churn_champion(registry: Registry, artifacts: ObjectStore, trained_churn: TrainedModel) -> ModelVersion:
    """GIVEN the churn model registered with version 1 as its champion."""
    registry.put_spec(trained_churn.spec, actor="test")
    return register_trained(registry, artifacts, trained_churn)


# -- captured traffic ----------------------------------------------------------------------------


def write_captured(
    store: ObjectStore,
    spec: ModelSpec,
    instances: Sequence[dict[str, Any]],
    predictions: Sequence[Any],
    *,
    at: datetime,
    request_id: str = "req-1",
    version: int = 1,
    variant: str = "champion",
    latency_ms: float = 5.0,
    shadow_version: int | None = None,
    shadow_predictions: Sequence[Any] | None = None,
) -> int:
    """Write one served request as the prediction service captures it (CaptureBuffer, flushed); returns rows."""
    buffer = CaptureBuffer(store)
    batch = capture_batch(
        schema=capture_schema(spec),
        request_id=request_id,
        captured_at=at,
        version=version,
        variant=variant,
        latency_ms=latency_ms,
        values={f.name: [row.get(f.name) for row in instances] for f in spec.features},
        labels=list(predictions),
        shadow_version=shadow_version,
        shadow_labels=list(shadow_predictions) if shadow_predictions is not None else None,
    )
    buffer.add(spec.name, capture_schema(spec), batch)
    return buffer.flush()


@pytest.fixture
def capture_request() -> Callable[..., int]:
    """`capture_request(store, spec, instances, predictions, at=..., request_id=..., version=...)`."""
    return write_captured


@pytest.fixture
def state_machine_arn(resources: Clients, monkeypatch: pytest.MonkeyPatch) -> str:
    """A training state machine (one Pass state) in TRAINING_STATE_MACHINE_ARN: what starts runs starts them there."""
    import boto3

    arn = boto3.client("stepfunctions", region_name="us-east-1").create_state_machine(
        name="training",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    monkeypatch.setenv("TRAINING_STATE_MACHINE_ARN", arn)
    return arn
