"""The governance routes (`catalog.GOVERNANCE_ROUTES`): a version's status, the aliases, the audit trail, spec
changes (one that loosens governance waits for a second person) and training runs (their starter recorded).

API Gateway authorises each call with IAM (SigV4) before the govern function runs; the actor recorded
is the principal ARN it authenticated (`requestContext.identity.userArn`), never a value of the body.
The registry enforces the status rules and makes each change one conditional transaction with its
audit record; what a change did to serving is said in the answer and, when the champion was taken
out of serving, on the alerts topic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mlcore.catalog import (
    AliasRequest,
    AuditResponse,
    PipelineInput,
    RollbackRequest,
    RunRequest,
    SpecRequest,
    StatusChangeRequest,
)
from mlcore.errors import BadRequestError, ConflictError, DependencyError, ForbiddenError
from mlcore.registry import (
    CHALLENGER,
    CHAMPION,
    AliasRecord,
    Registry,
    RolloutMode,
    SpecProposal,
    VersionStatus,
    no_fallback,
)
from mlcore.routing import Call, Operation
from mlcore.spec import (
    ModelSpec,
    check_at_registration,
    check_not_retired,
    loosened_governance,
    parse_spec,
    spec_diff,
)

Body = TypeVar("Body", bound=BaseModel)
ALIASES = (CHAMPION, CHALLENGER)


@dataclass
class Governance:
    """What the govern function answers with: the registry; a way to raise an alert (subject, message); to complete
    the task token a pipeline waits with for a decision (token, approved, what was decided); to start a training run
    (its input and name: its execution's ARN); to read who started a run (by its id: the principal, or empty); to
    list a model's runs in flight; and whether a run's starter may approve its version (`separation_of_duties`:
    never)."""

    registry: Registry
    alert: Callable[[str, str, str], None] | None = None  # subject, message, the model it is about
    complete: Callable[[str, bool, dict[str, Any]], None] | None = None
    start_run: Callable[[PipelineInput, str], str] | None = None
    run_starter: Callable[[str], str] | None = None
    runs_in_flight: Callable[[str], list[str]] | None = None  # a model's running training executions (their names)
    separation_of_duties: bool = False


def _actor(call: Call) -> str:
    """The caller's principal ARN, as API Gateway authenticated it; a call without one is refused (403)."""
    if not call.actor:
        raise ForbiddenError("no authenticated principal: governance routes need IAM (SigV4) authorization")
    return call.actor


def _body(model: type[Body], call: Call) -> Body:
    """The request's JSON body as `model` (an absent body is an empty one); a bad one is a 400 naming the field."""
    try:
        return model.model_validate(json.loads(call.body) if call.body else {})
    except ValueError as error:  # ValidationError is one
        if isinstance(error, ValidationError) and error.errors():
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise BadRequestError(f"{where}: {first['msg']}", field=where) from None
        raise BadRequestError(f"body: not JSON ({error})", field="body") from None


def _version(call: Call) -> int:
    text = call.params.get("version", "")
    if not text.isdigit() or int(text) < 1:
        raise BadRequestError(f"version: {text[:32]!r} is not a version number", field="version")
    return int(text)


def _alias(call: Call) -> str:
    alias = call.params.get("alias", "")
    if alias not in ALIASES:
        raise BadRequestError(f"alias: {alias[:32]!r} is not one of {', '.join(ALIASES)}", field="alias")
    return alias


def _change_status(governance: Governance, call: Call, status: VersionStatus) -> dict[str, Any]:
    actor, version, request = _actor(call), _version(call), _body(StatusChangeRequest, call)
    registry, name = governance.registry, call.name
    current = registry.get_version(name, version)
    before, was = registry.get_alias(name), current.status
    if status is VersionStatus.APPROVED and governance.separation_of_duties and governance.run_starter is not None:
        starter = governance.run_starter(current.run_id)
        if starter == actor:
            raise ForbiddenError(
                f"{actor} started run {current.run_id}, which trained {name} v{version}: with separation of duties "
                "another principal approves it"
            )
    registry.set_status(name, version, status, actor, request.reason)
    after = registry.get_alias(name)
    call.version = version
    serving = f"{name} v{version} is {status}"
    token = registry.approval_token(name, version) if was is VersionStatus.PENDING else None
    if token is not None and governance.complete is not None:  # its pipeline waits for this decision
        approved = status is VersionStatus.APPROVED
        governance.complete(token, approved, {"status": status, "actor": actor, "reason": request.reason})
        serving += "; its pipeline promotes it now" if approved else "; its pipeline ends without promoting it"
    if before is not None and before.version == version:
        rolled_back = registry.rolled_back_from(name) if after is None else set()
        why = f" ({no_fallback(rolled_back)})" if rolled_back else ""
        fallback = f"the champion falls back to v{after.version}" if after else f"{name} has no champion now{why}"
        serving = f"{serving}; it was the champion: {fallback}"
        _out_of_serving(governance, name, f"{serving}. Reason: {request.reason or 'none given'}. By {actor}.")
    return {
        "model": name,
        "version": version,
        "status": status,
        "actor": actor,
        "serving": serving,
        "champion": after.version if after else None,
    }


def _out_of_serving(governance: Governance, name: str, message: str) -> None:
    """Alert that the model's champion serves no more (when the deployment has an alerts topic)."""
    if governance.alert is not None:
        governance.alert(f"Champion of {name} taken out of serving", message, name)


def approve(governance: Governance, call: Call) -> dict[str, Any]:
    return _change_status(governance, call, VersionStatus.APPROVED)


def reject(governance: Governance, call: Call) -> dict[str, Any]:
    return _change_status(governance, call, VersionStatus.REJECTED)


def archive(governance: Governance, call: Call) -> dict[str, Any]:
    return _change_status(governance, call, VersionStatus.ARCHIVED)


def move_alias(governance: Governance, call: Call) -> dict[str, Any]:
    """Promote (the champion) or start a rollout (the challenger, canary or shadow)."""
    actor, alias, request = _actor(call), _alias(call), _body(AliasRequest, call)
    mode: RolloutMode | None = None
    if alias == CHALLENGER:
        if request.mode not in (RolloutMode.CANARY, RolloutMode.SHADOW):
            raise BadRequestError("mode: the challenger needs `canary` (with a weight) or `shadow`", field="mode")
        mode = RolloutMode(request.mode)
        if mode is RolloutMode.CANARY and request.weight is None:
            raise BadRequestError("weight: a canary needs the share of traffic it answers (0 to 1)", field="weight")
        if mode is RolloutMode.SHADOW and request.weight:
            raise BadRequestError("weight: a shadow answers no traffic; leave the weight out", field="weight")
    elif request.mode is not None or request.weight is not None:
        field = "mode" if request.mode is not None else "weight"
        raise BadRequestError(f"{field}: only the challenger alias has a rollout mode and weight", field=field)
    registry = governance.registry
    champion = registry.get_alias(call.name, CHAMPION) if alias == CHALLENGER else None
    if champion is not None and champion.version == request.version:
        raise ConflictError(
            f"version {request.version} is the champion of '{call.name}': a rollout tries another version beside it "
            "(mlops models promote, to serve a version)"
        )
    current = registry.get_alias(call.name, alias)
    if current is not None and (current.version, current.mode, current.weight) == (
        request.version, mode, request.weight or 0.0
    ) and request.expected_version in (None, current.version):  # fmt: skip
        # already so: nothing is written (no audit record, no AliasMoved event)
        return _moved(call, alias, current.model_copy(update={"previous_version": current.version}), actor)
    record = registry.set_alias(
        call.name,
        alias,
        request.version,
        actor,
        request.reason,
        mode=mode,
        weight=request.weight or 0.0,
        if_current=request.expected_version if request.expected_version is not None else ...,
    )
    if alias == CHAMPION:
        _end_rollout_of(registry, call.name, request.version, actor, "promoted to champion")
    return _moved(call, alias, record, actor)


def _end_rollout_of(registry: Registry, name: str, version: int, actor: str, why: str) -> None:
    """End the rollout whose challenger is `version`, now the champion: a version is not its own challenger."""
    challenger = registry.get_alias(name, CHALLENGER)
    if challenger is not None and challenger.version == version:
        registry.remove_alias(name, CHALLENGER, actor, f"version {version} {why}")


def _moved(call: Call, alias: str, record: AliasRecord, actor: str) -> dict[str, Any]:
    """The answer of an alias move (`AliasResponse`)."""
    call.version = record.version
    return {
        "model": call.name,
        "alias": alias,
        "version": record.version,
        "previous_version": record.previous_version,
        "actor": actor,
    }


def remove_alias(governance: Governance, call: Call) -> dict[str, Any]:
    """End a rollout; the champion is moved or rolled back, never removed (the model would stop serving)."""
    actor, alias = _actor(call), _alias(call)
    current = None if alias == CHAMPION else governance.registry.get_alias(call.name, alias)
    if current is None:
        governance.registry.get_spec(call.name)  # an unknown model is a 404, not a conflict
    if alias == CHAMPION:
        raise ConflictError("the champion cannot be removed: promote another version, roll back, or reject it")
    if current is None:
        raise ConflictError(f"model '{call.name}' has no rollout to end (no {alias}): the champion serves all traffic")
    governance.registry.remove_alias(call.name, alias, actor, "rollout ended")
    return {
        "model": call.name,
        "alias": alias,
        "version": None,
        "previous_version": current.version if current else None,
        "actor": actor,
    }


def rollback(governance: Governance, call: Call) -> dict[str, Any]:
    actor, alias, request = _actor(call), _alias(call), _body(RollbackRequest, call)
    try:
        record = governance.registry.rollback(call.name, actor, alias, request.reason)
    except ConflictError:
        governance.registry.get_spec(call.name)  # an unknown model is a 404, not one with nothing to roll back to
        raise
    if alias == CHAMPION:
        _end_rollout_of(governance.registry, call.name, record.version, actor, "is champion again (rollback)")
    return _moved(call, alias, record, actor)


def audit(governance: Governance, call: Call) -> dict[str, Any]:
    _actor(call)
    governance.registry.get_spec(call.name)  # an unknown model is a 404, not an empty trail
    records = [record.model_dump(mode="json") for record in governance.registry.audit_trail(call.name)]
    return AuditResponse.model_validate({"model": call.name, "records": records}).model_dump(mode="json")


def _spec_answer(spec: ModelSpec, proposal: SpecProposal | None, **answer: Any) -> dict[str, Any]:
    return {
        "model": spec.name,
        "spec": spec.model_dump(mode="json"),
        **(
            {"diff": proposal.diff, "loosens": proposal.loosens, "proposed_by": proposal.proposed_by}
            if proposal
            else {}
        ),
        **answer,
    }


def register_spec(governance: Governance, call: Call) -> dict[str, Any]:
    """Register or change a spec, the diff in the audit; a change that loosens governance waits (202)."""
    actor, request, registry = _actor(call), _body(SpecRequest, call), governance.registry

    def view(name: str) -> Any:
        found = registry.find_view(name)
        return found.view if found else None

    spec = parse_spec(request.spec, views=view)
    check_at_registration(spec)
    if spec.name != call.name:
        raise BadRequestError(
            f"spec.name: {spec.name!r} is not the model of the path ({call.name!r})", field="spec.name"
        )
    current = registry.find_spec(spec.name)
    diff = spec_diff(current.spec if current else None, spec)
    loosens = loosened_governance(current.spec if current else None, spec)
    if loosens:
        call.status = 202
        waiting = registry.spec_proposal(spec.name)
        if waiting is not None and waiting.spec == spec and current and waiting.base_revision == current.revision:
            return _spec_answer(spec, waiting, applied=False)  # proposed already: nothing written again
        return _spec_answer(spec, registry.propose_spec(spec, actor, diff, loosens), applied=False)
    if current is None or diff:  # the spec it has already: nothing to write, nor to audit (a CI job's every build)
        registry.put_spec(spec, actor, diff)
    champion = registry.champion(spec.name) if spec.retired and current and not current.spec.retired else None
    if champion is not None:  # as a champion rejected or archived is told
        said = f"{spec.name} is retired: v{champion.version} serves no more (its spec says retired: true). By {actor}."
        _out_of_serving(governance, spec.name, said)
    return _spec_answer(spec, None, applied=True, diff=diff, loosens=[], proposed_by=actor)


def approve_spec(governance: Governance, call: Call) -> dict[str, Any]:
    """Apply the waiting spec change: four eyes, the approver is never its proposer."""
    actor, request, registry = _actor(call), _body(StatusChangeRequest, call), governance.registry
    waiting = registry.spec_proposal(call.name)
    if waiting is not None and waiting.proposed_by == actor:
        raise ForbiddenError(f"{actor} proposed this change to '{call.name}': another approver must apply it")
    if waiting is not None:
        check_at_registration(waiting.spec)  # one proposed before registration's checks
    try:
        applied = registry.apply_spec_proposal(call.name, actor, request.reason)
    except ConflictError:
        registry.get_spec(call.name)  # an unknown model is a 404, not one without a waiting change
        raise
    return _spec_answer(applied.spec, applied, applied=True, approved_by=actor)


def start_run(governance: Governance, call: Call) -> dict[str, Any]:
    """Start a training run with the caller recorded as its starter (PipelineInput.started_by); none while another run
    of the model is in flight (409)."""
    actor, request = _actor(call), _body(RunRequest, call)
    check_not_retired(governance.registry.get_spec(call.name))  # an unknown model is a 404, not a failed run
    if governance.start_run is None:
        raise DependencyError("this deployment cannot start runs through the API")
    in_flight = governance.runs_in_flight(call.name) if governance.runs_in_flight else []
    if in_flight:  # two runs of one model race to promote, on the same data: the second only duplicates the first
        raise ConflictError(
            f"a run of '{call.name}' is in flight: {', '.join(in_flight)}; wait for it to end (mlops runs list "
            f"{call.name}), approve or reject the version it waits on, or stop its execution"
        )
    run_id = f"{call.name}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    pipeline_input = PipelineInput(
        model_name=call.name, dataset_uri=request.dataset_uri, reason=request.reason, force=request.force,
        started_by=actor,
    )  # fmt: skip
    arn = governance.start_run(pipeline_input, run_id)
    return {"model": call.name, "run_id": run_id, "execution_arn": arn, "started_by": actor}


OPERATIONS: dict[str, Operation] = {
    op.__name__: op
    for op in (
        approve, reject, archive, move_alias, remove_alias, rollback, audit, register_spec, approve_spec, start_run,
    )
}  # fmt: skip
