"""Every hook the local target puts into moto, in one place.

- Lambda invocations (`LambdaSimpleBackend.invoke`) run the function's real handler in-process;
  an exception becomes `x-amz-function-error` with `{"errorType": ...}` so ASL Retry/Catch see it.
- Batch jobs (`BatchSimpleBackend._mark_job_as_finished`) run the training image's entrypoint with
  the job definition's command (none trains, `adopt` adopts what a model's own image trained, `score`
  scores a batch's chunk), or a model's own image's `entrypoint.py` (its folder, `runner.local_image_folder`)
  when the job definition is one of the image contract's, and describe the size
  they ran at (`Job._container_details`: the overrides' `resourceRequirements`, which moto keeps but
  leaves out of the description).
- moto's Step Functions engine passes ASL's PascalCase parameters to boto unconverted for Batch and
  SNS (`_normalise_parameters` is a no-op in 5.2.5), and returns boto's camelCase Batch responses:
  both are normalised here with botocore's service model, as AWS does.
- EventBridge rules (`Rule.send_to_targets`) deliver to Step Functions targets with the target's
  input (`infra.local.events`), S3's events with an id of their own.
- DynamoDB applies a conditional write atomically; moto checks the condition and writes in two steps that
  another thread can come between (two claims of one model both succeed): one lock around moto's writes
  (`DynamoDBBackend`'s) makes them atomic (`atomic_dynamodb_writes`, which the moto tests use too).
- DynamoDB streams (`LambdaFunction.invoke`, which moto calls with a batch of a table's stream records
  for each event source mapping, in the writer's request) reach the real handler from a worker thread,
  after the write, as Lambda's stream poller does.
- API Gateway's IAM authorization of a route (`iam_principal`): the request's SigV4 signature checked
  with the secret of an access key of the embedded IAM, and the key's user's policies evaluated for
  `execute-api:Invoke` on the route's ARN, with moto's own `IAMRequest`. A key the embedded IAM does
  not know is the account's default identity, as the embedded AWS treats it everywhere else.
- Step Functions' Athena integration (`athena:startQueryExecution.sync`, which moto's engine lacks): the
  query runs in `infra.local.athena` (DuckDB over the embedded Glue and S3); a FAILED query fails the
  state with `States.TaskFailed` and the execution's description as the cause, as AWS does.
- The engine runs state machines, and Lambda and Batch run without Docker.

`CALLS` counts each hook's use; the tests prove every hook ran.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import queue
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import botocore.session
from moto.awslambda.models import LambdaFunction
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.batch.models import Job
from moto.batch_simple.models import BatchSimpleBackend
from moto.core.config import default_user_config
from moto.dynamodb.models import DynamoDBBackend
from moto.events.models import Rule
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import StateTaskService
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch import (
    StateTaskServiceBatch,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns import (
    StateTaskServiceSns,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

from infra.local.athena import run_query
from infra.local.events import Delivery, as_sent_by_aws
from infra.local.runner import FunctionRunner, TrainingJobRunner

log = logging.getLogger(__name__)
CALLS: Counter[str] = Counter()
MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
    "batch": {"use_docker": False},
}
_botocore = botocore.session.get_session()
_installed: dict[str, Any] = {}
_config_before: dict[str, dict[str, Any]] = {}  # moto's settings that install changed, as they were


def _operation(service: str, action: str) -> Any:
    model = _botocore.get_service_model(service)
    return model.operation_model(
        model.operation_names[[n.lower() for n in model.operation_names].index(action.replace("_", ""))]
    )


def _normalise_parameters(
    self: StateTaskService,
    parameters: dict,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    CALLS["normalise_parameters"] += 1
    operation = _operation(
        self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name)
    )
    if operation.input_shape is not None:
        self._to_boto_request(parameters, operation.input_shape)


def _normalise_response(
    self: StateTaskService, response: Any, boto_service_name: str | None = None, service_action_name: str | None = None
) -> None:
    CALLS["normalise_response"] += 1
    operation = _operation(
        self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name)
    )
    if operation.output_shape is not None:
        self._from_boto_response(response, operation.output_shape)


def _container_details(self: Job) -> dict[str, Any]:
    """moto's description of a container job, with the size it ran at (as AWS describes it)."""
    CALLS["batch_job_size"] += 1
    details: dict[str, Any] = _installed["Job._container_details"][2](self)  # moto's own
    assert self.job_definition.container_properties is not None  # container jobs only
    details["resourceRequirements"] = self.container_overrides.get(
        "resourceRequirements", self.job_definition.container_properties.get("resourceRequirements", [])
    )
    return details


