"""A failed step in words: the step, the error's type and message, never a stack trace; the report's location."""

from __future__ import annotations

import json

from mlcore.catalog import FailedStep, StepError
from mlcore.runs import describe_failure

MESSAGE = "dataset d.csv breaks the contract of 'titanic': categories(sex): 11 values outside ['female', 'male']"


def lambda_cause(error_type: str, message: str) -> str:
    return json.dumps({"errorType": error_type, "errorMessage": message, "stackTrace": ['  File "handler.py"']})


def failed(step: str, error: str, cause: str) -> FailedStep:
    return FailedStep(pipeline="training", step=step, error=StepError(Error=error, Cause=cause))


def test_a_lambda_error_is_its_type_and_message_without_the_stack_trace() -> None:
    report = describe_failure(failed("Validate", "DataValidationError", lambda_cause("DataValidationError", MESSAGE)))
    assert report.message == f"Validate failed: DataValidationError: {MESSAGE}"
    assert "stackTrace" not in report.message and "handler.py" not in report.message
    assert (report.step, report.error_type, report.error_message) == ("Validate", "DataValidationError", MESSAGE)


def test_a_cause_that_is_not_json_is_shown_as_it_is() -> None:
    report = describe_failure(failed("Evaluate", "States.Timeout", "Task timed out after 30.00 seconds"))
    assert report.message == "Evaluate failed: States.Timeout: Task timed out after 30.00 seconds"


def test_a_batch_job_that_died_says_why_batch_stopped_it() -> None:
    job = {"Status": "FAILED", "StatusReason": "Essential container in task exited", "Container": {"ExitCode": 137}}
    report = describe_failure(failed("Train", "States.TaskFailed", json.dumps(job)))
    assert report.message == "Train failed: States.TaskFailed: Essential container in task exited (exit code 137)"


def test_a_models_own_image_that_failed_points_at_its_log() -> None:
    container = {"ExitCode": 1, "LogStreamName": "churn/default/4f1c"}
    job = {"Status": "FAILED", "StatusReason": "Essential container in task exited", "Container": container}
    report = describe_failure(failed("TrainImage", "States.TaskFailed", json.dumps(job)))
    assert report.message == (
        "TrainImage failed: States.TaskFailed: Essential container in task exited (exit code 1); "
        "its log: stream churn/default/4f1c"
    )


def test_a_very_long_message_is_cut_for_the_alert() -> None:
    report = describe_failure(
        failed("Validate", "DataValidationError", lambda_cause("DataValidationError", "x" * 10_000))
    )
    assert len(report.message) == 2000
