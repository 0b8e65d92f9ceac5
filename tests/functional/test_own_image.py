"""A model's own training image on moto: its job definition, the contract's inputs, the adoption of what it wrote."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from functional_helpers import load_module

from mlcore.catalog import ImageFile, PipelineInput, RunFile, ValidateRequest, ValidateResult, ValidateSettings, run_key
from mlcore.data import to_parquet, validate_dataset
from mlcore.errors import DataValidationError, ImageContractError, ParityError
from mlcore.images import CONTRACT_VARIABLE, ImageJobs
from mlcore.registry import Registry
from mlcore.spec import ModelSpec, parse_spec
from mlcore.storage import ObjectStore
from mlcore.training import adopt_candidate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "containers" / "byo-example" / "entrypoint.py"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byo-example@sha256:" + "a" * 64
SETTINGS = ValidateSettings(
    registry_table="t",
    data_bucket="d",
    datasets_database="datasets",
    artifacts_bucket="a",
    capture_bucket="c",
    image_job_prefix="mlops-training-image",
    image_job_role_arn="arn:aws:iam::123456789012:role/image-job",
    image_execution_role_arn="arn:aws:iam::123456789012:role/image-execution",
    image_log_group="image-logs",
    gpu_jobs=False,
)


def image_spec(churn_spec: ModelSpec, image: str = IMAGE) -> ModelSpec:
    raw = churn_spec.model_dump(mode="json", exclude_none=True)
    return parse_spec(
        {**raw, "estimator": {"kind": "own_image", "params": {"hidden_layer_sizes": [8]}}, "training": {"image": image}}
    )


@pytest.fixture
def images(aws: None) -> ImageJobs:
    return ImageJobs(boto3.client("batch", region_name="us-east-1"), SETTINGS)


@pytest.fixture
def validate(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec, churn_dataset: pa.Table,
    images: ImageJobs,
) -> Callable[[str], ValidateResult]:  # fmt: skip
    registry.put_spec(image_spec(churn_spec), actor="test")
    data.put("datasets/churn/a.parquet", to_parquet(churn_dataset))

    def run(run_id: str) -> ValidateResult:
        request = ValidateRequest(request=PipelineInput(model_name="churn"), run_id=run_id)
        return validate_dataset(
            request, registry=registry, data=data, artifacts=artifacts, capture=artifacts, images=images
        )

    return run


def run_example_image(environment: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The example image's entrypoint, as its container runs it (in this process, on moto)."""
    for variable in environment:
        monkeypatch.setenv(variable["Name"], variable["Value"])
    assert load_module("byo_example_entrypoint", EXAMPLE).main() == 0


@pytest.fixture
def image_trained(validate: Callable[[str], ValidateResult], monkeypatch: pytest.MonkeyPatch) -> None:
    """Run run-1 validated, and trained by the example image."""
    job = validate("run-1").job.image
    assert job is not None
    run_example_image(job.environment, monkeypatch)


def test_validate_registers_the_image_job_once_and_gives_it_the_contracts_inputs(
    validate: Callable[[str], ValidateResult], images: ImageJobs, artifacts: ObjectStore, registry: Registry,
    churn_spec: ModelSpec,
) -> None:  # fmt: skip
    # WHEN two runs of a model with its own image are validated
    first, second = validate("run-1").job.image, validate("run-2").job.image
    # THEN one job definition serves both: the image, its roles, the contract's version, Fargate
    assert first is not None and second is not None
    assert first.definition == second.definition
    [definition] = images.batch.describe_job_definitions(jobDefinitionName="mlops-training-image-churn")[
        "jobDefinitions"
    ]
    container = definition["containerProperties"]
    assert (container["image"], container["jobRoleArn"]) == (IMAGE, SETTINGS.image_job_role_arn)
    assert {"name": CONTRACT_VARIABLE, "value": "1"} in container["environment"]
    assert definition["platformCapabilities"] == ["FARGATE"]
    # and each run's job reads that run's split and spec, and writes its own output folder
    environment = {e["Name"]: e["Value"] for e in second.environment}
    assert environment["TRAIN_URI"] == artifacts.uri(run_key("churn", "run-2", RunFile.TRAIN))
    assert environment["OUTPUT_URI"] == artifacts.uri(run_key("churn", "run-2", RunFile.IMAGE_OUTPUT))
    written = json.loads(artifacts.get(run_key("churn", "run-2", RunFile.IMAGE_SPEC)))
    assert written["estimator"]["params"] == {"hidden_layer_sizes": [8]} and written["target"] == "churned"
    # WHEN the spec names another image THEN the next run gets a new revision of the definition
    registry.put_spec(image_spec(churn_spec, IMAGE.replace("a" * 64, "b" * 64)), actor="test")
    third = validate("run-3").job.image
    assert third is not None and third.definition != first.definition
    assert third.definition.endswith(":2")


def test_what_the_image_wrote_is_checked_and_scored_by_the_platform(
    image_trained: None, registry: Registry, artifacts: ObjectStore
) -> None:
    # GIVEN the example image trained the run (image_trained)
    # WHEN the training job adopts it
    result = adopt_candidate("churn", "run-1", registry=registry, artifacts=artifacts)
    # THEN the platform's own metrics, parity with the image's predictions, and the image recorded
    assert result.estimator == "own_image" and result.image == IMAGE
    assert result.parity_max_abs_diff < 1e-3
    assert set(result.metrics) >= {"accuracy", "roc_auc"} and result.classes == ["no", "yes"]
    assert result.params == {"hidden_layer_sizes": [8]}
    reported = json.loads(artifacts.get_verified(result.artifacts["image_metrics"]))
    assert set(reported) == {"accuracy"}
    # and the served model is the platform's copy, out of the image's reach
    assert result.artifacts["model"].uri.endswith("/runs/churn/run-1/model.onnx")


