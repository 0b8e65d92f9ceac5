"""The training image as the scoring Lambda function: its Runtime API loop, and a chunk scored through its handler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from functional_helpers import load_module

from infra.local.example_data import churn_table
from mlcore.batch import failure_file, plan_batch, work_file
from mlcore.catalog import BatchRequest, ChunkResult, PlanBatchRequest
from mlcore.data import to_parquet
from mlcore.errors import ArtifactIntegrityError, DataValidationError
from mlcore.registry import Registry
from mlcore.storage import ObjectStore

ENTRYPOINT = Path(__file__).resolve().parents[2] / "containers" / "training" / "entrypoint.py"
FEATURES = ["tenure_months", "monthly_charges", "support_calls", "age", "data_usage_gb", "plan", "region"]


@pytest.fixture(scope="module")
def entrypoint() -> ModuleType:
    """The image's entrypoint module, as the container imports it."""
    return load_module("scoring_function_entrypoint", ENTRYPOINT)


class RuntimeApi:
    """Lambda's Runtime API, as the service gives it to a container: events out, results and errors in."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = list(events)
        self.posted: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                assert self.path == "/2018-06-01/runtime/invocation/next"
                if not api.events:  # no more: the container's loop ends on the error (a test's way to stop it)
                    self.send_error(500, "no more events")
                    return
                number = len(events) - len(api.events) + 1
                body = json.dumps(api.events.pop(0)).encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", f"request-{number}")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
                if number == 1:  # the second invocation is not sampled: no trace header
                    self.send_header("Lambda-Runtime-Trace-Id", f"Root=1-trace-{number}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.posted.append((self.path, dict(self.headers), body))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"


def test_the_runtime_loop_posts_each_result_and_each_error_as_lambda_expects(
    entrypoint: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the Runtime API with two events, the second of which the handler refuses
    api = RuntimeApi([{"chunk": "00000"}, {"chunk": "00001"}])
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", api.address)
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "")
    traces, remaining = [], []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        traces.append(os.environ["_X_AMZN_TRACE_ID"])
        remaining.append(context.get_remaining_time_in_millis())
        if event["chunk"] == "00001":
            raise DataValidationError("b.csv: could not read the file")
        return {"chunk": event["chunk"], "scored": 3}

    try:
        # WHEN the image serves them
        assert entrypoint.serve_lambda(handler, invocations=2) == 0
    finally:
        api.server.shutdown()
    # THEN the first result went back as the first invocation's response
    (ok_path, _, ok_body), (error_path, error_headers, error_body) = api.posted
    assert ok_path == "/2018-06-01/runtime/invocation/request-1/response"
    assert ok_body == {"chunk": "00000", "scored": 3}
    # and the refusal as the second's error, with its type and message (the Map's error name and cause)
    assert error_path == "/2018-06-01/runtime/invocation/request-2/error"
    assert error_body["errorType"] == "DataValidationError"
    assert error_body["errorMessage"] == "b.csv: could not read the file"
    assert error_headers["Lambda-Runtime-Function-Error-Type"] == "Unhandled.DataValidationError"
    assert "DataValidationError: b.csv: could not read the file" in "".join(error_body["stackTrace"])
    # and each invocation ran in its own X-Ray trace, or in none: never in the previous one's
    assert traces == ["Root=1-trace-1", ""]
    # and each knew the time left before its deadline (a minute, less the time since the event was given)
    assert all(50_000 < left <= 60_000 for left in remaining)


def test_the_images_lambda_command_serves_the_scoring_handler(tmp_path: Path) -> None:
    # GIVEN the Runtime API with an event that names no chunk
    api = RuntimeApi([{"chunk": "00000"}])
    environment = {**os.environ, "AWS_LAMBDA_RUNTIME_API": api.address, "HOME": str(tmp_path)}
    try:
        # WHEN the image's entrypoint runs as the function's container does: its command `lambda`
        done = subprocess.run(
            [sys.executable, str(ENTRYPOINT), "lambda"], env=environment, capture_output=True, timeout=120, check=False
        )
    finally:
        api.server.shutdown()
    # THEN the scoring handler answered the invocation (its error: the event has no plan_key), and the loop went
    # on to ask for the next event
    [(path, _, body)] = api.posted
    assert path == "/2018-06-01/runtime/invocation/request-1/error", done.stderr.decode()
    assert (body["errorType"], body["errorMessage"]) == ("KeyError", "'plan_key'")
    assert b"no more events" in done.stderr


def minutes_left(entrypoint: ModuleType, minutes: float) -> Any:
    """Lambda's context for an invocation with `minutes` left before its deadline."""
    return entrypoint.RuntimeContext(int(time.time() * 1000 + minutes * 60_000))


