"""A failed step in words: which step, the error's type and message, and where its report is.

Step Functions hands a Catch the error's name and a cause: for a Lambda function a JSON document
with `errorType` and `errorMessage` (and a stack trace nobody should be paged with), for a Batch
job the job's description, for an Athena query its execution's. The training job writes what it
failed with to the run's folder (`failure.json`), since Batch reports only that the container exited.
"""

from __future__ import annotations

import json
from typing import Any

from mlcore.catalog import FailedStep, FailureReport, RunFile, run_key
from mlcore.errors import NotFoundError
from mlcore.storage import ObjectStore

TRAIN_STEP = "Train"
VALIDATE_STEP = "Validate"
MAX_MESSAGE = 2000  # an SNS subject has 100 characters, a message 256 KB: keep alerts readable


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _batch_reason(job: dict[str, Any]) -> str:
    """Why a Batch job stopped, from its description (as the Catch of `submitJob.sync` gets it)."""
    container = job.get("Container") or job.get("container") or {}
    reasons = [job.get("StatusReason") or job.get("statusReason"), container.get("Reason") or container.get("reason")]
    code = container.get("ExitCode", container.get("exitCode"))
    stream = container.get("LogStreamName") or container.get("logStreamName")
    text = "; ".join(reason for reason in reasons if reason)
    if code is None and not stream:
        return text
    text = text or "the job failed"
    text = f"{text} (exit code {code})" if code is not None else text
    return f"{text}; its log: stream {stream}" if stream else text


def _query_reason(description: dict[str, Any]) -> str:
    """Why an Athena query failed, from its description (as the Catch of `startQueryExecution.sync` gets it)."""
    query = description["QueryExecution"]
    status = query.get("Status", {})
    reason = status.get("StateChangeReason") or "no reason given"
    return f"the query {query.get('QueryExecutionId', '')} {status.get('State', 'FAILED')}: {reason}"


def describe_failure(failed: FailedStep, artifacts: ObjectStore | None = None) -> FailureReport:
    """Put a failed step in words; the training job's own `failure.json` wins over what Batch reports."""
    error_type, message = failed.error.error, failed.error.cause
    cause = _json(failed.error.cause)
    if isinstance(cause, dict) and "errorMessage" in cause:  # a Lambda function raised
        error_type, message = cause.get("errorType", error_type), str(cause["errorMessage"])
    elif isinstance(cause, dict) and isinstance(cause.get("QueryExecution"), dict):  # an Athena query's
        message = _query_reason(cause)
    elif isinstance(cause, dict):  # a Batch job's description
        message = _batch_reason(cause) or message
    report_uri = None
    if artifacts is not None and failed.model_name and failed.run_id:
        if failed.step == TRAIN_STEP:
            try:
                written = json.loads(artifacts.get(run_key(failed.model_name, failed.run_id, RunFile.FAILURE)))
                error_type, message = written["error_type"], written["message"]
            except NotFoundError:
                pass  # the job died before it could say why: Batch's reason is all there is
        if failed.step == VALIDATE_STEP:
            key = run_key(failed.model_name, failed.run_id, RunFile.VALIDATION_HTML)
            report_uri = artifacts.uri(key) if artifacts.list_keys(key) else None
    words = f"{failed.step} failed: {error_type}: {message}".strip()[:MAX_MESSAGE]
    if report_uri:
        words += (
            f"\nValidation report: {report_uri}"
            f"\nDownload it with: mlops pipeline report {failed.model_name} {failed.run_id}"
        )
    return FailureReport(
        step=failed.step,
        error_type=error_type,
        error_message=message,
        report_uri=report_uri,
        message=words,
        model_name=failed.model_name,
    )


def report_failure(failed: FailedStep, *, artifacts: ObjectStore) -> FailureReport:
    """The report_failure step: a failed step in words, for the alert and the execution's cause."""
    return describe_failure(failed, artifacts)


def write_job_failure(artifacts: ObjectStore, model_name: str, run_id: str, error: BaseException) -> None:
    """What the training job failed with, where `describe_failure` looks for it."""
    message = getattr(error, "message", None) or str(error)
    document = {"error_type": type(error).__name__, "message": message}
    artifacts.put(run_key(model_name, run_id, RunFile.FAILURE), json.dumps(document).encode(), "application/json")