def _output(artifacts: ObjectStore, file: ImageFile) -> str:
    return run_key("churn", "run-1", RunFile.IMAGE_OUTPUT) + file


def _predictions(artifacts: ObjectStore) -> pa.Table:
    return pq.read_table(io.BytesIO(artifacts.get(_output(artifacts, ImageFile.PREDICTIONS))))


def _replace_predictions(artifacts: ObjectStore, table: pa.Table) -> None:
    artifacts.put(_output(artifacts, ImageFile.PREDICTIONS), to_parquet(table))


def _shift_probabilities(rows: int | None, by: float) -> Callable[[ObjectStore], None]:
    """Move the probabilities of the first `rows` rows (None: all) by `by`: the image's own model says otherwise."""

    def shift(artifacts: ObjectStore) -> None:
        table = _predictions(artifacts)
        moved = np.zeros(table.num_rows)
        moved[:rows] = by
        first, second = (table.column(i).to_numpy() for i in range(2))
        _replace_predictions(
            artifacts, pa.table({table.column_names[0]: first - moved, table.column_names[1]: second + moved})
        )

    return shift


def _delete(file: ImageFile) -> Callable[[ObjectStore], None]:
    return lambda artifacts: artifacts.client.delete_object(Bucket=artifacts.bucket, Key=_output(artifacts, file))


def _write(file: ImageFile, body: bytes) -> Callable[[ObjectStore], None]:
    return lambda artifacts: artifacts.put(_output(artifacts, file), body)


def _onnx_of_a_single_input(artifacts: ObjectStore) -> None:
    """A model that takes one input of all the features, not one per feature."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(np.random.default_rng(0).random((20, 3)), [0, 1] * 10)
    onnx = convert_sklearn(model, initial_types=[("features", FloatTensorType([None, 3]))])
    artifacts.put(_output(artifacts, ImageFile.MODEL), onnx.SerializeToString())


@pytest.mark.parametrize(
    ("breach", "error", "words"),
    [
        (_delete(ImageFile.MODEL), ImageContractError, "the image wrote no model.onnx under s3://"),
        (_delete(ImageFile.PREDICTIONS), ImageContractError, "the image wrote no predictions.parquet"),
        (_write(ImageFile.METRICS, b'{"accuracy": "high"}'), ImageContractError, "metrics.json must be an object"),
        (_write(ImageFile.METRICS, b"accuracy: 0.9"), ImageContractError, "metrics.json is not JSON"),
        (_write(ImageFile.MODEL, b"not onnx"), ImageContractError, "model.onnx cannot be loaded by onnxruntime"),
        (_onnx_of_a_single_input, ImageContractError, "model.onnx: inputs ['age', 'data_usage_gb'"),
        (
            lambda a: _replace_predictions(a, _predictions(a).slice(1)),
            ImageContractError,
            "predictions.parquet has 249 rows; the holdout has 250",
        ),
        (
            lambda a: _replace_predictions(a, _predictions(a).select([0])),
            ImageContractError,
            "a classifier's file has one probability column per class",
        ),
        # parity: 0.1 % of rows may differ by more than 1e-3 (of 250 rows: none); one row does here, then all
        (_shift_probabilities(1, 0.01), ParityError, "disagrees with its own predictions on 0.40% of holdout rows"),
        (_shift_probabilities(None, 0.0011), ParityError, "its own predictions on 100.00% of holdout rows"),
    ],
)
def test_an_image_that_breaks_the_contract_is_named_and_nothing_is_scored(  # noqa: PLR0917 (pytest fixtures)
    image_trained: None,
    registry: Registry,
    artifacts: ObjectStore,
    breach: Callable[[ObjectStore], None],
    error: type[Exception],
    words: str,
) -> None:
    breach(artifacts)
    with pytest.raises(error) as raised:
        adopt_candidate("churn", "run-1", registry=registry, artifacts=artifacts)
    assert words in str(raised.value)
    assert artifacts.list_objects(run_key("churn", "run-1", RunFile.CANDIDATE)) == []


def test_parity_passes_with_the_images_own_predictions_moved_within_tolerance(
    image_trained: None, registry: Registry, artifacts: ObjectStore
) -> None:
    _shift_probabilities(None, 0.0009)(artifacts)  # every row, just inside 1e-3
    result = adopt_candidate("churn", "run-1", registry=registry, artifacts=artifacts)
    assert 0.0008 < result.parity_max_abs_diff < 1e-3


@pytest.mark.parametrize(
    ("image", "where"),
    [
        (IMAGE.replace("123456789012", "210987654321"), "account 210987654321, region us-east-1"),
        (IMAGE.replace("us-east-1", "eu-west-1"), "account 123456789012, region eu-west-1"),
    ],
)
def test_an_image_outside_this_deployments_ecr_is_refused_at_validate(  # noqa: PLR0917 (pytest fixtures)
    validate: Callable[[str], ValidateResult],
    registry: Registry,
    churn_spec: ModelSpec,
    images: ImageJobs,
    image: str,
    where: str,
) -> None:
    registry.put_spec(image_spec(churn_spec, image), actor="test")
    with pytest.raises(DataValidationError, match=f"is in {where}; this deployment pulls from its own ECR only"):
        validate("run-1")
    assert images.batch.describe_job_definitions(jobDefinitionName="mlops-training-image-churn")["jobDefinitions"] == []