class StreamPoller:
    """Runs the stream batches handed over by moto, in order, on a thread of its own.

    Not in the writer's request: the writer may itself be a function, running under the local target's
    environment lock until its write answers. A batch whose handler fails is retried (Lambda retries a stream
    batch until it succeeds or expires), at most `ATTEMPTS` times here, then logged and dropped.
    """

    ATTEMPTS = 3

    def __init__(self, functions: FunctionRunner) -> None:
        self.functions = functions
        self.batches: queue.Queue[tuple[str, str]] = queue.Queue()
        self.delivered = 0
        threading.Thread(target=self._run, name="stream-poller", daemon=True).start()

    def put(self, function_name: str, body: str) -> None:
        self.batches.put((function_name, body))

    def _run(self) -> None:
        while True:
            function_name, body = self.batches.get()
            for _ in range(self.ATTEMPTS):
                _, failed = self.functions.invoke_json(function_name, body)
                if not failed:
                    self.delivered += 1
                    break
            else:
                log.error("a stream batch failed %d times in %s; dropped", self.ATTEMPTS, function_name)
            self.batches.task_done()


DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_dynamodb_lock = threading.RLock()


def _locked(write: Any) -> Any:
    @functools.wraps(write)
    def atomic(*args: Any, **kwargs: Any) -> Any:
        with _dynamodb_lock:
            return write(*args, **kwargs)

    atomic.__wrapped_write__ = write  # type: ignore[attr-defined]
    return atomic


@contextlib.contextmanager
def atomic_dynamodb_writes() -> Iterator[None]:
    """moto's DynamoDB writes made atomic, as DynamoDB's are, for as long as the context lasts."""
    saved = {name: DynamoDBBackend.__dict__[name] for name in DYNAMODB_WRITES}
    for name, write in saved.items():
        if not hasattr(write, "__wrapped_write__"):
            setattr(DynamoDBBackend, name, _locked(write))
    try:
        yield
    finally:
        for name, write in saved.items():
            setattr(DynamoDBBackend, name, write)


def _original(owner: Any, name: str) -> Any:
    """moto's own `owner.name`, even when `install` patched it before (install is idempotent)."""
    saved = _installed.get(f"{owner.__name__}.{name}")
    return saved[2] if saved else getattr(owner, name)


def _atomic_writes() -> dict[tuple[type, str], Any]:
    """The lock around each of moto's DynamoDB writes (its own write, even when installed before)."""
    return {(DynamoDBBackend, name): _locked(_original(DynamoDBBackend, name)) for name in DYNAMODB_WRITES}


def _stream_hook(streams: StreamPoller) -> Any:
    def stream_batch(self: LambdaFunction, body: str, request_headers: Any, response_headers: Any) -> bytes:
        CALLS["stream_batch"] += 1
        streams.put(self.function_name, body)
        return b"{}"  # taken: moto drops the records it handed over

    return stream_batch


def iam_principal(
    *, method: str, path: str, headers: dict[str, str], body: bytes, resource: str, account: str
) -> tuple[str | None, str | None]:
    """`(principal ARN, None)` when API Gateway's IAM authorization lets the request invoke `resource` (an
    execute-api ARN), else `(None, the gateway response type API Gateway answers with)`."""
    from moto.core.exceptions import InvalidClientTokenIdError
    from moto.iam.access_control import IAMRequest

    CALLS["iam_authorization"] += 1
    # moto reads `Authorization`, `X-Amz-Date` and `X-Amz-Security-Token` by these spellings
    signed = {"-".join(part.capitalize() for part in name.split("-")): value for name, value in headers.items()}
    authorization = signed.get("Authorization", "")
    if not authorization.startswith("AWS4-HMAC-SHA256 ") or "Credential=" not in authorization:
        return None, "MISSING_AUTHENTICATION_TOKEN"
    try:
        request = IAMRequest(
            account_id=account, method=method, path=path, data={}, body=body, headers=signed, action="Invoke"
        )
    except InvalidClientTokenIdError:
        return _unknown_key(authorization, account)
    except (KeyError, IndexError, ValueError):  # a malformed Authorization header
        return None, "INVALID_SIGNATURE"
    return _allowed(request, resource)


def _unknown_key(authorization: str, account: str) -> tuple[str | None, str | None]:
    """A key the embedded IAM does not know is its default identity (as `sts get-caller-identity` says); a user's
    key with a session token it was never issued is refused."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    scope = authorization.split("Credential=", 1)[1].split(",", maxsplit=1)[0].split("/")
    if iam_backends[account]["aws"].get_user_from_access_key_id(scope[0]) is not None:
        return None, "INVALID_SIGNATURE"
    return sts_backends[account]["aws"].get_caller_identity(scope[0], scope[2])[1], None


def _allowed(request: Any, resource: str) -> tuple[str | None, str | None]:
    """The signature checked with the key's secret, then the key's user's policies for execute-api:Invoke."""
    from moto.core.exceptions import AccessDeniedError, SignatureDoesNotMatchError

    try:
        request.check_signature()
    except (SignatureDoesNotMatchError, KeyError):
        return None, "INVALID_SIGNATURE"
    try:
        request.check_action_permitted(resource)
    except AccessDeniedError:
        return None, "ACCESS_DENIED"
    return str(request._access_key.arn), None


