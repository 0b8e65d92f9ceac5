"""The govern function on moto: IAM-authorised status changes and alias moves, recorded with the caller's ARN."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from functional_helpers import load_module

from infra.local.runner import LambdaContext
from mlcore.catalog import ApprovalRequest, TrainedModel
from mlcore.errors import ForbiddenError, VersionApprovedError, VersionRejectedError
from mlcore.governance import Governance, approve, reject
from mlcore.registry import (
    APPROVAL_TIMEOUT,
    CHALLENGER,
    CHAMPION,
    ModelVersion,
    Registry,
    VersionStatus,
    request_decision,
)
from mlcore.routing import Call
from mlcore.spec import ModelSpec
from mlcore.storage import ObjectStore

ROOT = Path(__file__).resolve().parents[2]
ALICE = "arn:aws:sts::123456789012:assumed-role/ModelApprovers/alice"  # the sample event's principal
BOB = "arn:aws:iam::123456789012:user/bob"
Invoke = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture(scope="module")
def handler() -> Iterator[ModuleType]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POWERTOOLS_SERVICE_NAME", "govern")
        yield load_module("handler_govern", ROOT / "functions" / "govern" / "handler.py", patch)


@pytest.fixture
def alerts(resources: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str]]:
    """The alerts topic in the environment; the returned function reads what was published on it."""
    sns, sqs = boto3.client("sns", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    monkeypatch.setenv("ALERTS_TOPIC_ARN", topic)

    def read() -> list[str]:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"])["Message"] for m in messages]

    return read


@pytest.fixture
def invoke(
    handler: ModuleType,
    alerts: Callable[[], list[str]],
    state_machine_arn: str,
    load_event: Callable[[str], dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Invoke]:
    """`invoke(method, path, body=..., actor=...)` -> (status, body), as API Gateway proxies an IAM-signed call."""
    import mlruntime

    monkeypatch.setenv("REGISTRY_TABLE", "registry")
    monkeypatch.setenv("SEPARATION_OF_DUTIES", "false")

    def clear() -> None:
        mlruntime.client.cache_clear()
        handler.settings.cache_clear()
        handler.governance.cache_clear()

    clear()
    sample = load_event("govern")

    def call(method: str, path: str, body: Any = None, actor: str | None = ALICE) -> tuple[int, dict[str, Any]]:
        event = copy.deepcopy(sample)
        resource, params = _resource(path)
        event.update(httpMethod=method, path=path, resource=resource, pathParameters=params)
        event["body"] = None if body is None else body if isinstance(body, str) else json.dumps(body)
        event["requestContext"]["identity"]["userArn"] = actor
        response = handler.handler(event, LambdaContext("govern"))
        return response["statusCode"], json.loads(response["body"])

    yield call
    clear()


def _resource(path: str) -> tuple[str, dict[str, str]]:
    """The route's resource and parameters for a concrete path, as API Gateway matches them."""
    parts = path.strip("/").split("/")
    params = {"name": parts[1]}
    template = ["models", "{name}"]
    if len(parts) > 2 and parts[2] == "versions":
        params["version"] = parts[3]
        template += ["versions", "{version}", *parts[4:]]
    elif len(parts) > 2 and parts[2] == "aliases":
        params["alias"] = parts[3]
        template += ["aliases", "{alias}", *parts[4:]]
    else:
        template += parts[2:]
    return "/" + "/".join(template), params


@pytest.fixture
def versions(
    registry: Registry, artifacts: ObjectStore, trained_churn: TrainedModel, register_model: Callable[..., ModelVersion]
) -> Callable[..., int]:
    """`versions(status, promote=False)`: register another version of churn; its number."""
    registry.put_spec(trained_churn.spec, actor="test")
    count = iter(range(1, 100))

    def add(status: VersionStatus = VersionStatus.APPROVED, *, promote: bool = False) -> int:
        run = f"run-{next(count)}"
        return register_model(registry, artifacts, trained_churn, run_id=run, promote=promote, status=status).version

    return add


def test_an_approval_records_the_principal_api_gateway_authenticated_never_one_the_body_names(
    invoke: Invoke, registry: Registry, versions: Callable[..., int]
) -> None:
    pending = versions(VersionStatus.PENDING)
    # WHEN the body tries to name its own actor
    status, body = invoke("POST", f"/models/churn/versions/{pending}/approve", {"reason": "ok", "actor": BOB})
    # THEN it is refused by name, and nothing changed
    assert (status, body["error"]["field"]) == (400, "actor")
    assert registry.get_version("churn", pending).status is VersionStatus.PENDING
    # WHEN alice approves it
    status, body = invoke("POST", f"/models/churn/versions/{pending}/approve", {"reason": "AUC 0.91"})
    # THEN the version is approved, and the audit says alice did it, why
    assert status == 200, body
    assert body == {
        "model": "churn",
        "version": pending,
        "status": "approved",
        "actor": ALICE,
        "serving": f"churn v{pending} is approved",
        "champion": None,
    }
    [record] = [r for r in registry.audit_trail("churn") if r.action == "status_changed"]
    assert (record.actor, record.details["reason"], record.details["to"]) == (ALICE, "AUC 0.91", "approved")


def test_a_call_without_an_authenticated_principal_changes_nothing(
    invoke: Invoke, registry: Registry, versions: Callable[..., int]
) -> None:
    pending = versions(VersionStatus.PENDING)
    status, body = invoke("POST", f"/models/churn/versions/{pending}/approve", actor=None)
    assert (status, body["error"]["code"]) == (403, "forbidden")
    assert registry.get_version("churn", pending).status is VersionStatus.PENDING


