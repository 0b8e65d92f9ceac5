"""The registry on moto's DynamoDB: specs, versions, aliases, audit, and lost races."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from mlcore.errors import ConflictError, ModelNotFoundError, NotFoundError
from mlcore.registry import (
    CHALLENGER,
    CHAMPION,
    ModelVersion,
    MonitorState,
    Registry,
    RolloutMode,
    SpecRecord,
    VersionStatus,
    utc_now,
)
from mlcore.spec import ModelSpec, parse_spec

ACTOR = "alice"


def version(number: int, status: VersionStatus = VersionStatus.APPROVED, run_id: str | None = None) -> ModelVersion:
    return ModelVersion(
        model_name="churn",
        version=number,
        run_id=run_id or f"run-{number}",
        status=status,
        created_at=utc_now(),
        artifacts={},
        metrics={"roc_auc": 0.8},
        signature=[],
    )


@pytest.fixture
def churn(registry: Registry, churn_spec: ModelSpec) -> Registry:
    """GIVEN the churn spec is registered."""
    registry.put_spec(churn_spec, actor=ACTOR)
    return registry


def add(registry: Registry, status: VersionStatus = VersionStatus.APPROVED) -> int:
    number = registry.allocate_version("churn")
    registry.register_version(version(number, status), actor=ACTOR)
    return number


def actions(registry: Registry) -> list[str]:
    return [record.action for record in registry.audit_trail("churn")]


def test_spec_round_trips_and_is_listed(churn: Registry, churn_spec: ModelSpec) -> None:
    assert churn.get_spec("churn") == churn_spec
    assert [s.name for s in churn.list_specs()] == ["churn"]


def test_updating_a_spec_is_audited_as_an_update(churn: Registry, churn_spec: ModelSpec) -> None:
    diff = [{"path": "description", "from": churn_spec.description, "to": "v2"}]
    churn.put_spec(parse_spec({**churn_spec.model_dump(mode="json"), "description": "v2"}), actor="bob", diff=diff)
    assert churn.get_spec("churn").description == "v2"
    trail = churn.audit_trail("churn")
    assert [(r.action, r.actor) for r in trail] == [("spec_registered", ACTOR), ("spec_updated", "bob")]
    assert [r.details for r in trail] == [{}, {"diff": diff}]  # a first registration changes nothing it could list


def test_unknown_model_is_not_found(registry: Registry) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        registry.get_spec("nope")
    assert caught.value.status == 404
    with pytest.raises(ModelNotFoundError):
        registry.allocate_version("nope")


def test_version_numbers_start_at_one_and_increase(churn: Registry) -> None:
    assert [churn.allocate_version("churn") for _ in range(3)] == [1, 2, 3]


def test_interleaved_allocations_get_distinct_numbers(churn: Registry) -> None:
    # GIVEN 8 pipeline runs, each with its own client (as separate Lambdas would)
    registries = [Registry(churn.table, boto3.client("dynamodb", region_name="us-east-1")) for _ in range(8)]
    # WHEN their allocations interleave (true concurrency is DynamoDB's atomic ADD, which moto does not
    # reproduce under threads, so the order is interleaved here rather than raced)
    numbers = [registry.allocate_version("churn") for _ in range(3) for registry in registries]
    # THEN no number is handed out twice
    assert sorted(numbers) == list(range(1, 25))


def test_register_version_never_overwrites(churn: Registry) -> None:
    number = add(churn)
    with pytest.raises(ConflictError, match=f"version {number} of 'churn', or a version of run another-run, already"):
        churn.register_version(version(number, run_id="another-run"), actor=ACTOR)
    assert churn.get_version("churn", number).run_id == f"run-{number}"


def test_versions_are_found_by_run(churn: Registry) -> None:
    add(churn)
    add(churn)
    assert churn.find_version_by_run("churn", "run-2").version == 2  # type: ignore[union-attr]
    assert churn.find_version_by_run("churn", "run-9") is None
    assert [v.version for v in churn.list_versions("churn")] == [1, 2]
    with pytest.raises(NotFoundError, match="has no version 7"):
        churn.get_version("churn", 7)
    # a misspelt model is named as not registered, not as one without that version
    with pytest.raises(ModelNotFoundError, match=r"^model 'chrun' is not registered$"):
        churn.get_version("chrun", 1)


def test_only_approved_versions_can_be_served(churn: Registry) -> None:
    pending = add(churn, VersionStatus.PENDING)
    with pytest.raises(ConflictError, match="is pending_approval, only approved versions can be served"):
        churn.set_alias("churn", CHAMPION, pending, actor=ACTOR)
    assert churn.get_alias("churn") is None
    churn.set_status("churn", pending, VersionStatus.APPROVED, actor="reviewer", reason="looks good")
    assert churn.set_alias("churn", CHAMPION, pending, actor=ACTOR).version == pending


def test_promotion_and_rollback_keep_the_previous_version(churn: Registry) -> None:
    first, second = add(churn), add(churn)
    churn.set_alias("churn", CHAMPION, first, actor=ACTOR)
    moved = churn.set_alias("churn", CHAMPION, second, actor=ACTOR, reason="better auc")
    assert (moved.version, moved.previous_version) == (second, first)
    back = churn.rollback("churn", actor="oncall")
    assert (back.version, back.previous_version) == (first, second)
    assert back.reason == f"rollback from {second}"
    assert churn.get_alias("churn").version == first  # type: ignore[union-attr]


def test_rollbacks_one_after_another_go_further_back_never_to_the_version_rolled_back_from(churn: Registry) -> None:
    v1, v2, v3 = add(churn), add(churn), add(churn)
    for number in (v1, v2, v3):
        churn.set_alias("churn", CHAMPION, number, actor=ACTOR)
    assert churn.rollback("churn", actor="oncall").version == v2
    back = churn.rollback("churn", actor="oncall")  # v2 was bad too: back to v1, not to v3 again
    assert (back.version, back.previous_version, back.reason) == (v1, v2, f"rollback from {v2}")
    with pytest.raises(ConflictError, match="has no previous version to roll back to"):
        churn.rollback("churn", actor="oncall")
    assert churn.get_alias("churn").version == v1  # type: ignore[union-attr]


def test_a_promotion_after_a_rollback_is_remembered_and_a_version_rejected_since_is_passed_over(
    churn: Registry,
) -> None:
    v1, v2, v3, v4 = add(churn), add(churn), add(churn), add(churn)
    for number in (v1, v2, v3):
        churn.set_alias("churn", CHAMPION, number, actor=ACTOR)
    churn.rollback("churn", actor="oncall")  # v2 serves; v1 before it
    churn.set_alias("churn", CHAMPION, v4, actor=ACTOR)
    assert churn.rollback("churn", actor="oncall").version == v2  # what served before v4
    churn.set_alias("churn", CHAMPION, v4, actor=ACTOR)  # v1, v2 before it
    churn.set_status("churn", v2, VersionStatus.REJECTED, actor="reviewer", reason="label leak")
    assert churn.rollback("churn", actor="oncall").version == v1  # v2 is never served again
    # the champion retired: v3 and v4, rolled back from, are no fallback; promoted again, nothing is before v4
    churn.set_status("churn", v1, VersionStatus.ARCHIVED, actor="reviewer", reason="retired")
    assert churn.get_alias("churn") is None
    churn.set_alias("churn", CHAMPION, v4, actor=ACTOR)
    with pytest.raises(ConflictError, match="has no previous version to roll back to"):
        churn.rollback("churn", actor="oncall")
    # promoting the version that serves adds nothing to go back to
    churn.set_alias("churn", CHAMPION, v4, actor=ACTOR)
    with pytest.raises(ConflictError, match="has no previous version to roll back to"):
        churn.rollback("churn", actor="oncall")
    churn.set_alias("churn", CHAMPION, v3, actor=ACTOR)
    churn.set_status("churn", v4, VersionStatus.REJECTED, actor="reviewer", reason="no")  # not the champion
    with pytest.raises(ConflictError, match="has no previous version that is still approved to roll back to"):
        churn.rollback("churn", actor="oncall")


def as_written_before_its_history(registry: Registry, **changes: Any) -> None:
    """Rewrite the stored champion alias as a release before `served_before` wrote it, with `changes`."""
    key = {"pk": {"S": "MODEL#churn"}, "sk": {"S": "ALIAS#champion"}}
    item = registry.client.get_item(TableName=registry.table, Key=key)["Item"]
    document = {k: v for k, v in json.loads(item["doc"]["S"]).items() if k != "served_before"}
    registry.client.put_item(TableName=registry.table, Item={**item, "doc": {"S": json.dumps({**document, **changes})}})


def racing(registry: Registry, monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[], None]) -> None:
    """Let `meanwhile` run once, between the registry's next read of an alias and whatever it does with it."""
    read = registry.get_alias

    def read_then_race(name: str, alias: str = CHAMPION) -> Any:
        found = read(name, alias)
        monkeypatch.setattr(registry, "get_alias", read)  # once: the later reads see what is stored
        meanwhile()
        return found

    monkeypatch.setattr(registry, "get_alias", read_then_race)