@pytest.fixture
def planned(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_champion: Any, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """GIVEN a batch of one small file, planned for the Lambda function, whose settings the environment gives."""
    settings = {"REGISTRY_TABLE": registry.table, "ARTIFACTS_BUCKET": artifacts.bucket, "DATA_BUCKET": data.bucket}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    data.put("in/a.parquet", to_parquet(churn_table(30, seed=4).select(FEATURES)))
    request = BatchRequest(model_name="churn", input=data.uri("in/"), output=data.uri("out/"))
    plan = plan_batch(PlanBatchRequest(request=request, batch_id="b-1"), registry=registry, data=data)
    assert plan.lambda_chunks == 1
    return plan


def test_the_function_scores_its_chunk_and_returns_the_jobs_result(
    entrypoint: ModuleType, planned: Any, data: ObjectStore
) -> None:
    # WHEN the Lambda function is invoked with the Map's item
    result = entrypoint.lambda_handler({"plan_key": planned.plan_key, "chunk": "00000"}, minutes_left(entrypoint, 15))
    # THEN it scored the chunk as a Batch job would, and its result is where the publish step reads it
    assert ChunkResult.model_validate(result).scored == 30
    assert data.list_keys("out/predictions/")
    assert not data.list_keys(work_file(planned.plan_key, "failures/"))  # in time: no reason was left


def test_a_failing_chunk_fails_the_invocation_and_leaves_its_reason_for_the_publish_step(
    entrypoint: ModuleType, planned: Any, registry: Registry, artifacts: ObjectStore, data: ObjectStore
) -> None:
    # GIVEN the champion's model file overwritten after the plan
    model = registry.get_version("churn", 1).artifacts["model"]
    artifacts.put(model.uri.split("/", 3)[3], b"not the model")
    # WHEN the function scores the chunk THEN the invocation fails with the integrity error, and nothing is scored
    with pytest.raises(ArtifactIntegrityError):
        entrypoint.lambda_handler({"plan_key": planned.plan_key, "chunk": "00000"}, minutes_left(entrypoint, 15))
    assert not data.list_keys("out/predictions/")
    failure = json.loads(data.get(work_file(planned.plan_key, failure_file("00000"))))
    assert failure["error_type"] == "ArtifactIntegrityError"


def test_a_chunk_still_scoring_near_the_deadline_leaves_its_reason_for_the_publish_step(
    entrypoint: ModuleType, planned: Any, data: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an invocation with 0.3 s left before the margin Lambda's deadline keeps, and a chunk that takes longer
    real = entrypoint.score_one

    def slow(plan_key: str, chunk: str) -> Any:
        time.sleep(1.0)
        return real(plan_key, chunk)

    monkeypatch.setattr(entrypoint, "score_one", slow)
    context = entrypoint.RuntimeContext(int(time.time() * 1000) + entrypoint.DEADLINE_MARGIN_SECONDS * 1000 + 300)
    # WHEN the function scores it
    entrypoint.lambda_handler({"plan_key": planned.plan_key, "chunk": "00000"}, context)
    # THEN, before the deadline, it wrote why the chunk may have no result (Lambda would stop it without a word)
    failure = json.loads(data.get(work_file(planned.plan_key, failure_file("00000"))))
    assert failure["error_type"] == "TimeoutError"
    assert "did not finish in the Lambda function's time; a lower --lambda-mb scores it in Batch" in failure["message"]