def test_rejecting_the_champion_falls_back_and_alerts_with_the_principal(
    invoke: Invoke, registry: Registry, versions: Callable[..., int], alerts: Callable[[], list[str]]
) -> None:
    first, second = versions(promote=True), versions(promote=True)
    status, body = invoke("POST", f"/models/churn/versions/{second}/reject", {"reason": "label leak"})
    assert status == 200, body
    said = f"churn v{second} is rejected; it was the champion: the champion falls back to v{first}"
    assert (body["serving"], body["champion"]) == (said, first)
    assert registry.get_alias("churn").version == first  # type: ignore[union-attr]
    assert alerts() == [f"{said}. Reason: label leak. By {ALICE}."]
    # AND a rejected version is final: a 409 that names both statuses, and nothing published
    status, body = invoke("POST", f"/models/churn/versions/{second}/approve")
    assert status == 409
    assert "is rejected: it cannot become approved (rejected is final)" in body["error"]["message"]
    assert alerts() == []


def test_rejecting_the_champion_says_why_a_version_rolled_back_from_is_no_fallback(
    invoke: Invoke, registry: Registry, versions: Callable[..., int]
) -> None:
    first, second = versions(promote=True), versions(promote=True)
    registry.rollback("churn", actor=ALICE)
    status, body = invoke("POST", f"/models/churn/versions/{first}/reject", {"reason": "label leak"})
    assert status == 200, body
    said = f"churn has no champion now (no fallback: v{second} was rolled back from)"
    assert (body["serving"], body["champion"]) == (f"churn v{first} is rejected; it was the champion: {said}", None)


def test_a_version_rolled_back_from_and_rejected_since_is_not_named_as_the_reason_for_no_fallback(
    invoke: Invoke, registry: Registry, versions: Callable[..., int]
) -> None:
    first, second = versions(promote=True), versions(promote=True)
    registry.rollback("churn", actor=ALICE)
    assert invoke("POST", f"/models/churn/versions/{second}/reject", {"reason": "bad"})[0] == 200
    status, body = invoke("POST", f"/models/churn/versions/{first}/reject", {"reason": "label leak"})
    assert (status, body["serving"]) == (
        200,
        f"churn v{first} is rejected; it was the champion: churn has no champion now",
    )


def test_rejecting_a_version_that_does_not_serve_alerts_nobody(
    invoke: Invoke, versions: Callable[..., int], alerts: Callable[[], list[str]]
) -> None:
    versions(promote=True)
    other = versions()
    status, body = invoke("POST", f"/models/churn/versions/{other}/reject")
    assert (status, body["serving"]) == (200, f"churn v{other} is rejected")
    assert alerts() == []


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/models/churn/versions/abc/approve", "version"),
        ("/models/churn/versions/0/approve", "version"),
        ("/models/Churn!/versions/1/approve", "name"),
        ("/models/churn/aliases/staging", "alias"),
    ],
)
def test_a_malformed_path_is_a_400_naming_the_parameter(
    invoke: Invoke, versions: Callable[..., int], path: str, field: str
) -> None:
    versions()
    method = "PUT" if "/aliases/" in path else "POST"
    status, body = invoke(method, path, {"version": 1} if method == "PUT" else None)
    assert (status, body["error"]["field"]) == (400, field)


def test_path_parameters_are_read_as_the_client_meant_them_not_as_it_encoded_them(
    invoke: Invoke, versions: Callable[..., int]
) -> None:
    # API Gateway's REST proxy passes a path parameter percent-encoded, as the client sent it
    pending = versions(VersionStatus.PENDING)
    status, body = invoke("POST", "/models/Churn%5B1%5D/versions/1/approve")
    assert (status, body["error"]["message"]) == (400, "name: 'Churn[1]' is not a model name (^[a-z][a-z0-9-]{1,47}$)")
    status, body = invoke("POST", f"/models/ch%75rn/versions/%3{pending}/approve", {"reason": "ok"})
    assert (status, body["status"]) == (200, "approved")


def test_promotion_moves_the_champion_only_from_the_version_the_caller_expects(
    invoke: Invoke, registry: Registry, versions: Callable[..., int]
) -> None:
    first, second, third = versions(promote=True), versions(), versions()
    # WHEN bob promotes v2 in between
    assert invoke("PUT", f"/models/churn/aliases/{CHAMPION}", {"version": second}, actor=BOB)[0] == 200
    # THEN alice's promotion of v3 over v1 (what she read) is a 409, and bob's promotion stands
    status, body = invoke("PUT", f"/models/churn/aliases/{CHAMPION}", {"version": third, "expected_version": first})
    assert status == 409 and "not v1 as expected" in body["error"]["message"]
    assert registry.get_alias("churn").version == second  # type: ignore[union-attr]
    # AND over what serves now it moves, recorded with her ARN
    status, body = invoke("PUT", f"/models/churn/aliases/{CHAMPION}", {"version": third, "expected_version": second})
    assert (status, body) == (
        200,
        {"model": "churn", "alias": CHAMPION, "version": third, "previous_version": second, "actor": ALICE},
    )
    moves = [(r.actor, r.details["to"]) for r in registry.audit_trail("churn") if r.action == "alias_moved"]
    assert moves[-2:] == [(BOB, second), (ALICE, third)]


def test_promoting_the_champion_again_changes_and_records_nothing(
    invoke: Invoke, registry: Registry, versions: Callable[..., int]
) -> None:
    first, second = versions(promote=True), versions()
    assert invoke("PUT", f"/models/churn/aliases/{CHAMPION}", {"version": second})[0] == 200
    moved = len([r for r in registry.audit_trail("churn") if r.action == "alias_moved"])
    # WHEN v2, the champion, is promoted again (twice, at 2 a.m.) THEN the answer says it was v2 already
    for _ in range(2):
        status, body = invoke("PUT", f"/models/churn/aliases/{CHAMPION}", {"version": second})
        assert (status, body["version"], body["previous_version"]) == (200, second, second)
    # AND nothing is written: no audit record (nor AliasMoved event), and a rollback still goes back to v1
    assert len([r for r in registry.audit_trail("churn") if r.action == "alias_moved"]) == moved
    assert registry.get_alias("churn").previous_version == first  # type: ignore[union-attr]
    # AND a caller expecting another champion is still refused
    status, body = invoke("PUT", f"/models/churn/aliases/{CHAMPION}", {"version": second, "expected_version": first})
    assert status == 409 and "not v1 as expected" in body["error"]["message"]


