"""Governance: approve, reject and archive versions, move and roll back aliases, read the audit trail.

Every route is IAM-authorised by API Gateway (`catalog.GOVERNANCE_ROUTES`); the actor is the principal
ARN it authenticated, from the request context, never from the body.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from mlcore.catalog import GOVERN, GovernSettings, PipelineInput
from mlcore.errors import DependencyError, VersionRejectedError
from mlcore.governance import OPERATIONS, Governance
from mlcore.routing import Call, answer, path_parameters, router
from mlruntime import client, logger, publish_alert, registry

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

ROUTES = router(GOVERN, OPERATIONS)


@functools.cache
def settings() -> GovernSettings:
    return GovernSettings()


@functools.cache
def governance() -> Governance:
    config = settings()

    def alert(subject: str, message: str, model: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            publish_alert(config.alerts_topic_arn, subject, message, model)
        except (BotoCoreError, ClientError):
            # The change is made and its registry event on its way to EventBridge: say the alert failed, in the
            # logs (an error alarm), rather than answer a 503 that would have the caller retry a done change.
            logger.exception("the alert was not published", extra={"subject": subject, "alert": message})

    def complete(token: str, approved: bool, decided: dict[str, Any]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        sfn = client("stepfunctions")
        try:
            if approved:
                sfn.send_task_success(taskToken=token, output=json.dumps(decided))
            else:
                cause = f"rejected by {decided['actor']}: {decided['reason'] or 'no reason given'}"
                sfn.send_task_failure(taskToken=token, error=VersionRejectedError.__name__, cause=cause[:32768])
        except (BotoCoreError, ClientError):
            # The decision is recorded; a pipeline that no longer waits (it timed out, or was stopped) ends as it did.
            logger.exception("the waiting pipeline was not told the decision", extra=decided)

    def start_run(pipeline_input: PipelineInput, name: str) -> str:
        started = client("stepfunctions").start_execution(
            stateMachineArn=config.training_state_machine_arn, name=name, input=pipeline_input.model_dump_json()
        )
        return str(started["executionArn"])

    def run_starter(run_id: str) -> str:
        """Who started a run: its execution's input (a run waiting for approval is still running)."""
        from botocore.exceptions import ClientError

        arn = config.training_state_machine_arn.replace(":stateMachine:", ":execution:") + f":{run_id}"
        try:
            execution = client("stepfunctions").describe_execution(executionArn=arn)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ExecutionDoesNotExist":
                raise
            return ""  # its history expired (90 days after it ended): the platform started it, or nobody can say
        return str(json.loads(execution.get("input") or "{}").get("started_by", ""))

    return Governance(
        registry(config.registry_table),
        alert,
        complete,
        start_run,
        run_starter,
        functools.partial(runs_in_flight, config.training_state_machine_arn),
        separation_of_duties=config.separation_of_duties,
    )


def runs_in_flight(state_machine_arn: str, model_name: str) -> list[str]:
    from mlcore.runs import runs_in_flight as running

    return running(client("stepfunctions"), state_machine_arn, model_name)


def _aws_answers(operation: Any) -> Any:
    """An AWS error after boto's retries is a DependencyError: 503 in the error envelope, not a bare 500."""
    if operation is None:
        return None
    from botocore.exceptions import BotoCoreError, ClientError

    def run(service: Governance, call: Call) -> dict[str, Any]:
        try:
            return operation(service, call)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            raise DependencyError(f"the registry did not answer ({code}); try again") from error
        except BotoCoreError as error:
            raise DependencyError(f"the registry did not answer ({type(error).__name__}); try again") from error

    return run


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event.get("requestContext") or {}
    request_id = request.get("requestId") or context.aws_request_id
    params = path_parameters(event)
    identity = request.get("identity") or {}
    call = Call(
        params.get("name", ""), event.get("body"), event.get("headers") or {}, request_id, params,
        actor=identity.get("userArn"),
    )  # fmt: skip
    method, resource = event.get("httpMethod", ""), event.get("resource", "")
    operation = _aws_answers(ROUTES.get((method, resource)))
    status, body = answer(governance(), operation, call, f"{method} {event.get('path')}")
    logger.info("governance", extra={"route": f"{method} {resource}", "status": status, "actor": call.actor})
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "X-Request-Id": request_id},
        "body": json.dumps(body),
    }