def test_an_alias_written_before_its_history_was_kept_rolls_back_to_its_previous_version(churn: Registry) -> None:
    v1, v2 = add(churn), add(churn)
    churn.set_alias("churn", CHAMPION, v1, actor=ACTOR)
    churn.set_alias("churn", CHAMPION, v2, actor=ACTOR)
    as_written_before_its_history(churn)
    assert churn.get_alias("churn").served_before is None  # type: ignore[union-attr]
    assert churn.rollback("churn", actor="oncall").version == v1
    # an older record could remember the version it serves (a promotion of the champion wrote one)
    as_written_before_its_history(churn, version=v1, previous_version=v1, reason="")
    with pytest.raises(ConflictError, match="has no previous version to roll back to"):
        churn.rollback("churn", actor="oncall")


def test_an_alias_a_rollback_wrote_before_its_history_was_kept_does_not_go_back_to_the_version_rolled_from(
    churn: Registry,
) -> None:
    v1, v2, v3 = add(churn), add(churn), add(churn)
    for number in (v1, v2, v3):
        churn.set_alias("churn", CHAMPION, number, actor=ACTOR)
    churn.rollback("churn", actor="oncall")  # v2 serves
    as_written_before_its_history(churn)
    stored = churn.get_alias("churn")
    assert stored is not None and (stored.previous_version, stored.reason) == (v3, f"rollback from {v3}")
    with pytest.raises(ConflictError, match="has no previous version to roll back to"):
        churn.rollback("churn", actor="oncall")