def test_the_champion_is_no_challenger_of_itself_and_a_rollout_set_again_is_unchanged(
    invoke: Invoke, registry: Registry, versions: Callable[..., int]
) -> None:
    first, second = versions(promote=True), versions()
    # WHEN the champion is rolled out beside itself THEN a 409 says why, and no rollout starts
    status, body = invoke(
        "PUT", f"/models/churn/aliases/{CHALLENGER}", {"version": first, "mode": "canary", "weight": 0.5}
    )
    assert status == 409 and f"version {first} is the champion of 'churn'" in body["error"]["message"]
    assert registry.get_alias("churn", CHALLENGER) is None
    # AND another version's canary, asked for twice, is recorded once; another weight moves it
    canary = {"version": second, "mode": "canary", "weight": 0.5}
    assert [invoke("PUT", f"/models/churn/aliases/{CHALLENGER}", canary)[0] for _ in range(2)] == [200, 200]
    assert [r.details["to"] for r in registry.audit_trail("churn") if r.action == "alias_moved"][-2:] == [first, second]
    assert invoke("PUT", f"/models/churn/aliases/{CHALLENGER}", {**canary, "weight": 0.25})[0] == 200
    assert registry.get_alias("churn", CHALLENGER).weight == 0.25  # type: ignore[union-attr]
    # AND promoting the canary's version ends its rollout: the champion is never its own challenger
    assert invoke("PUT", f"/models/churn/aliases/{CHAMPION}", {"version": second})[0] == 200
    assert registry.get_alias("churn", CHALLENGER) is None
    ended = [r for r in registry.audit_trail("churn") if r.action == "alias_removed"]
    assert ended[-1].details["reason"] == f"version {second} promoted to champion"


def test_a_rollback_of_the_champion_onto_the_canarys_version_ends_the_rollout(
    invoke: Invoke, registry: Registry, versions: Callable[..., int]
) -> None:
    first, second = versions(promote=True), versions()
    invoke("PUT", f"/models/churn/aliases/{CHAMPION}", {"version": second})
    # GIVEN v1 back in a canary beside the champion v2
    canary = {"version": first, "mode": "canary", "weight": 0.1}
    assert invoke("PUT", f"/models/churn/aliases/{CHALLENGER}", canary)[0] == 200
    # WHEN the champion rolls back to v1 THEN the rollout ends: v1 is not its own challenger
    status, body = invoke("POST", f"/models/churn/aliases/{CHAMPION}/rollback", {"reason": "v2 is slow"})
    assert (status, body["version"]) == (200, first)
    assert registry.get_alias("churn", CHALLENGER) is None
    ended = [r for r in registry.audit_trail("churn") if r.action == "alias_removed"]
    assert ended[-1].details["reason"] == f"version {first} is champion again (rollback)"
    # AND a challenger's rollback passes over the champion's version
    third = versions()
    assert invoke("PUT", f"/models/churn/aliases/{CHALLENGER}", {**canary, "version": second})[0] == 200
    assert invoke("PUT", f"/models/churn/aliases/{CHALLENGER}", {**canary, "version": third})[0] == 200
    assert invoke("PUT", f"/models/churn/aliases/{CHAMPION}", {"version": second})[0] == 200  # the canary is v3
    status, body = invoke("POST", f"/models/churn/aliases/{CHALLENGER}/rollback", {})
    assert status == 409 and "has no previous version to roll back to" in body["error"]["message"]


def test_a_pending_version_is_never_promoted(invoke: Invoke, registry: Registry, versions: Callable[..., int]) -> None:
    first, pending = versions(promote=True), versions(VersionStatus.PENDING)
    status, body = invoke("PUT", f"/models/churn/aliases/{CHAMPION}", {"version": pending})
    assert status == 409 and "only approved versions can be served" in body["error"]["message"]
    assert registry.get_alias("churn").version == first  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("alias", "body", "field"),
    [
        (CHALLENGER, {"version": 2}, "mode"),
        (CHALLENGER, {"version": 2, "mode": "canary"}, "weight"),
        (CHALLENGER, {"version": 2, "mode": "canary", "weight": 1.0001}, "weight"),
        (CHALLENGER, {"version": 2, "mode": "shadow", "weight": 0.5}, "weight"),
        (CHAMPION, {"version": 2, "mode": "canary", "weight": 0.5}, "mode"),
        (CHAMPION, {"version": 2, "weight": 0.5}, "weight"),
        (CHAMPION, {"version": 0}, "version"),
    ],
)
def test_a_rollout_needs_its_mode_and_weight_and_only_the_challenger_has_them(  # noqa: PLR0917 (pytest fixtures)
    invoke: Invoke,
    registry: Registry,
    versions: Callable[..., int],
    alias: str,
    body: dict[str, Any],
    field: str,
) -> None:
    versions(promote=True), versions()
    status, answer = invoke("PUT", f"/models/churn/aliases/{alias}", body)
    assert (status, answer["error"]["field"]) == (400, field)
    assert registry.get_alias("churn", CHALLENGER) is None


def test_a_canary_at_full_weight_starts_and_ends_and_the_champion_is_never_removed(
    invoke: Invoke, registry: Registry, versions: Callable[..., int]
) -> None:
    first, second = versions(promote=True), versions()
    canary = {"version": second, "mode": "canary", "weight": 1.0}
    assert invoke("PUT", f"/models/churn/aliases/{CHALLENGER}", canary)[0] == 200
    rollout = registry.get_alias("churn", CHALLENGER)
    assert rollout is not None and (rollout.version, rollout.weight) == (second, 1.0)
    status, body = invoke("DELETE", f"/models/churn/aliases/{CHALLENGER}")
    assert (status, body["version"], body["previous_version"]) == (200, None, second)
    assert registry.get_alias("churn", CHALLENGER) is None
    # ending it again: a 409 that says there is no rollout
    status, body = invoke("DELETE", f"/models/churn/aliases/{CHALLENGER}")
    assert (status, body["error"]["message"]) == (
        409, "model 'churn' has no rollout to end (no challenger): the champion serves all traffic"
    )  # fmt: skip
    status, body = invoke("DELETE", f"/models/churn/aliases/{CHAMPION}")
    assert status == 409 and "cannot be removed" in body["error"]["message"]
    assert registry.get_alias("churn").version == first  # type: ignore[union-attr]


