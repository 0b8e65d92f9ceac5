"""A model's own training image (`training.image`): the job that runs it, and what it is given.

The image contract (README, "Your own training image"): the job's environment names the inputs
(TRAIN_URI, HOLDOUT_URI, SPEC_URI) and OUTPUT_URI, under which the image writes `model.onnx`,
`predictions.parquet` and `metrics.json` (`catalog.ImageFile`). The image may read the run's
files and write its output folder, nothing else: it has no access to the registry. The training
job then checks what it wrote and scores it (`training.adopt_candidate`).

Batch fixes a job's image in its job definition, so the validate step registers one per model
(`<prefix>-<model>`), a new revision only when the image or its roles change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlcore.catalog import ImageJob, RunFile, ValidateSettings, run_key
from mlcore.errors import DataValidationError
from mlcore.spec import ModelSpec
from mlcore.storage import ObjectStore

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient

CONTRACT = "1"  # MLOPS_IMAGE_CONTRACT: the version of the contract an image is run under
CONTRACT_VARIABLE = "MLOPS_IMAGE_CONTRACT"
FINGERPRINT = "mlops_definition_sha256"  # a job definition parameter: what the definition was made from
TIMEOUT_HOURS = 24


def image_job_name(settings: ValidateSettings, model_name: str) -> str:
    return f"{settings.image_job_prefix}-{model_name}"


def _container(settings: ValidateSettings, spec: ModelSpec) -> dict[str, Any]:
    """The job's container: the image, its roles, Fargate's default size (each run sets its own), the logs."""
    assert spec.training.image is not None
    return {
        "image": spec.training.image,
        "jobRoleArn": settings.image_job_role_arn,
        "executionRoleArn": settings.image_execution_role_arn,
        "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
        "environment": [{"name": CONTRACT_VARIABLE, "value": CONTRACT}],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": settings.image_log_group, "awslogs-stream-prefix": spec.name},
        },
        "networkConfiguration": {"assignPublicIp": "DISABLED"},
        "runtimePlatform": {"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"},
    }


@dataclass(frozen=True)
class ImageJobs:
    """Registers the models' image job definitions (with validate's settings) and plans their runs' jobs."""

    batch: BatchClient
    settings: ValidateSettings

    def definition(self, spec: ModelSpec) -> str:
        """The model's job definition: its active revision, or a new one when what it is made of changed."""
        name = image_job_name(self.settings, spec.name)
        container = _container(self.settings, spec)
        fingerprint = hashlib.sha256(json.dumps(container, sort_keys=True).encode()).hexdigest()
        found = self.batch.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")["jobDefinitions"]
        current = max(found, key=lambda definition: definition["revision"], default=None)
        if current is not None and current.get("parameters", {}).get(FINGERPRINT) == fingerprint:
            return current["jobDefinitionArn"]
        registered = self.batch.register_job_definition(
            jobDefinitionName=name,
            type="container",
            platformCapabilities=["FARGATE"],
            containerProperties=container,  # type: ignore[arg-type]
            parameters={FINGERPRINT: fingerprint},
            retryStrategy={"attempts": 1},
            timeout={"attemptDurationSeconds": TIMEOUT_HOURS * 3600},
            propagateTags=True,
        )
        return registered["jobDefinitionArn"]

    def _check_registry(self, image: str) -> None:
        """The image must be in this account's ECR, in this region: the only one the jobs can pull from.

        Raises
        ------
        DataValidationError
            Naming the image's account and region, and the deployment's.
        """
        account, _, _, region = image.split(".", 4)[:4]
        ours = self.settings.image_job_role_arn.split(":")[4]
        here = self.batch.meta.region_name
        if (account, region) != (ours, here):
            raise DataValidationError(
                f"training.image: {image} is in account {account}, region {region}; this deployment pulls from its "
                f"own ECR only (account {ours}, region {here})",
                field="training.image",
            )

    def job(self, spec: ModelSpec, run_id: str, artifacts: ObjectStore) -> ImageJob:
        """The run's job of the model's image: its definition, and the contract's inputs (the spec written for it).

        Raises
        ------
        DataValidationError
            For an image outside this deployment's ECR.
        """
        assert spec.training.image is not None
        self._check_registry(spec.training.image)
        name = spec.name
        spec_key = run_key(name, run_id, RunFile.IMAGE_SPEC)
        artifacts.put(spec_key, spec.model_dump_json(indent=2).encode(), "application/json")
        environment = {
            "MODEL_NAME": name,
            "RUN_ID": run_id,
            "TRAIN_URI": artifacts.uri(run_key(name, run_id, RunFile.TRAIN)),
            "HOLDOUT_URI": artifacts.uri(run_key(name, run_id, RunFile.HOLDOUT)),
            "SPEC_URI": artifacts.uri(spec_key),
            "OUTPUT_URI": artifacts.uri(run_key(name, run_id, RunFile.IMAGE_OUTPUT)),
        }
        return ImageJob(
            definition=self.definition(spec),
            environment=[{"Name": key, "Value": value} for key, value in environment.items()],
        )