def test_a_rollback_whose_alias_moved_away_and_back_meanwhile_changes_nothing(
    churn: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1, v2, v3 = add(churn), add(churn), add(churn)
    churn.set_alias("churn", CHAMPION, v1, actor=ACTOR)
    churn.set_alias("churn", CHAMPION, v2, actor=ACTOR)
    other = Registry(churn.table, churn.client)

    def away_and_back() -> None:  # v2 -> v3 -> v2: the same version, another history
        other.set_alias("churn", CHAMPION, v3, actor="bob")
        other.set_alias("churn", CHAMPION, v2, actor="bob")

    racing(churn, monkeypatch, away_and_back)
    with pytest.raises(ConflictError, match="moved concurrently"):
        churn.rollback("churn", actor=ACTOR)
    alias = other.get_alias("churn")
    assert alias is not None and (alias.version, alias.served_before) == (v2, [v1, v2, v3])


def test_rollback_without_history_is_a_conflict(churn: Registry) -> None:
    with pytest.raises(ConflictError, match="no previous version"):
        churn.rollback("churn", actor=ACTOR)
    churn.set_alias("churn", CHAMPION, add(churn), actor=ACTOR)
    with pytest.raises(ConflictError, match="no previous version"):
        churn.rollback("churn", actor=ACTOR)


def test_a_rollback_that_would_overwrite_a_concurrent_promotion_changes_nothing(
    churn: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN v2 the champion after v1, and bob promoting v3 while alice rolls back
    v1, v2, v3 = add(churn), add(churn), add(churn)
    churn.set_alias("churn", CHAMPION, v1, actor=ACTOR)
    churn.set_alias("churn", CHAMPION, v2, actor=ACTOR)
    other = Registry(churn.table, churn.client)
    # bob's promotion lands between alice's read of the alias and her write
    racing(churn, monkeypatch, lambda: other.set_alias("churn", CHAMPION, v3, actor="bob"))
    with pytest.raises(ConflictError, match=f"the champion of 'churn' is v{v3}, not v{v2} as expected"):
        churn.rollback("churn", actor=ACTOR)
    # THEN bob's promotion stands: a rollback moves the alias back only from the version it read
    alias = other.get_alias("churn")
    assert alias is not None and (alias.version, alias.previous_version) == (v3, v2)


def test_registry_reads_are_strongly_consistent_and_a_runs_version_is_found_by_its_marker(
    churn: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlcore.registry.table import _pk, _run_marker_sk

    # DynamoDB's default read may miss a write of the last second; the registry decides its next write by its reads
    v1 = add(churn)
    churn.set_alias("churn", CHAMPION, v1, actor=ACTOR)
    calls: list[tuple[str, dict[str, Any]]] = []
    for operation in ("get_item", "query"):
        made = getattr(churn.client, operation)
        monkeypatch.setattr(
            churn.client, operation, lambda made=made, op=operation, **kw: calls.append((op, kw)) or made(**kw)
        )
    assert churn.get_alias("churn").version == v1  # type: ignore[union-attr]
    assert churn.get_version("churn", v1).run_id == f"run-{v1}"
    found = churn.find_version_by_run("churn", f"run-{v1}")  # a retried registration step asks
    assert found is not None and found.version == v1
    # the run's marker and the version it names, read consistently: not a listing, which may lag
    assert [(op, kw["Key"]["sk"]["S"]) for op, kw in calls][-2:] == [
        ("get_item", _run_marker_sk(f"run-{v1}")), ("get_item", f"VERSION#{v1:08d}")
    ]  # fmt: skip
    assert [op for op, _ in calls] == ["get_item"] * 4 and all(kw["ConsistentRead"] is True for _, kw in calls)
    # a version registered before markers were written is still found, by listing the model's versions
    churn.client.delete_item(TableName=churn.table, Key={"pk": _pk("churn"), "sk": {"S": _run_marker_sk(f"run-{v1}")}})
    found = churn.find_version_by_run("churn", f"run-{v1}")
    assert found is not None and found.version == v1
    assert churn.find_version_by_run("churn", "run-never") is None


@pytest.mark.parametrize(
    ("reasons", "lost_race"),
    [
        (["None", "ConditionalCheckFailed"], True),
        (["TransactionConflict", "None"], True),  # another transaction was writing the item
        (["ThrottlingError", "ConditionalCheckFailed"], True),
        ([], True),
        (None, True),  # no CancellationReasons at all
        (["None", "None"], True),  # no item named a cause: as none given
        (["None", "ThrottlingError"], False),  # DynamoDB's fault, not a race: its error, which callers answer 503
        (["ValidationError"], False),
    ],
)
def test_a_cancelled_write_is_a_conflict_only_when_another_write_got_there_first(
    churn: Registry, monkeypatch: pytest.MonkeyPatch, reasons: list[str] | None, lost_race: bool
) -> None:
    pending = add(churn, VersionStatus.PENDING)
    response: dict[str, Any] = {"Error": {"Code": "TransactionCanceledException"}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": r} for r in reasons]
    cancelled = churn.client.exceptions.TransactionCanceledException(response, "TransactWriteItems")

    def cancel(**_: Any) -> None:
        raise cancelled

    monkeypatch.setattr(churn.client, "transact_write_items", cancel)
    with pytest.raises(ConflictError if lost_race else type(cancelled)) as raised:
        churn.set_status("churn", pending, VersionStatus.APPROVED, actor=ACTOR)
    if lost_race:
        assert str(raised.value) == f"version {pending} of 'churn' changed concurrently"
    else:
        assert raised.value is cancelled
    monkeypatch.undo()
    assert churn.get_version("churn", pending).status is VersionStatus.PENDING


def test_every_change_leaves_an_audit_record(churn: Registry) -> None:
    first = add(churn, VersionStatus.PENDING)
    churn.set_status("churn", first, VersionStatus.APPROVED, actor="reviewer", reason="ok")
    second = add(churn)
    churn.set_alias("churn", CHAMPION, first, actor=ACTOR)
    churn.set_alias("churn", CHAMPION, second, actor=ACTOR)
    churn.rollback("churn", actor="oncall")
    trail = churn.audit_trail("churn")
    assert [r.action for r in trail] == [
        "spec_registered",
        "version_registered",
        "status_changed",
        "version_registered",
        "alias_moved",
        "alias_moved",
        "alias_moved",
    ]
    assert trail[2].details == {"version": 1, "from": "pending_approval", "to": "approved", "reason": "ok"}
    assert trail[-1].actor == "oncall"
    assert trail[-1].details == {"alias": "champion", "from": 2, "to": 1, "reason": "rollback from 2"}


def test_alias_moved_concurrently_is_a_conflict(churn: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN version 1 serving, and two operators promoting versions 2 and 3
    first, second, third = add(churn), add(churn), add(churn)
    churn.set_alias("churn", CHAMPION, first, actor=ACTOR)
    other = Registry(churn.table, churn.client)
    read_alias = churn.get_alias

    def read_then_lose_the_race(name: str, alias: str = CHAMPION) -> Any:
        stale = read_alias(name, alias)
        other.set_alias(name, alias, third, actor="bob")  # bob's write lands between our read and write
        return stale

    monkeypatch.setattr(churn, "get_alias", read_then_lose_the_race)
    # WHEN alice's promotion writes based on what she read
    with pytest.raises(ConflictError, match="moved concurrently; read it again and retry"):
        churn.set_alias("churn", CHAMPION, second, actor=ACTOR)
    # THEN bob's promotion stands, and only it is audited
    assert other.get_alias("churn").version == third  # type: ignore[union-attr]
    moves = [r.details["to"] for r in other.audit_trail("churn") if r.action == "alias_moved"]
    assert moves == [first, third]


def test_status_changed_concurrently_is_a_conflict(churn: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    number = add(churn, VersionStatus.PENDING)
    read = churn.get_version

    def read_then_lose_the_race(name: str, n: int) -> ModelVersion:
        stale = read(name, n)
        Registry(churn.table, churn.client).set_status(name, n, VersionStatus.REJECTED, actor="bob")
        return stale

    monkeypatch.setattr(churn, "get_version", read_then_lose_the_race)
    with pytest.raises(ConflictError):
        churn.set_status("churn", number, VersionStatus.APPROVED, actor=ACTOR)
    assert Registry(churn.table, churn.client).get_version("churn", number).status is VersionStatus.REJECTED


def test_monitor_state_round_trips(churn: Registry) -> None:
    assert churn.get_monitor_state("churn") == MonitorState()
    churn.put_monitor_state("churn", MonitorState(last_check_at="2025-03-01T12:00:00+00:00"))
    state = churn.get_monitor_state("churn")
    assert (state.last_check_at, state.revision) == ("2025-03-01T12:00:00+00:00", 1)


def test_a_monitor_state_write_from_a_stale_read_is_a_conflict(churn: Registry) -> None:
    """GIVEN two writers that read the same state, WHEN both write, THEN the second loses, not silently wins."""
    first, second = churn.get_monitor_state("churn"), churn.get_monitor_state("churn")
    churn.put_monitor_state("churn", first.model_copy(update={"retrains": ["a"]}))
    with pytest.raises(ConflictError, match="monitor state of 'churn' changed concurrently"):
        churn.put_monitor_state("churn", second.model_copy(update={"retrains": ["b"]}))
    later = churn.get_monitor_state("churn")
    churn.put_monitor_state("churn", later.model_copy(update={"retrains": ["a", "c"]}))
    with pytest.raises(ConflictError):
        churn.put_monitor_state("churn", later.model_copy(update={"retrains": ["a", "d"]}))
    assert churn.get_monitor_state("churn").retrains == ["a", "c"]


def test_update_monitor_state_applies_a_change_again_after_a_concurrent_write(churn: Registry) -> None:
    other = Registry(churn.table, churn.client)
    calls: list[list[str]] = []

    def append(state: MonitorState) -> MonitorState:
        calls.append(list(state.retrains))
        if len(calls) == 1:  # another writer gets in between this read and its write
            other.put_monitor_state("churn", state.model_copy(update={"retrains": ["other"]}))
        return state.model_copy(update={"retrains": [*state.retrains, "mine"]})

    assert churn.update_monitor_state("churn", append).retrains == ["other", "mine"]
    assert calls == [[], ["other"]]


def test_two_first_promotions_racing_one_wins_one_conflicts(churn: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first write of an alias is conditional too: the slower of two first promotions must not overwrite."""
    first, second = add(churn), add(churn)
    read = churn.get_alias

    def read_then_lose_the_race(name: str, alias: str = CHAMPION) -> Any:
        seen = read(name, alias)  # no alias yet ...
        Registry(churn.table, churn.client).set_alias(name, alias, first, actor="bob")  # ... until bob promotes
        return seen

    monkeypatch.setattr(churn, "get_alias", read_then_lose_the_race)
    with pytest.raises(ConflictError, match="moved concurrently"):
        churn.set_alias("churn", CHAMPION, second, actor=ACTOR)
    winner = Registry(churn.table, churn.client).get_alias("churn", CHAMPION)
    assert winner is not None
    assert (winner.version, winner.previous_version) == (first, None)


# -- rollouts: the challenger alias --------------------------------------------------------------


def test_a_challenger_alias_records_its_mode_and_weight(churn: Registry) -> None:
    first, second = add(churn), add(churn)
    churn.set_alias("churn", CHAMPION, first, actor=ACTOR)
    record = churn.set_alias(
        "churn", CHALLENGER, second, actor=ACTOR, reason="try v2", mode=RolloutMode.CANARY, weight=0.1
    )
    assert (record.alias, record.version, record.mode, record.weight) == (CHALLENGER, second, RolloutMode.CANARY, 0.1)
    assert churn.get_alias("churn", CHALLENGER) == record
    assert churn.get_alias("churn", CHAMPION).version == first  # type: ignore[union-attr]
    # the champion's alias carries no rollout
    assert (churn.get_alias("churn").mode, churn.get_alias("churn").weight) == (None, 0.0)  # type: ignore[union-attr]
    [moved] = [r for r in churn.audit_trail("churn") if r.action == "alias_moved" and r.details["alias"] == CHALLENGER]
    assert moved.details == {"alias": CHALLENGER, "from": None, "to": second, "reason": "try v2", "mode": "canary",
                             "weight": 0.1}  # fmt: skip


def test_moving_the_challenger_to_shadow_keeps_the_previous_version(churn: Registry) -> None:
    first, second = add(churn), add(churn)
    churn.set_alias("churn", CHALLENGER, first, actor=ACTOR, mode=RolloutMode.CANARY, weight=0.5)
    moved = churn.set_alias("churn", CHALLENGER, second, actor=ACTOR, mode=RolloutMode.SHADOW)
    assert (moved.previous_version, moved.mode, moved.weight) == (first, RolloutMode.SHADOW, 0.0)


@pytest.mark.parametrize("weight", [-0.1, 1.5])
def test_a_weight_outside_zero_to_one_is_refused(churn: Registry, weight: float) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="weight"):
        churn.set_alias("churn", CHALLENGER, add(churn), actor=ACTOR, mode=RolloutMode.CANARY, weight=weight)
    assert churn.get_alias("churn", CHALLENGER) is None


def test_remove_alias_ends_the_rollout_with_an_audit_record(churn: Registry) -> None:
    first, second = add(churn), add(churn)
    churn.set_alias("churn", CHAMPION, first, actor=ACTOR)
    churn.set_alias("churn", CHALLENGER, second, actor=ACTOR, mode=RolloutMode.SHADOW)
    churn.remove_alias("churn", CHALLENGER, actor="oncall", reason="v2 disagrees too often")
    assert churn.get_alias("churn", CHALLENGER) is None
    assert churn.get_alias("churn", CHAMPION).version == first  # type: ignore[union-attr]
    last = churn.audit_trail("churn")[-1]
    assert (last.action, last.actor) == ("alias_removed", "oncall")
    assert last.details == {"alias": CHALLENGER, "version": second, "reason": "v2 disagrees too often"}


def test_removing_an_alias_that_is_not_there_is_a_conflict(churn: Registry) -> None:
    with pytest.raises(ConflictError, match="model 'churn' has no 'challenger' alias"):
        churn.remove_alias("churn", CHALLENGER, actor=ACTOR)
    assert "alias_removed" not in actions(churn)


def test_removing_an_alias_that_moved_concurrently_is_a_conflict(
    churn: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN alice read the challenger at version 1 while bob moved it to version 2
    first, second = add(churn), add(churn)
    churn.set_alias("churn", CHALLENGER, first, actor=ACTOR, mode=RolloutMode.CANARY, weight=0.1)
    other = Registry(churn.table, churn.client)
    read_alias = churn.get_alias

    def read_then_lose_the_race(name: str, alias: str = CHAMPION) -> Any:
        stale = read_alias(name, alias)
        other.set_alias(name, alias, second, actor="bob", mode=RolloutMode.CANARY, weight=0.2)
        return stale

    monkeypatch.setattr(churn, "get_alias", read_then_lose_the_race)
    # WHEN alice removes what she read
    with pytest.raises(ConflictError, match="moved concurrently"):
        churn.remove_alias("churn", CHALLENGER, actor=ACTOR)
    # THEN bob's challenger stays, and nothing was audited as removed
    assert other.get_alias("churn", CHALLENGER).version == second  # type: ignore[union-attr]
    assert "alias_removed" not in actions(other)


# -- paging, revisions and messages ----------------------------------------------------------------


class OnePerPage:
    """The DynamoDB client, answering one item per page: every read must follow LastEvaluatedKey."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.pages = 0

    def scan(self, **kwargs: Any) -> Any:
        self.pages += 1
        return self.client.scan(**{**kwargs, "Limit": 1})

    def query(self, **kwargs: Any) -> Any:
        self.pages += 1
        return self.client.query(**{**kwargs, "Limit": min(kwargs.get("Limit", 1), 1)})

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_every_listing_reads_every_page(churn: Registry, churn_spec: ModelSpec) -> None:
    for name in ("alpha", "zeta"):
        churn.put_spec(churn_spec.model_copy(update={"name": name}), actor="test")
    for _ in range(3):
        add(churn)
    paged = Registry(churn.table, OnePerPage(churn.client))  # type: ignore[arg-type]
    assert [s.name for s in paged.list_specs()] == ["alpha", "churn", "zeta"]
    assert [v.version for v in paged.list_versions("churn")] == [1, 2, 3]
    assert len(paged.audit_trail("churn")) == len(churn.audit_trail("churn")) == 4
    assert paged.client.pages > 10  # type: ignore[attr-defined]


def test_a_limited_query_stops_at_its_limit(churn: Registry) -> None:
    for _ in range(3):
        add(churn)
    newest_two = churn._query("churn", "VERSION#", newest_first=True, limit=2)
    assert [json.loads(doc)["version"] for doc in newest_two] == [3, 2]


def test_writes_return_the_revision_they_stored(churn: Registry) -> None:
    number = add(churn, VersionStatus.PENDING)
    assert churn.get_version("churn", number).revision == 1
    approved = churn.set_status("churn", number, VersionStatus.APPROVED, "test")
    assert approved.revision == churn.get_version("churn", number).revision == 2
    state = churn.put_monitor_state("churn", MonitorState(last_check_at="2025-03-01T00:00:00"))
    assert state.revision == churn.get_monitor_state("churn").revision == 1
    again = churn.put_monitor_state("churn", state.model_copy(update={"last_check_at": "2025-03-02T00:00:00"}))
    assert again.revision == 2


def test_versions_are_counted_per_model(churn: Registry, churn_spec: ModelSpec) -> None:
    churn.put_spec(churn_spec.model_copy(update={"name": "upsell"}), actor="test")
    assert (churn.allocate_version("churn"), churn.allocate_version("upsell"), churn.allocate_version("churn")) == (
        1, 1, 2
    )  # fmt: skip


def test_a_registered_version_is_audited_with_its_number_status_and_metrics(churn: Registry) -> None:
    add(churn)
    [registered] = [r for r in churn.audit_trail("churn") if r.action == "version_registered"]
    assert registered.details == {"version": 1, "status": "approved", "metrics": {"roc_auc": 0.8}}


def test_conflicts_and_absences_say_what_they_are_about(
    churn: Registry, churn_spec: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ModelNotFoundError, match=r"^model 'nope' is not registered$"):
        churn.get_spec("nope")
    number = add(churn, VersionStatus.PENDING)
    stale = churn.get_version("churn", number)
    churn.set_status("churn", number, VersionStatus.APPROVED, "test")
    monkeypatch.setattr(churn, "get_version", lambda name, version: stale)
    with pytest.raises(ConflictError, match=r"^version 1 of 'churn' changed concurrently$"):
        churn.set_status("churn", number, VersionStatus.REJECTED, "test")
    monkeypatch.undo()
    stale_spec = churn._get("churn", "SPEC", SpecRecord)
    churn.put_spec(churn_spec, actor="test")
    monkeypatch.setattr(churn, "_get", lambda name, sk, model: stale_spec)
    with pytest.raises(ConflictError, match=r"^model 'churn' changed concurrently$"):
        churn.put_spec(churn_spec, actor="test")


def test_a_challengers_rollback_moves_the_challenger_not_the_champion(churn: Registry) -> None:
    for _ in range(3):
        add(churn)
    churn.set_alias("churn", CHAMPION, 1, "test")
    churn.set_alias("churn", "challenger", 2, "test", mode=RolloutMode.CANARY, weight=0.1)
    # the rollout goes on as it was set last, with the rolled-back version: a shadow stays a shadow, a canary
    # keeps its share
    for mode, weight in ((RolloutMode.SHADOW, 0.0), (RolloutMode.CANARY, 0.25)):
        churn.set_alias("churn", "challenger", 3, "test", mode=mode, weight=weight)
        back = churn.rollback("churn", "test", alias="challenger")
        assert (back.version, back.mode, back.weight) == (2, mode, weight)
        stored = churn.get_alias("churn", "challenger")
        assert stored is not None and (stored.version, stored.mode, stored.weight) == (2, mode, weight)
    assert churn.get_alias("churn", CHAMPION).version == 1  # type: ignore[union-attr]


def test_a_move_expecting_another_version_says_what_serves_and_what_to_do(churn: Registry) -> None:
    for _ in range(3):
        add(churn)
    churn.set_alias("churn", CHAMPION, 2, "test")
    told = (
        "the champion of 'churn' is v2, not {expected} as expected (as read, or as when version 3 was gated against "
        "it): not moved; read it again (a pipeline run: run it again to gate against what serves now)"
    )
    for expected, named in ((1, "v1"), (None, "no version")):
        with pytest.raises(ConflictError, match=f"^{re.escape(told.format(expected=named))}$"):
            churn.set_alias("churn", CHAMPION, 3, "test", if_current=expected)
    with pytest.raises(ConflictError, match=r"^the challenger of 'churn' is no version, not v2 as expected"):
        churn.set_alias("churn", "challenger", 3, "test", mode=RolloutMode.CANARY, weight=0.1, if_current=2)
    assert churn.get_alias("churn").version == 2  # type: ignore[union-attr]


def test_an_alias_moved_without_a_reason_records_an_empty_one(churn: Registry) -> None:
    add(churn)
    churn.set_alias("churn", CHAMPION, 1, "test")
    [moved] = [r for r in churn.audit_trail("churn") if r.action == "alias_moved"]
    assert moved.details["reason"] == ""


def test_update_monitor_state_gives_up_after_its_attempts_with_short_growing_pauses(
    churn: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlcore.registry import table as table_module

    writes, pauses = [], []

    def always_stale(name: str, state: MonitorState) -> MonitorState:
        writes.append(state)
        raise ConflictError("the monitor state of 'churn' changed concurrently")

    monkeypatch.setattr(churn, "put_monitor_state", always_stale)
    monkeypatch.setattr(table_module.time, "sleep", pauses.append)
    with pytest.raises(ConflictError):
        churn.update_monitor_state("churn", lambda state: state.model_copy(update={"last_check_at": "x"}))
    assert len(writes) == table_module.UPDATE_ATTEMPTS
    assert len(pauses) == table_module.UPDATE_ATTEMPTS - 1
    assert all(0 <= pause <= table_module.UPDATE_BACKOFF_SECONDS * (i + 1) for i, pause in enumerate(pauses))
    assert max(pauses) < 1


def test_a_registered_version_is_returned_at_its_stored_revision(churn: Registry) -> None:
    number = churn.allocate_version("churn")
    registered = churn.register_version(version(number), actor=ACTOR)
    assert registered.revision == churn.get_version("churn", number).revision == 1
    # the returned record can be changed at once: its revision is the one the condition expects
    assert churn.set_status("churn", number, VersionStatus.REJECTED, ACTOR).status == VersionStatus.REJECTED


def test_a_status_change_and_an_alias_removal_without_a_reason_record_an_empty_one(churn: Registry) -> None:
    number = add(churn, VersionStatus.PENDING)
    churn.set_status("churn", number, VersionStatus.APPROVED, ACTOR)
    churn.set_alias("churn", "challenger", number, ACTOR, mode=RolloutMode.SHADOW)
    churn.remove_alias("churn", "challenger", ACTOR)
    details = {r.action: r.details for r in churn.audit_trail("churn")}
    assert details["status_changed"]["reason"] == ""
    assert details["alias_removed"]["reason"] == ""


def test_an_unknown_run_id_is_not_found_by_name(registry: Registry) -> None:
    with pytest.raises(NotFoundError, match=r"^no run 'run-404' was recorded$"):
        registry.get_run("run-404")


# -- status rules --------------------------------------------------------------------------------------

P, A, R, X = VersionStatus.PENDING, VersionStatus.APPROVED, VersionStatus.REJECTED, VersionStatus.ARCHIVED


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([P, A], None),
        ([P, R], None),
        ([P, A, X], None),
        ([P, A, R], None),  # a recall
        ([P, X], "is pending_approval: it cannot become archived (it may become approved, rejected)"),
        ([P, R, A], "is rejected: it cannot become approved (rejected is final)"),
        ([P, A, X, A], "is archived: it cannot become approved (archived is final)"),
        ([P, A, P], "is approved: it cannot become pending_approval (it may become archived, rejected)"),
        ([P, A, A], "is approved: it cannot become approved"),
    ],
)
def test_a_version_changes_status_by_the_rules_only(
    churn: Registry, path: list[VersionStatus], refused: str | None
) -> None:
    number = add(churn, path[0])
    *allowed, last = path[1:]
    for status in allowed:
        churn.set_status("churn", number, status, actor=ACTOR)
    if refused is None:
        assert churn.set_status("churn", number, last, actor=ACTOR).status is last
        return
    before = churn.get_version("churn", number)
    with pytest.raises(ConflictError) as error:
        churn.set_status("churn", number, last, actor=ACTOR)
    assert refused in str(error.value)
    assert churn.get_version("churn", number).status is before.status  # nothing written
    assert actions(churn).count("status_changed") == len(allowed)


@pytest.mark.parametrize("status", [R, X])
def test_a_champion_taken_out_of_serving_falls_back_to_the_newest_other_approved_version(
    churn: Registry, status: VersionStatus
) -> None:
    # GIVEN v1 and v2 approved, v3 rejected, v4 pending, and v5 the champion
    v1, v2 = add(churn), add(churn)
    v3 = add(churn, P)
    churn.set_status("churn", v3, R, actor=ACTOR)
    add(churn, P)
    v5 = add(churn)
    churn.set_alias("churn", CHAMPION, v1, actor=ACTOR)
    churn.set_alias("churn", CHAMPION, v5, actor=ACTOR)
    # WHEN the champion is rejected (recalled) or archived
    churn.set_status("churn", v5, status, actor="carol", reason="bias found")
    # THEN the champion is v2 (the newest other approved, not v1, not the rejected or pending ones), in the
    # same transaction as the status change, both audited
    alias = churn.get_alias("churn")
    assert alias is not None and (alias.version, alias.previous_version) == (v2, v5)
    assert alias.reason == f"version {v5} {status}: bias found"  # `mlops models show` says why it serves
    trail = churn.audit_trail("churn")[-2:]
    assert [(r.action, r.actor) for r in trail] == [("status_changed", "carol"), ("champion_fallback", "carol")]
    assert trail[1].details == {"alias": CHAMPION, "from": v5, "to": v2, "reason": f"version {v5} {status}: bias found"}


def test_a_champion_rejected_with_no_other_approved_version_leaves_no_champion(churn: Registry) -> None:
    only = add(churn)
    churn.set_alias("churn", CHAMPION, only, actor=ACTOR)
    churn.set_status("churn", only, R, actor=ACTOR)  # no reason given: the record says what happened, no more
    assert churn.get_alias("churn") is None
    assert actions(churn)[-2:] == ["status_changed", "alias_removed"]
    removed = churn.audit_trail("churn")[-1].details
    assert removed == {"alias": CHAMPION, "version": only, "reason": f"version {only} rejected"}


def test_a_challenger_taken_out_of_serving_ends_its_rollout_and_the_champion_stays(churn: Registry) -> None:
    champion, challenger = add(churn), add(churn)
    churn.set_alias("churn", CHAMPION, champion, actor=ACTOR)
    churn.set_alias("churn", CHALLENGER, challenger, actor=ACTOR, mode=RolloutMode.CANARY, weight=0.1)
    churn.set_status("churn", challenger, X, actor=ACTOR, reason="superseded, see MLX:")
    assert churn.get_alias("churn", CHALLENGER) is None
    assert churn.get_alias("churn").version == champion  # type: ignore[union-attr]
    removed = churn.audit_trail("churn")[-1]
    assert (removed.action, removed.details) == (
        "alias_removed",
        {"alias": CHALLENGER, "version": challenger, "reason": f"version {challenger} archived: superseded, see MLX:"},
    )


@pytest.mark.parametrize("promoted_again", [False, True])
def test_a_fallback_never_lands_on_a_version_the_champion_was_rolled_back_from(
    churn: Registry, promoted_again: bool
) -> None:
    # GIVEN v1, v2 and v3 approved; v3 promoted over v2 and rolled back from (still approved), v2 serving again
    v1, v2, v3 = add(churn), add(churn), add(churn)
    churn.set_alias("churn", CHAMPION, v2, actor=ACTOR)
    churn.set_alias("churn", CHAMPION, v3, actor=ACTOR)
    churn.rollback("churn", actor="bob", reason="p99 doubled")
    if promoted_again:  # someone served v3 again on purpose since: it is a fallback like any other
        churn.set_alias("churn", CHAMPION, v3, actor=ACTOR)
        churn.set_alias("churn", CHAMPION, v2, actor=ACTOR)
    # WHEN v2 is archived
    churn.set_status("churn", v2, X, actor="carol")
    # THEN the champion falls back to v1, the newest approved version it was not rolled back from
    assert churn.get_alias("churn").version == (v3 if promoted_again else v1)  # type: ignore[union-attr]


def test_a_champion_whose_only_other_approved_version_was_rolled_back_from_has_no_champion(churn: Registry) -> None:
    v1, v2 = add(churn), add(churn)
    churn.set_alias("churn", CHAMPION, v1, actor=ACTOR)
    churn.set_alias("churn", CHAMPION, v2, actor=ACTOR)
    churn.rollback("churn", actor="bob")
    churn.set_status("churn", v1, R, actor="carol", reason="label leak")
    assert churn.get_alias("churn") is None
    removed = churn.audit_trail("churn")[-1]
    assert (removed.action, removed.details["reason"]) == (
        "alias_removed",
        f"version {v1} rejected: label leak (no fallback: v{v2} was rolled back from)",
    )


@pytest.mark.parametrize("status", [R, X])
def test_a_fallback_onto_the_challenger_ends_its_rollout(churn: Registry, status: VersionStatus) -> None:
    # GIVEN v2 the champion and v3 (the newest other approved) its shadow challenger
    add(churn)
    v2, v3 = add(churn), add(churn)
    churn.set_alias("churn", CHAMPION, v2, actor=ACTOR)
    churn.set_alias("churn", CHALLENGER, v3, actor=ACTOR, mode=RolloutMode.SHADOW)
    # WHEN the champion is taken out of serving THEN v3 is champion and no longer its own challenger
    churn.set_status("churn", v2, status, actor="carol", reason="bias found")
    assert churn.get_alias("churn").version == v3  # type: ignore[union-attr]
    assert churn.get_alias("churn", CHALLENGER) is None
    removed = [r.details for r in churn.audit_trail("churn") if r.action == "alias_removed"]
    assert removed == [{"alias": CHALLENGER, "version": v3,
                        "reason": f"version {v3} is champion now (version {v2} {status}: bias found)"}]  # fmt: skip


def test_a_fallback_that_would_overwrite_a_concurrent_promotion_changes_nothing(
    churn: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN v2 the champion, and bob promoting v3 while alice rejects v2
    _, v2, v3 = add(churn), add(churn), add(churn)
    churn.set_alias("churn", CHAMPION, v2, actor=ACTOR)
    other = Registry(churn.table, churn.client)
    listed = churn.list_versions

    def list_then_lose_the_race(name: str) -> list[ModelVersion]:
        found = listed(name)
        other.set_alias(name, CHAMPION, v3, actor="bob")  # lands between alice's read of the alias and her write
        return found

    monkeypatch.setattr(churn, "list_versions", list_then_lose_the_race)
    with pytest.raises(ConflictError, match="changed concurrently"):
        churn.set_status("churn", v2, R, actor=ACTOR)
    # THEN bob's promotion stands and v2 is still approved: the status change and the fallback are one write
    assert other.get_alias("churn").version == v3  # type: ignore[union-attr]
    assert other.get_version("churn", v2).status is A


# -- the pipeline's promotion ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gated_against", "serving", "moved"),
    [
        (1, 1, True),  # gated against v1, v1 serves: v3 takes over
        (1, 2, False),  # someone promoted v2 after the gate: v2 stands
        (None, None, True),  # gated against no champion, still none
        (None, 1, False),  # a champion appeared meanwhile
        (2, None, False),  # the champion was recalled meanwhile
    ],
)
def test_the_pipeline_promotes_only_over_the_champion_its_candidate_was_gated_against(
    churn: Registry, gated_against: int | None, serving: int | None, moved: bool
) -> None:
    from mlcore.catalog import PromoteRequest
    from mlcore.registry import promote_version

    v1, v2, v3 = add(churn), add(churn), add(churn)
    assert (v1, v2) == (1, 2)
    if serving is not None:
        churn.set_alias("churn", CHAMPION, serving, actor="bob")
    request = PromoteRequest(model_name="churn", version=v3, gated=True, gated_against=gated_against)
    if moved:
        assert promote_version(request, registry=churn).version == v3
        return
    with pytest.raises(ConflictError, match=r"as when version 3 was gated against it\): not moved"):
        promote_version(request, registry=churn)
    alias = churn.get_alias("churn")
    assert (alias.version if alias else None) == serving  # the promotion made meanwhile stands


def test_a_person_promotes_over_whatever_serves(churn: Registry) -> None:
    from mlcore.catalog import PromoteRequest
    from mlcore.registry import promote_version

    v1, v2 = add(churn), add(churn)
    churn.set_alias("churn", CHAMPION, v1, actor="bob")
    assert promote_version(PromoteRequest(model_name="churn", version=v2), registry=churn).previous_version == v1


def test_a_run_registers_one_version_even_when_asked_twice_at_once(churn: Registry) -> None:
    # GIVEN run-7's version registered (under the number it allocated)
    first = churn.allocate_version("churn")
    churn.register_version(version(first, run_id="run-7"), actor=ACTOR)
    # WHEN a retried register step of the same run writes it again, under a number of its own
    second = churn.allocate_version("churn")
    with pytest.raises(ConflictError, match="or a version of run run-7, already exists"):
        churn.register_version(version(second, run_id="run-7"), actor=ACTOR)
    # THEN the run has one version
    assert [v.version for v in churn.list_versions("churn")] == [first]
    assert churn.find_version_by_run("churn", "run-7").version == first  # type: ignore[union-attr]


def test_an_alias_never_moves_to_a_version_whose_status_changed_after_it_was_read(
    churn: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN v1 serving, and alice promoting v2 while bob archives it
    v1, v2 = add(churn), add(churn)
    churn.set_alias("churn", CHAMPION, v1, actor=ACTOR)
    other = Registry(churn.table, churn.client)
    read_alias = churn.get_alias

    def read_then_lose_the_race(name: str, alias: str = CHAMPION) -> Any:
        found = read_alias(name, alias)
        other.set_status(name, v2, VersionStatus.ARCHIVED, actor="bob")  # after alice read v2 as approved
        return found

    monkeypatch.setattr(churn, "get_alias", read_then_lose_the_race)
    with pytest.raises(ConflictError):
        churn.set_alias("churn", CHAMPION, v2, actor=ACTOR)
    assert other.get_alias("churn").version == v1  # type: ignore[union-attr]


@pytest.mark.parametrize("archived", ["after the listing", "after the read"])
def test_a_fallback_never_lands_on_a_version_taken_out_of_serving_meanwhile(
    churn: Registry, monkeypatch: pytest.MonkeyPatch, archived: str
) -> None:
    # GIVEN v2 the champion, v1 its fallback, and bob archiving v1 while alice rejects v2: after alice listed
    # the versions (her read of v1 finds it archived) or after she read v1 as approved (her write's check fails)
    v1, v2 = add(churn), add(churn)
    churn.set_alias("churn", CHAMPION, v2, actor=ACTOR)
    other = Registry(churn.table, churn.client)
    listed, read_version = churn.list_versions, churn.get_version
    reads = []

    def list_then_lose_the_race(name: str) -> list[ModelVersion]:
        found = listed(name)
        other.set_status(name, v1, VersionStatus.ARCHIVED, actor="bob")
        return found

    def read_then_lose_the_race(name: str, number: int) -> ModelVersion:
        found = read_version(name, number)
        reads.append(number)
        if number == v1:  # alice has just read the fallback as approved
            other.set_status(name, v1, VersionStatus.ARCHIVED, actor="bob")
        return found

    if archived == "after the listing":
        monkeypatch.setattr(churn, "list_versions", list_then_lose_the_race)
        told = f"^version {v1} of 'churn' changed concurrently; read it again and retry$"
    else:
        monkeypatch.setattr(churn, "get_version", read_then_lose_the_race)
        told = f"^version {v2} of 'churn' changed concurrently$"
    with pytest.raises(ConflictError, match=told):
        churn.set_status("churn", v2, VersionStatus.REJECTED, actor=ACTOR)
    # THEN nothing of alice's landed: v2 approved and serving, v1 archived by bob
    assert other.get_alias("churn").version == v2  # type: ignore[union-attr]
    assert (other.get_version("churn", v2).status, other.get_version("churn", v1).status) == (
        VersionStatus.APPROVED, VersionStatus.ARCHIVED,
    )  # fmt: skip
    assert archived == "after the listing" or v1 in reads