def test_rollback_points_back_and_the_audit_route_lists_every_change_with_its_principal(
    invoke: Invoke, versions: Callable[..., int]
) -> None:
    first, second = versions(promote=True), versions()
    invoke("PUT", f"/models/churn/aliases/{CHAMPION}", {"version": second}, actor=BOB)
    status, body = invoke("POST", f"/models/churn/aliases/{CHAMPION}/rollback", {"reason": "p99 doubled"})
    assert (status, body["version"], body["previous_version"]) == (200, first, second)
    status, trail = invoke("GET", "/models/churn/audit")
    assert status == 200 and trail["model"] == "churn"
    records = trail["records"]
    assert [r["action"] for r in records][:2] == ["spec_registered", "version_registered"]  # oldest first
    moves = [(r["actor"], r["details"]["to"], r["details"]["reason"]) for r in records if r["action"] == "alias_moved"]
    assert moves[-2:] == [(BOB, second, ""), (ALICE, first, f"rollback from {second}: p99 doubled")]
    assert invoke("GET", "/models/nothing-here/audit")[0] == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"/models/nothing-here/aliases/{CHAMPION}/rollback"),
        ("DELETE", f"/models/nothing-here/aliases/{CHALLENGER}"),
        ("DELETE", f"/models/nothing-here/aliases/{CHAMPION}"),
        ("POST", "/models/nothing-here/spec/approve"),
    ],
)
def test_a_change_to_an_unknown_model_is_a_404_not_a_conflict(invoke: Invoke, method: str, path: str) -> None:
    # (for a registered model the same calls are 409s: nothing to roll back to, no rollout, no change waiting)
    status, body = invoke(method, path, {})
    assert (status, body["error"]["message"]) == (404, "model 'nothing-here' is not registered")


def test_an_aws_error_is_a_503_in_the_envelope_and_changes_nothing(
    invoke: Invoke,
    handler: ModuleType,
    registry: Registry,
    versions: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pending = versions(VersionStatus.PENDING)
    client = handler.governance().registry.client

    def throttled(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "TransactWriteItems")

    monkeypatch.setattr(client, "transact_write_items", throttled)
    status, body = invoke("POST", f"/models/churn/versions/{pending}/approve")
    assert (status, body["error"]["code"]) == (503, "dependency_unavailable")
    assert "ThrottlingException" in body["error"]["message"] and body["error"]["request_id"]
    assert registry.get_version("churn", pending).status is VersionStatus.PENDING

    # a transaction DynamoDB cancelled for throttling is its fault too: a 503, not "changed concurrently"
    def cancelled(**_: Any) -> None:
        reasons = [{"Code": "None"}, {"Code": "ThrottlingError", "Message": "Throughput exceeds the current capacity"}]
        answer = {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}}
        raise client.exceptions.TransactionCanceledException({**answer, "CancellationReasons": reasons}, "X")

    monkeypatch.setattr(client, "transact_write_items", cancelled)
    status, body = invoke("POST", f"/models/churn/versions/{pending}/approve")
    assert (status, body["error"]["code"]) == (503, "dependency_unavailable")
    assert registry.get_version("churn", pending).status is VersionStatus.PENDING


