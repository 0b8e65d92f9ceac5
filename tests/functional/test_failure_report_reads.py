"""The failure report reads what the training job left, and points at the validation report when there is one."""

from __future__ import annotations

import json

from mlcore.catalog import FailedStep, RunFile, StepError, run_key
from mlcore.errors import ParityError
from mlcore.runs import describe_failure, write_job_failure
from mlcore.storage import ObjectStore

JOB = json.dumps(
    {"Status": "FAILED", "StatusReason": "Essential container in task exited", "Container": {"ExitCode": 1}}
)


def step(name: str, error: str, cause: str) -> FailedStep:
    return FailedStep(
        pipeline="training", step=name, model_name="churn", run_id="r1", error=StepError(Error=error, Cause=cause)
    )


def test_the_training_jobs_own_words_win_over_batchs(artifacts: ObjectStore) -> None:
    error = ParityError("ONNX export of 'random_forest_classifier' disagrees with scikit-learn on 2.00% of rows")
    write_job_failure(artifacts, "churn", "r1", error)
    report = describe_failure(step("Train", "States.TaskFailed", JOB), artifacts)
    assert report.message == f"Train failed: ParityError: {error.message}"


def test_without_the_jobs_words_batchs_reason_is_given(artifacts: ObjectStore) -> None:
    report = describe_failure(step("Train", "States.TaskFailed", JOB), artifacts)
    assert report.message == "Train failed: States.TaskFailed: Essential container in task exited (exit code 1)"


def test_a_failed_validation_points_at_its_report_and_the_command_that_downloads_it(artifacts: ObjectStore) -> None:
    artifacts.put(run_key("churn", "r1", RunFile.VALIDATION_HTML), b"<html></html>")
    cause = json.dumps({"errorType": "DataValidationError", "errorMessage": "categories(plan): 3 values outside [a]"})
    report = describe_failure(step("Validate", "DataValidationError", cause), artifacts)
    uri = f"s3://{artifacts.bucket}/runs/churn/r1/validation.html"
    assert report.report_uri == uri
    assert report.message.splitlines() == [
        "Validate failed: DataValidationError: categories(plan): 3 values outside [a]",
        f"Validation report: {uri}",
        "Download it with: mlops pipeline report churn r1",
    ]


def test_no_report_is_promised_when_validation_never_wrote_one(artifacts: ObjectStore) -> None:
    cause = json.dumps({"errorType": "NotFoundError", "errorMessage": "no dataset under s3://b/datasets/churn/"})
    report = describe_failure(step("Validate", "NotFoundError", cause), artifacts)
    assert report.report_uri is None
    assert report.message == "Validate failed: NotFoundError: no dataset under s3://b/datasets/churn/"
