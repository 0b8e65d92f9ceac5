"""Entrypoint of the AWS Batch jobs of the training image: trains one pipeline run of one model,
(`entrypoint.py adopt`) checks and scores what a model's own training image trained, or
(`entrypoint.py score`) scores one chunk of a batch; (`entrypoint.py lambda`) serves the image's Lambda
function, which scores the chunks small enough for Lambda.

The state machine passes MODEL_NAME and RUN_ID as container overrides (and, for one trial of a
hyperparameter search, TRIAL and TRIAL_PARAMS); the job definition sets the variables of
`TrainSettings`. Exits non-zero when training, export or the parity check fails, so the Batch job
and the pipeline fail with it; the error's name and message go to stderr and to
the run's `failure.json`, which the pipeline's failure report reads (Batch reports an exit code).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
import urllib.request
from collections.abc import Callable
from typing import Any

import boto3

from mlcore.batch import score_chunk, write_chunk_failure
from mlcore.catalog import ChunkResult, ScoreBatchSettings, TrainSettings
from mlcore.errors import MlopsError
from mlcore.registry import Registry
from mlcore.runs import write_job_failure
from mlcore.storage import ObjectStore
from mlcore.training import adopt_candidate, run_trial, train_candidate

DEADLINE_MARGIN_SECONDS = 30  # before the Lambda function's deadline: time to write why a chunk has no result


def image_version(code_version: str) -> str:
    """The image's digest, from the ECS task metadata Fargate gives every container; `local:<commit>` elsewhere."""
    endpoint = os.environ.get("ECS_CONTAINER_METADATA_URI_V4")
    if endpoint:
        try:
            with urllib.request.urlopen(endpoint, timeout=2) as response:
                container = json.loads(response.read())
            return f"{container['Image'].split(':')[0].split('@')[0]}@{container['ImageID']}"
        except (OSError, ValueError, KeyError) as exc:
            print(f"the image digest is unknown: {exc}", file=sys.stderr)
    return os.environ.get("IMAGE_URI") or f"local:{code_version}"


def score_one(plan_key: str, chunk: str) -> ChunkResult:
    """One chunk of a batch; a failure is written beside the plan, where the publish step looks, and raised."""
    settings, s3 = ScoreBatchSettings(), boto3.client("s3")
    data = ObjectStore(settings.data_bucket, s3)
    try:
        return score_chunk(
            plan_key,
            chunk,
            registry=Registry(settings.registry_table, boto3.client("dynamodb")),
            artifacts=ObjectStore(settings.artifacts_bucket, s3),
            data=data,
            batch_rows=settings.batch_rows,
        )
    except Exception as exc:
        write_chunk_failure(data, plan_key, chunk, exc)
        raise


def score() -> int:
    """A Batch job's chunk (PLAN_KEY, CHUNK)."""
    try:
        result = score_one(os.environ["PLAN_KEY"], os.environ["CHUNK"])
    except MlopsError as exc:  # Batch reports only an exit code: the reason is in the log and beside the plan
        print(json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}), file=sys.stderr)
        return 1
    print(result.model_dump_json())
    return 0


class RuntimeContext:
    """What the handler reads of Lambda's context: the time left before the invocation's deadline."""

    def __init__(self, deadline_ms: int) -> None:
        self.deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.deadline_ms - int(time.time() * 1000)


def _out_of_time(plan_key: str, chunk: str) -> None:
    """Beside the plan, why the chunk has no result: Lambda stops the function at its deadline without a word."""
    data = ObjectStore(ScoreBatchSettings().data_bucket, boto3.client("s3"))
    message = "the chunk did not finish in the Lambda function's time; a lower --lambda-mb scores it in Batch"
    write_chunk_failure(data, plan_key, chunk, TimeoutError(message))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A small chunk, in the image's Lambda function (`entrypoint.py lambda`): `{"plan_key", "chunk"}` in, its
    result out; a failure is the invocation's error, and the Map's. DEADLINE_MARGIN_SECONDS before the deadline,
    a chunk still scoring leaves its reason for the publish step (a result written later still counts)."""
    plan_key, chunk = event["plan_key"], event["chunk"]
    left = context.get_remaining_time_in_millis() / 1000 - DEADLINE_MARGIN_SECONDS
    timer = threading.Timer(max(left, 0), _out_of_time, (plan_key, chunk))
    timer.daemon = True
    timer.start()
    try:
        return score_one(plan_key, chunk).model_dump(mode="json")
    finally:
        timer.cancel()


def serve_lambda(handler: Callable[[dict[str, Any], Any], Any], *, invocations: int | None = None) -> int:
    """Lambda's Runtime API loop (the image is the platform's own, not an AWS base image with its runtime
    client): take the next event, run `handler` on it, post its result or its error; `invocations` ends the loop
    early (a test's)."""
    api = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"
    served = 0
    while invocations is None or served < invocations:
        with urllib.request.urlopen(f"{api}/invocation/next", timeout=None) as response:  # Lambda's Runtime API
            request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
            context = RuntimeContext(int(response.headers["Lambda-Runtime-Deadline-Ms"]))
            # X-Ray: the SDK's calls join this invocation's trace (never the previous one's)
            os.environ["_X_AMZN_TRACE_ID"] = response.headers.get("Lambda-Runtime-Trace-Id", "")
            event = json.loads(response.read())
        try:
            body, path, headers = json.dumps(handler(event, context)), f"invocation/{request_id}/response", {}
        except Exception as exc:  # the invocation's error, as Lambda reports a handler's
            traceback.print_exc()
            trace = traceback.format_exception(exc)[-5:]
            document = {"errorType": type(exc).__name__, "errorMessage": str(exc), "stackTrace": trace}
            body, path = json.dumps(document), f"invocation/{request_id}/error"
            headers = {"Lambda-Runtime-Function-Error-Type": f"Unhandled.{type(exc).__name__}"}
        posted = urllib.request.Request(f"{api}/{path}", data=body.encode(), headers=headers, method="POST")
        with urllib.request.urlopen(posted, timeout=30):
            served += 1
    return 0


def main(argv: list[str] | None = None) -> int:
    command = argv if argv is not None else sys.argv[1:]
    if command == ["score"]:
        return score()
    if command == ["lambda"]:
        return serve_lambda(lambda_handler)
    settings = TrainSettings()
    model_name, run_id = os.environ["MODEL_NAME"], os.environ["RUN_ID"]
    artifacts = ObjectStore(settings.artifacts_bucket, boto3.client("s3"))
    registry = Registry(settings.registry_table, boto3.client("dynamodb"))
    if os.environ.get("TRIAL"):  # one trial of a search: its result, failed or not, is in trials/<n>.json
        trial = run_trial(
            model_name,
            run_id,
            int(os.environ["TRIAL"]),
            json.loads(os.environ["TRIAL_PARAMS"]),
            registry=registry,
            artifacts=artifacts,
        )
        print(json.dumps(trial))
        return 0
    try:
        if command == ["adopt"]:  # after the model's own image: check what it wrote, and score it
            result = adopt_candidate(model_name, run_id, registry=registry, artifacts=artifacts)
        else:
            result = train_candidate(
                model_name, run_id, registry=registry, artifacts=artifacts, image=image_version(settings.code_version)
            )
    except Exception as exc:  # Batch reports only an exit code: say what failed where the pipeline looks
        print(json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}), file=sys.stderr)
        write_job_failure(artifacts, model_name, run_id, exc)
        if not isinstance(exc, MlopsError):
            raise
        return 1
    print(json.dumps({"model_name": model_name, "run_id": run_id, "metrics": result.metrics}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