def test_an_alert_that_cannot_be_published_does_not_undo_or_hide_the_recall(
    invoke: Invoke,
    handler: ModuleType,
    registry: Registry,
    versions: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = versions(promote=True), versions(promote=True)
    monkeypatch.setenv("ALERTS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:no-such-topic")
    handler.settings.cache_clear()
    handler.governance.cache_clear()
    status, body = invoke("POST", f"/models/churn/versions/{second}/reject", {"reason": "leak"})
    assert (status, body["champion"]) == (200, first)
    assert registry.get_version("churn", second).status is VersionStatus.REJECTED


# -- a pipeline waiting for the decision (approval: manual) ---------------------------------------------------


def _call(path: str, body: Any = None, actor: str = ALICE) -> Call:
    _, params = _resource(path)
    return Call(params["name"], json.dumps(body or {}), {}, "request-1", params, actor=actor)


def test_a_decision_completes_the_token_its_pipeline_waits_with_once(
    registry: Registry, versions: Callable[..., int]
) -> None:
    waiting, without_a_pipeline = versions(VersionStatus.PENDING), versions(VersionStatus.PENDING)
    registry.await_decision("churn", waiting, "token-of-the-run")
    completed: list[tuple[str, bool, dict[str, Any]]] = []
    governance = Governance(registry, complete=lambda *told: completed.append(told))
    # approving the waiting version tells its pipeline, which promotes it
    said = approve(governance, _call(f"/models/churn/versions/{waiting}/approve", {"reason": "ok"}))
    assert said["serving"] == f"churn v{waiting} is approved; its pipeline promotes it now"
    assert completed == [("token-of-the-run", True, {"status": "approved", "actor": ALICE, "reason": "ok"})]
    # a later recall of it has no pipeline to tell (the token was for the pending decision)
    reject(governance, _call(f"/models/churn/versions/{waiting}/reject", {"reason": "leak"}))
    # nor has a version nobody waits for
    said = reject(governance, _call(f"/models/churn/versions/{without_a_pipeline}/reject", {"reason": "no"}))
    assert said["serving"] == f"churn v{without_a_pipeline} is rejected"
    assert len(completed) == 1


def test_a_rejection_fails_the_waiting_pipeline_s_token(registry: Registry, versions: Callable[..., int]) -> None:
    waiting = versions(VersionStatus.PENDING)
    registry.await_decision("churn", waiting, "token-of-the-run")
    completed: list[tuple[str, bool, dict[str, Any]]] = []
    said = reject(
        Governance(registry, complete=lambda *told: completed.append(told)),
        _call(f"/models/churn/versions/{waiting}/reject", {"reason": "leak"}),
    )
    assert said["serving"] == f"churn v{waiting} is rejected; its pipeline ends without promoting it"
    assert completed == [("token-of-the-run", False, {"status": "rejected", "actor": ALICE, "reason": "leak"})]


def test_a_retried_step_s_token_replaces_the_kept_one_and_a_version_decided_meanwhile_keeps_none(
    registry: Registry, versions: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting = versions(VersionStatus.PENDING)
    assert registry.await_decision("churn", waiting, "first-attempt").status is VersionStatus.PENDING
    assert registry.await_decision("churn", waiting, "retried-attempt").status is VersionStatus.PENDING
    assert registry.approval_token("churn", waiting) == "retried-attempt"  # the decision completes the live one
    # a version approved between the step's read and its write: the step gets the decision, nothing is kept
    decided = versions(VersionStatus.PENDING)
    read_before = registry.get_version("churn", decided)
    registry.set_status("churn", decided, VersionStatus.APPROVED, actor=ALICE, reason="ok")
    fresh = registry.get_version
    reads = iter([read_before])
    monkeypatch.setattr(registry, "get_version", lambda name, version: next(reads, None) or fresh(name, version))
    answer = registry.await_decision("churn", decided, "late-token")
    assert (answer.version, answer.status) == (decided, VersionStatus.APPROVED)
    assert registry.approval_token("churn", decided) is None


def test_asking_for_a_decision_keeps_the_token_and_says_what_to_compare_and_run(
    registry: Registry, versions: Callable[..., int]
) -> None:
    champion, pending = versions(promote=True), versions(VersionStatus.PENDING)
    told: list[tuple[str, str, str]] = []
    request = ApprovalRequest(model_name="churn", version=pending, run_id="run-2", champion_version=champion, token="t")
    asked = request_decision(request, registry=registry, alert=lambda *alert: told.append(alert))
    assert (asked.status, registry.approval_token("churn", pending)) == (VersionStatus.PENDING, "t")
    [(subject, message, model)] = told
    assert model == "churn"
    assert subject == f"churn v{pending} awaits approval"
    metrics = registry.get_version("churn", pending).metrics
    name, value = sorted(metrics.items())[0]
    assert f"{name} {value:.4f} (champion {registry.get_version('churn', champion).metrics[name]:.4f})" in message
    assert f"mlops models approve churn {pending} --reason" in message
    assert f"mlops models reject churn {pending} --reason" in message
    assert "Without a decision within 168 h it is rejected." in message


def test_a_version_decided_before_its_pipeline_asks_is_answered_at_once(
    registry: Registry, versions: Callable[..., int]
) -> None:
    approved, rejected = versions(), versions(VersionStatus.REJECTED)
    for number, error in ((approved, VersionApprovedError), (rejected, VersionRejectedError)):
        request = ApprovalRequest(model_name="churn", version=number, run_id="r", token="t")
        with pytest.raises(error):
            request_decision(request, registry=registry, alert=lambda *_: pytest.fail("nobody is asked"))
        assert registry.approval_token("churn", number) is None


def test_a_version_of_a_model_retired_while_its_run_was_in_flight_is_rejected_and_nobody_is_asked(
    registry: Registry, versions: Callable[..., int]
) -> None:
    pending = versions(VersionStatus.PENDING)
    registry.put_spec(registry.get_spec("churn").model_copy(update={"retired": True}), actor="test")
    request = ApprovalRequest(model_name="churn", version=pending, run_id="r", token="t")
    with pytest.raises(VersionRejectedError, match="the model is retired"):  # its pipeline ends without promoting
        request_decision(request, registry=registry, alert=lambda *_: pytest.fail("nobody is asked"))
    assert registry.get_version("churn", pending).status is VersionStatus.REJECTED
    assert registry.approval_token("churn", pending) is None


def test_the_timeout_rejects_a_pending_version_and_leaves_a_decided_one(
    registry: Registry, versions: Callable[..., int]
) -> None:
    pending, approved = versions(VersionStatus.PENDING), versions()
    told: list[tuple[str, str, str]] = []
    for number in (pending, approved):
        request = ApprovalRequest(model_name="churn", version=number, run_id="r", expire=True)
        request_decision(request, registry=registry, alert=lambda *alert: told.append(alert))
    assert registry.get_version("churn", pending).status is VersionStatus.REJECTED
    assert registry.get_version("churn", approved).status is VersionStatus.APPROVED  # decided at the last moment
    [change] = [r for r in registry.audit_trail("churn") if r.action == "status_changed"]
    assert (change.actor, change.details["reason"]) == (APPROVAL_TIMEOUT, "no decision within 168 h")
    assert [(subject, model) for subject, _, model in told] == [
        (f"churn v{pending} rejected: no decision in time", "churn")
    ]


# -- spec changes (PUT /models/{name}/spec) --------------------------------------------------------------------


def _spec(spec: ModelSpec, **changes: Any) -> dict[str, Any]:
    return {"spec": {**spec.model_dump(mode="json"), **changes}}


def test_a_spec_change_is_audited_with_its_diff_and_one_that_loosens_waits_for_another_approver(
    invoke: Invoke, registry: Registry, churn_spec: ModelSpec
) -> None:
    manual = _spec(churn_spec, approval="manual")
    # a first registration, and a stricter change: applied, each with its diff in the audit
    assert invoke("PUT", "/models/churn/spec", manual)[0] == 200
    # the same spec again (a CI job registers on every build): nothing changed, nothing audited
    trail = registry.audit_trail("churn")
    status, body = invoke("PUT", "/models/churn/spec", manual)
    assert (status, body["applied"], body["diff"]) == (200, True, [])
    assert registry.audit_trail("churn") == trail
    status, body = invoke("PUT", "/models/churn/spec", _spec(churn_spec, approval="manual", approval_timeout_hours=24))
    assert (status, body["applied"], body["loosens"]) == (200, True, [])
    assert body["diff"] == [{"path": "approval_timeout_hours", "from": 168.0, "to": 24.0}]
    updated = [r for r in registry.audit_trail("churn") if r.action == "spec_updated"][-1]
    assert (updated.actor, updated.details["diff"]) == (ALICE, body["diff"])
    # WHEN bob switches approval to auto: it waits, and the spec is as it was
    status, body = invoke("PUT", "/models/churn/spec", _spec(churn_spec, approval_timeout_hours=24), actor=BOB)
    assert (status, body["applied"], body["loosens"]) == (202, False, ["approval: manual -> auto"])
    assert registry.get_spec("churn").approval == "manual"
    # (proposed again, by a CI job's next build: it still waits, and nothing more is written)
    trail = registry.audit_trail("churn")
    again = invoke("PUT", "/models/churn/spec", _spec(churn_spec, approval_timeout_hours=24), actor=BOB)
    assert (again[0], again[1]["applied"], registry.audit_trail("churn")) == (202, False, trail)
    # THEN bob may not apply his own change, alice may
    status, body = invoke("POST", "/models/churn/spec/approve", {"reason": "me"}, actor=BOB)
    assert (status, body["error"]["code"]) == (403, "forbidden")
    assert registry.get_spec("churn").approval == "manual"
    status, body = invoke("POST", "/models/churn/spec/approve", {"reason": "agreed in review"})
    assert (status, body["applied"], body["proposed_by"], body["approved_by"]) == (200, True, BOB, ALICE)
    assert registry.get_spec("churn").approval == "auto"
    applied = [r for r in registry.audit_trail("churn") if r.action == "spec_updated"][-1]
    assert (applied.actor, applied.details["proposed_by"], applied.details["loosens"]) == (
        ALICE,
        BOB,
        ["approval: manual -> auto"],
    )
    # AND there is nothing left to approve
    assert invoke("POST", "/models/churn/spec/approve", {})[0] == 409


def test_a_misspelt_estimator_parameter_is_refused_at_registration_naming_it_and_nothing_is_stored(
    invoke: Invoke, registry: Registry, churn_spec: ModelSpec
) -> None:
    from mlcore.spec import parse_spec

    estimator = churn_spec.estimator.model_dump(mode="json", exclude_none=True)

    def register(**changes: Any) -> tuple[int, dict[str, Any]]:
        return invoke("PUT", "/models/churn/spec", _spec(churn_spec, estimator={**estimator, **changes}))

    status, body = register(params={"n_estimator": 30})
    assert (status, body["error"]["code"], body["error"]["field"]) == (
        400,
        "invalid_spec",
        "estimator.params.n_estimator",
    )
    assert body["error"]["message"] == (
        "estimator.params.n_estimator: not a parameter of RandomForestClassifier; did you mean 'n_estimators'?"
    )
    assert registry.find_spec("churn") is None
    status, body = register(search={"params": {"n_estimators": [30], "max_dept": [3, 4]}, "strategy": "grid"})
    assert (status, body["error"]["field"]) == (400, "estimator.search.params.max_dept")
    assert body["error"]["message"].endswith("did you mean 'max_depth'?")
    status, body = register(params={"zzz": 1})
    assert body["error"]["message"].startswith(
        "estimator.params.zzz: not a parameter of RandomForestClassifier; it takes ["
    )
    assert registry.find_spec("churn") is None
    # a class weight for a label the spec's classes do not list (the training job refused it, a run later)
    weighted = {**estimator, "class_weight": {"Yes": 3.0}}
    status, body = invoke("PUT", "/models/churn/spec", _spec(churn_spec, estimator=weighted, classes=["no", "yes"]))
    assert (status, body["error"]["field"]) == (400, "estimator.class_weight")
    assert registry.find_spec("churn") is None
    # the names it takes pass; LightGBM's are left to the training job (its core reads aliases too)
    assert register(params={"n_estimators": 30}, search={"params": {"max_depth": [3, 4]}})[0] == 200
    assert register(kind="lightgbm_classifier", params={"min_data_in_leaf": 5})[0] == 200
    # a change proposed before registration checked its parameters is refused when approved, the spec as it was
    stale = parse_spec({**churn_spec.model_dump(mode="json"), "estimator": {**estimator, "params": {"n_estimator": 3}}})
    before = registry.get_spec("churn")
    registry.propose_spec(stale, BOB, diff=[], loosens=["approval: manual -> auto"])
    status, body = invoke("POST", "/models/churn/spec/approve", {"reason": "ok"})
    assert (status, body["error"]["field"]) == (400, "estimator.params.n_estimator")
    assert registry.get_spec("churn") == before
    # and one stored before it still reads
    registry.put_spec(stale, actor=ALICE)
    assert registry.get_spec("churn").estimator.params == {"n_estimator": 3}


def test_a_waiting_change_is_not_applied_over_a_spec_changed_since(
    invoke: Invoke, registry: Registry, churn_spec: ModelSpec
) -> None:
    invoke("PUT", "/models/churn/spec", _spec(churn_spec))
    lower = {**churn_spec.metrics.model_dump(mode="json"), "minimum": {"roc_auc": 0.5}}
    assert invoke("PUT", "/models/churn/spec", _spec(churn_spec, metrics=lower), actor=BOB)[0] == 202
    invoke("PUT", "/models/churn/spec", _spec(churn_spec, description="meanwhile"))  # applied at once
    status, body = invoke("POST", "/models/churn/spec/approve", {})
    assert status == 409 and "changed since" in body["error"]["message"]
    assert registry.get_spec("churn").metrics.minimum == churn_spec.metrics.minimum


def test_a_newer_proposal_replaces_the_waiting_one_each_audited_and_the_applied_one_names_its_proposer(
    registry: Registry, churn_spec: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlcore.errors import ConflictError, ModelNotFoundError

    carol = "arn:aws:iam::123456789012:user/carol"
    with pytest.raises(ModelNotFoundError, match="model 'churn' is not registered: a first spec needs no approval"):
        registry.propose_spec(churn_spec, BOB, diff=[], loosens=[])
    registry.put_spec(churn_spec.model_copy(update={"approval": "manual"}), actor=ALICE)
    loosened = ["approval: manual -> auto"]
    first_diff = [{"path": "approval", "from": "manual", "to": "auto"}]
    first = registry.propose_spec(churn_spec, BOB, diff=first_diff, loosens=loosened)
    waiting = registry.spec_proposal("churn")
    assert waiting is not None and first.revision == waiting.revision  # the answer is what is stored
    # a newer proposal replaces the waiting one
    newer_spec = churn_spec.model_copy(update={"description": "auto, and described"})
    newer_diff = [*first_diff, {"path": "description", "from": churn_spec.description, "to": "auto, and described"}]
    newer = registry.propose_spec(newer_spec, carol, diff=newer_diff, loosens=loosened)
    waiting = registry.spec_proposal("churn")
    assert waiting is not None and (waiting.spec, waiting.proposed_by) == (newer_spec, carol)
    assert newer.revision == waiting.revision
    proposed = [(r.actor, r.details) for r in registry.audit_trail("churn") if r.action == "spec_proposed"]
    assert proposed == [
        (BOB, {"diff": first_diff, "loosens": loosened}),
        (carol, {"diff": newer_diff, "loosens": loosened}),
    ]
    # a proposal written over one it did not read is refused, naming the model
    read = registry._get

    def reads_no_proposal(name: str, sk: str, kind: Any) -> Any:
        return None if kind.__name__ == "SpecProposal" else read(name, sk, kind)

    monkeypatch.setattr(registry, "_get", reads_no_proposal)
    with pytest.raises(ConflictError, match="model 'churn' changed concurrently"):
        registry.propose_spec(churn_spec, BOB, diff=first_diff, loosens=loosened)
    monkeypatch.undo()
    # the approver applies the newest, which names its proposer; then nothing waits
    assert registry.apply_spec_proposal("churn", ALICE).spec == newer_spec
    assert registry.get_spec("churn") == newer_spec
    applied = [r for r in registry.audit_trail("churn") if r.action == "spec_updated"][-1]
    assert (applied.actor, applied.details) == (
        ALICE,
        {"diff": newer_diff, "loosens": loosened, "proposed_by": carol, "reason": ""},
    )
    with pytest.raises(ConflictError, match="no spec change of 'churn' waits for approval"):
        registry.apply_spec_proposal("churn", ALICE, reason="again")


def test_an_approval_of_a_proposal_replaced_meanwhile_applies_nothing_and_says_to_retry(
    registry: Registry, churn_spec: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlcore.errors import ConflictError

    # GIVEN bob's change waiting, which alice reads to approve, and carol replacing it before alice's write lands
    manual = churn_spec.model_copy(update={"approval": "manual"})
    registry.put_spec(manual, actor=ALICE)
    loosened, diff = ["approval: manual -> auto"], [{"path": "approval", "from": "manual", "to": "auto"}]
    registry.propose_spec(churn_spec, BOB, diff=diff, loosens=loosened)
    carols = churn_spec.model_copy(update={"description": "carol's"})
    read = registry.spec_proposal

    def read_then_lose_the_race(name: str) -> Any:
        proposal = read(name)
        registry.propose_spec(carols, "carol", diff=[], loosens=loosened)
        return proposal

    monkeypatch.setattr(registry, "spec_proposal", read_then_lose_the_race)
    with pytest.raises(ConflictError, match=r"^model 'churn' changed concurrently; read it again and retry$"):
        registry.apply_spec_proposal("churn", ALICE)
    monkeypatch.undo()
    # THEN the spec is as it was, and carol's change waits for its own approval
    assert registry.get_spec("churn") == manual
    waiting = registry.spec_proposal("churn")
    assert waiting is not None and (waiting.spec, waiting.proposed_by) == (carols, "carol")
    assert "spec_updated" not in [r.action for r in registry.audit_trail("churn")[1:]]


def test_a_spec_for_another_model_than_the_path_or_an_invalid_one_is_a_400(
    invoke: Invoke, churn_spec: ModelSpec
) -> None:
    status, body = invoke("PUT", "/models/other/spec", _spec(churn_spec))
    assert (status, body["error"]["field"]) == (400, "spec.name")
    status, body = invoke("PUT", "/models/churn/spec", _spec(churn_spec, approval="sometimes"))
    assert (status, body["error"]["code"]) == (400, "invalid_spec")


# -- runs started through the API, and separation of duties -----------------------------------------------------


def test_a_run_started_through_the_api_records_its_starter(
    invoke: Invoke, registry: Registry, churn_spec: ModelSpec
) -> None:
    registry.put_spec(churn_spec, actor="test")
    status, body = invoke("POST", "/models/churn/runs", {"reason": "new data", "force": True}, actor=BOB)
    assert (status, body["started_by"], body["model"]) == (200, BOB, "churn")
    assert body["run_id"].startswith("churn-") and body["execution_arn"].endswith(f":{body['run_id']}")
    execution = boto3.client("stepfunctions", region_name="us-east-1").describe_execution(
        executionArn=body["execution_arn"]
    )
    started = json.loads(execution["input"])
    assert (started["started_by"], started["reason"], started["force"]) == (BOB, "new data", True)
    assert invoke("POST", "/models/nothing-here/runs", {})[0] == 404


def test_a_run_is_not_started_while_another_run_of_the_model_is_in_flight(
    runs_stay_running: None, invoke: Invoke, registry: Registry, churn_spec: ModelSpec
) -> None:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    registry.put_spec(churn_spec, actor="test")
    # GIVEN a run of churn-b in flight: its execution's name begins with "churn-" too
    registry.put_spec(churn_spec.model_copy(update={"name": "churn-b"}), actor="test")
    assert invoke("POST", "/models/churn-b/runs", {})[0] == 200
    # WHEN churn's run starts THEN another model's run does not hold it
    status, first = invoke("POST", "/models/churn/runs", {})
    assert status == 200
    # WHEN a second run of churn is asked for while the first runs THEN it is refused, naming the run in flight
    status, body = invoke("POST", "/models/churn/runs", {"force": True})
    assert (status, body["error"]["code"]) == (409, "conflict")
    assert f"a run of 'churn' is in flight: {first['run_id']};" in body["error"]["message"]
    # WHEN the first has ended THEN a run starts
    sfn.stop_execution(executionArn=first["execution_arn"])
    assert invoke("POST", "/models/churn/runs", {})[0] == 200


def test_a_retired_model_starts_no_run_until_it_is_registered_back(
    runs_stay_running: None, invoke: Invoke, registry: Registry, churn_spec: ModelSpec
) -> None:
    registry.put_spec(churn_spec.model_copy(update={"retired": True}), actor="test")
    status, body = invoke("POST", "/models/churn/runs", {"force": True})
    assert (status, body["error"]["code"]) == (404, "model_retired")
    assert "register its spec with retired: false to bring it back" in body["error"]["message"]
    registry.put_spec(churn_spec, actor="test")  # brought back (an approver applied it: the test above)
    assert invoke("POST", "/models/churn/runs", {})[0] == 200


def test_retiring_a_served_model_is_alerted_and_bringing_it_back_waits_for_an_approver(
    invoke: Invoke, alerts: Callable[[], list[str]], registry: Registry, versions: Callable[..., int]
) -> None:
    champion, spec = versions(promote=True), registry.get_spec("churn")
    # WHEN a developer retires it THEN it applies at once, and the topic says the champion serves no more
    status, body = invoke("PUT", "/models/churn/spec", _spec(spec, retired=True), actor=BOB)
    assert (status, body["applied"], registry.get_spec("churn").retired) == (200, True, True)
    assert alerts() == [f"churn is retired: v{champion} serves no more (its spec says retired: true). By {BOB}."]
    assert invoke("PUT", "/models/churn/spec", _spec(spec, retired=True), actor=BOB)[0] == 200
    assert alerts() == []  # retired already: nothing said again
    # WHEN he brings it back THEN it waits for an approver: its champion would serve again
    status, body = invoke("PUT", "/models/churn/spec", _spec(spec), actor=BOB)
    assert (status, body["applied"], body["loosens"]) == (
        202,
        False,
        ["retired: true -> false (its champion serves again)"],
    )
    assert registry.get_spec("churn").retired is True
    assert invoke("POST", "/models/churn/spec/approve", {"reason": "back"})[0] == 200  # alice, not its proposer
    assert registry.get_spec("churn").retired is False


def test_with_separation_of_duties_the_run_s_starter_may_not_approve_its_version(
    registry: Registry, versions: Callable[..., int]
) -> None:
    pending, other = versions(VersionStatus.PENDING), versions(VersionStatus.PENDING)
    starters = {registry.get_version("churn", pending).run_id: BOB}
    governance = Governance(registry, run_starter=lambda run: starters.get(run, ""), separation_of_duties=True)
    with pytest.raises(ForbiddenError, match="with separation of duties another principal approves it"):
        approve(governance, _call(f"/models/churn/versions/{pending}/approve", actor=BOB))
    assert registry.get_version("churn", pending).status is VersionStatus.PENDING
    # another principal may; and a version nobody started through the API (the platform's runs) is anyone's
    assert approve(governance, _call(f"/models/churn/versions/{pending}/approve"))["status"] == "approved"
    assert approve(governance, _call(f"/models/churn/versions/{other}/approve", actor=BOB))["status"] == "approved"


def test_without_separation_of_duties_the_starter_may_approve(registry: Registry, versions: Callable[..., int]) -> None:
    pending = versions(VersionStatus.PENDING)
    governance = Governance(registry, run_starter=lambda run: BOB, separation_of_duties=False)
    assert approve(governance, _call(f"/models/churn/versions/{pending}/approve", actor=BOB))["status"] == "approved"


def test_the_starter_may_still_reject_what_their_run_trained(registry: Registry, versions: Callable[..., int]) -> None:
    pending = versions(VersionStatus.PENDING)
    governance = Governance(registry, run_starter=lambda run: BOB, separation_of_duties=True)
    assert reject(governance, _call(f"/models/churn/versions/{pending}/reject", actor=BOB))["status"] == "rejected"


def test_the_govern_function_reads_the_starter_from_the_run_s_execution(  # noqa: PLR0917 (pytest fixtures)
    invoke: Invoke,
    handler: ModuleType,
    registry: Registry,
    artifacts: ObjectStore,
    trained_churn: TrainedModel,
    register_model: Callable[..., ModelVersion],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry.put_spec(trained_churn.spec, actor="test")
    run_id = invoke("POST", "/models/churn/runs", {}, actor=BOB)[1]["run_id"]
    version = register_model(
        registry, artifacts, trained_churn, run_id=run_id, promote=False, status=VersionStatus.PENDING
    ).version
    monkeypatch.setenv("SEPARATION_OF_DUTIES", "true")
    handler.settings.cache_clear()
    handler.governance.cache_clear()
    status, body = invoke("POST", f"/models/churn/versions/{version}/approve", {}, actor=BOB)
    assert (status, body["error"]["code"]) == (403, "forbidden") and run_id in body["error"]["message"]
    assert invoke("POST", f"/models/churn/versions/{version}/approve", {})[0] == 200  # alice