class AthenaQueryTask(StateTaskService):
    """`arn:aws:states:::athena:startQueryExecution[.sync]`: the query runs to its end here (`run_query`)."""

    def _get_supported_parameters(self) -> set[str]:
        return {"QueryString", "WorkGroup", "QueryExecutionContext", "ResultConfiguration", "ClientRequestToken"}

    def _eval_service_task(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
    ) -> None:
        CALLS["athena_query"] += 1
        database = normalised_parameters.get("QueryExecutionContext", {}).get("Database", "default")
        run = run_query(
            normalised_parameters["QueryString"],
            database,
            normalised_parameters.get("WorkGroup", "primary"),
            lambda service: boto_client_for(resource_runtime_part.region, service, state_credentials),
        )
        description = run.describe()
        if run.state == "SUCCEEDED":
            env.stack.append(description)
            return
        failed = StatesErrorNameType.StatesTaskFailed.to_name()
        raise FailureEventException(
            FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(  # type: ignore[typeddict-item]  # moto's TypedDict is total
                    taskFailedEventDetails=TaskFailedEventDetails(
                        resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type(),
                        error=failed,
                        cause=json.dumps(description),
                    )
                ),
            )
        )


def _with_athena(original: Any) -> Any:
    def state_task_service_for(service_name: str) -> StateTaskService:
        return AthenaQueryTask() if service_name == "athena" else original(service_name=service_name)

    return state_task_service_for


def install(functions: FunctionRunner, training: TrainingJobRunner, delivery: Delivery) -> None:
    """Point moto at the real code. Idempotent; `uninstall` restores moto."""
    for service, settings in MOTO_CONFIG.items():
        section: dict[str, Any] = default_user_config.setdefault(service, {})  # type: ignore[misc]
        _config_before.setdefault(service, dict(section))  # the first install's: what uninstall puts back
        section.update(settings)

    def invoke(  # noqa: PLR0917 - moto's signature
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        CALLS["lambda_invoke"] += 1
        payload, failed = functions.invoke_json(function_name, body)
        if failed:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    def finish_job(self: BatchSimpleBackend, include_start_attempt: bool, job: Any) -> None:
        CALLS["batch_job"] += 1
        self.backend._jobs[job.job_id] = job
        job.job_started_at = datetime.now()
        job.log_stream_name = job._stream_name
        if include_start_attempt:
            job._start_attempt()
        environment = {e["name"]: e["value"] for e in job._get_container_property("environment", [])}
        image, command = job._get_container_property("image", ""), job._get_container_property("command", [])
        job._mark_stopped(success=training.run_job(image, environment, command))

    original_send = _original(Rule, "send_to_targets")

    def send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
        CALLS["event_rule"] += 1
        event: Any = as_sent_by_aws(original_event) if original_event.get("source") == "aws.s3" else original_event
        # A scheduled rule fires on its schedule only (the local scheduler), never on an event.
        if not self.scheduled_expression and self.event_pattern.matches_event(event):
            delivery.deliver(self.targets, event)
        # moto's own targets (queues, log groups, buses); it fails on a Step Functions one
        if any(":states:" not in target["Arn"] for target in self.targets):
            original_send(self, event, transform_input)

    patches: dict[tuple[Any, str], Any] = {
        (state_task_factory, "state_task_service_for"): _with_athena(
            _original(state_task_factory, "state_task_service_for")
        ),
        (Rule, "send_to_targets"): send_to_targets,
        (LambdaFunction, "invoke"): _stream_hook(StreamPoller(functions)),
        (LambdaSimpleBackend, "invoke"): invoke,
        (BatchSimpleBackend, "_mark_job_as_finished"): finish_job,
        (Job, "_container_details"): _container_details,
        (StateTaskServiceBatch, "_normalise_parameters"): _normalise_parameters,
        (StateTaskServiceBatch, "_normalise_response"): _normalise_response,
        (StateTaskServiceSns, "_normalise_parameters"): _normalise_parameters,
    }
    patches.update(_atomic_writes())
    for (cls, name), replacement in patches.items():
        key = f"{cls.__name__}.{name}"
        _installed.setdefault(key, (cls, name, cls.__dict__.get(name)))
        setattr(cls, name, replacement)


def uninstall() -> None:
    for cls, name, original in _installed.values():
        if original is None:
            delattr(cls, name)
        else:
            setattr(cls, name, original)
    _installed.clear()
    for service, section in _config_before.items():  # moto as it was: not executing state machines, say
        default_user_config[service] = section  # type: ignore[literal-required]
    _config_before.clear()
