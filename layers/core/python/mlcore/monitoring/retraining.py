"""The request-retraining step: every trigger (schedule, new data, drift, degradation) is decided here.

For one model, atomically (a conditional write of its monitor state): a replayed event starts
nothing; a trigger the spec does not enable starts nothing; nothing new to learn starts nothing;
then the cool-down and the daily cap. The decision, started or not, goes to the audit trail.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from mlcore.catalog import (
    PipelineInput,
    RetrainingDecision,
    RetrainingRequest,
    RetrainingResult,
    Trigger,
    dataset_prefix,
)
from mlcore.data import (
    DatasetTables,
    dataset_root,
    dataset_sha256,
    feedback_rows,
    learned_already,
    learned_before,
    model_dataset,
    nothing_new_from,
    offline_files,
    training_fingerprint,
)
from mlcore.errors import DataValidationError, NotFoundError
from mlcore.registry import ModelVersion, MonitorState, Registry
from mlcore.schedules import parse_schedule
from mlcore.spec import ModelSpec
from mlcore.storage import ObjectStore, sha256_hex

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

RETRAINING = "retraining"  # the audit trail's actor
HANDLED_EVENTS_KEPT = 100  # per model: EventBridge redelivers within hours, not after 100 other events
NOTHING_NEW = "nothing new to learn"
EXECUTION_NAME_MAX = 80  # Step Functions' limit on an execution's name


def retrain_execution_name(model_name: str, trigger: str, event_id: str) -> str:
    """Deterministic per model, trigger and event, so a second delivery starts nothing; it begins with the whole
    model name, as a manual run's does (a run's id names its model).

    Step Functions allows 80 characters of `[A-Za-z0-9_-]`: the event id is shortened to what is left (16 characters
    at most; 10 for a 48-character name's degradation), and the digest keeps names of long or unusual event ids
    distinct after they are shortened.
    """
    digest = hashlib.sha256(f"{model_name}/{trigger}/{event_id}".encode()).hexdigest()[:8]
    named = f"{model_name}-{trigger.replace('_', '-')}"
    room = max(0, EXECUTION_NAME_MAX - len(named) - len(digest) - 2)  # the two dashes around the event id
    readable = re.sub(r"[^A-Za-z0-9_-]", "-", event_id)[: min(16, room)]
    return f"{named}-{readable}-{digest}"


QUERY_NOT_RUN = "the query's result"


def _replayed(event_id: str) -> str:
    return f"event {event_id} was already handled"


def _event_id(event: str) -> str:
    """The event id of a handled event (`<trigger>:<event id>`)."""
    return event.split(":", 1)[1]


def _switch(trigger: str) -> str:
    """The spec's switch for a trigger: `schedule`, `on_new_data`, `on_drift`, `on_degradation`."""
    return "schedule" if trigger == "schedule" else f"on_{trigger}"


def _model_of_key(key: str, specs: list[ModelSpec]) -> ModelSpec | None:
    return next((spec for spec in specs if key.startswith(dataset_prefix(spec.name))), None)


@dataclass
class Retraining:
    """The request step with what it reads and starts."""

    registry: Registry
    data: ObjectStore
    capture: ObjectStore
    sfn: SFNClient
    state_machine_arn: str
    now: datetime
    tables: DatasetTables | None = None  # the datasets database, for specs whose data is a Glue table

    def request(self, request: RetrainingRequest) -> RetrainingResult:
        """Decide on a request: for its model, or, for a schedule tick, for every model whose schedule is due."""
        if request.trigger == "schedule" and request.model_name is None:
            return RetrainingResult(decisions=[self._decide(spec, request) for spec in self._scheduled_due()])
        if request.trigger == "new_data":
            return self._data_drop(request)
        if request.model_name is None:
            raise NotFoundError(f"a {request.trigger} request names its model", field="model_name")
        return RetrainingResult(decisions=[self._decide(self.registry.get_spec(request.model_name), request)])

    def _scheduled_due(self) -> list[ModelSpec]:
        """The models whose schedule fired since it was last served (or since the champion was trained)."""
        due = []
        for spec in self.registry.list_specs():
            if spec.retrain.schedule is None or spec.retired:  # a retired model's schedule serves nothing
                continue
            state = self.registry.get_monitor_state(spec.name)
            champion = self.registry.champion(spec.name)
            since = state.schedule_served_at or (champion.created_at if champion else None)
            if since is None or parse_schedule(spec.retrain.schedule).due(datetime.fromisoformat(since), self.now):
                due.append(spec)
        return due

    def _data_drop(self, request: RetrainingRequest) -> RetrainingResult:
        """A dataset landed: wait out the debounce, then only the newest drop of the wait asks for a run."""
        key = request.key or ""
        spec = _model_of_key(key, self.registry.list_specs())
        if spec is None:
            return RetrainingResult()  # not a registered model's dataset
        if f"{request.trigger}:{request.event_id}" in self.registry.get_monitor_state(spec.name).handled_events:
            # a redelivery: it must not wait again, nor move the debounce to itself
            return RetrainingResult(decisions=[self._skip(spec, request, _replayed(request.event_id))])
        wait = round(spec.retrain.debounce_minutes * 60)
        if not request.after_wait and wait > 0 and spec.retrain.on_new_data:
            self.registry.update_monitor_state(spec.name, lambda state: _newest_drop(state, request))
            return RetrainingResult(wait_seconds=wait)
        latest = self.registry.get_monitor_state(spec.name).last_data_event
        if request.after_wait and latest not in (None, request.event_id):
            why = f"a later data drop ({latest}) arrived within the debounce of {spec.retrain.debounce_minutes:g} min"
            return RetrainingResult(decisions=[self._skip(spec, request, why)])
        # a file in a folder drops the folder: the dataset is all of its files (with a Glue table: the table's)
        dropped = None if spec.data.source else dataset_root(spec.name, key)
        return RetrainingResult(decisions=[self._decide(spec, request, dataset_key=dropped)])

    def _fingerprint(
        self, spec: ModelSpec, dataset_key: str | None, champion: ModelVersion | None
    ) -> tuple[str, str] | str:
        """The dataset a run would train on and the fingerprint of what it would learn from; else why there is
        none (none uploaded, the dropped file gone again, the spec's Glue table missing or misplaced). What an
        Athena query returns is known once it runs: its run's Validate says when it is nothing new."""
        if spec.data.query is not None and dataset_key is None:
            return QUERY_NOT_RUN, ""
        try:
            uri = self.data.uri(dataset_key) if dataset_key else None
            files = model_dataset(spec, self.data, self.tables, uri)
            dataset = dataset_sha256(files, self.data)
        except (NotFoundError, DataValidationError) as error:
            return error.message
        served = feedback_rows(spec, champion, self.capture, self.now, dataset_sha256=dataset, registry=self.registry)
        fingerprint = training_fingerprint(dataset, served)
        if spec.views:
            # What the labels' join reads of a view is known once its run reads their times: here, any ingest may be
            # new (the run's Validate compares exactly, and a run that finds nothing new gives its slot back).
            ingests = [f"{view}:{f.key}" for view in sorted(spec.views) for f in offline_files(view, self.data)]
            fingerprint = sha256_hex("\n".join([fingerprint, *ingests]).encode())
        return files.root, fingerprint

    def _skip(self, spec: ModelSpec, request: RetrainingRequest, why: str) -> RetrainingDecision:
        self.registry.audit(
            spec.name,
            "retrain_skipped",
            RETRAINING,
            {"trigger": request.trigger, "event_id": request.event_id, "why": why},
        )
        return RetrainingDecision(model_name=spec.name, trigger=request.trigger, started=False, reason=why)

    def _refusal(  # noqa: PLR0917 (the request's facts, each a rule's)
        self,
        spec: ModelSpec,
        trigger: Trigger,
        event: str,
        state: MonitorState,
        found: tuple[str, str] | str | None,
        data: str | None,
        champion: ModelVersion | None,
    ) -> str | None:
        """Why this request may not start a run, by the rules in their order; None: it may."""
        last = state.last_retrain_at
        earlier = (
            learned_before(self.registry.list_versions(spec.name), found[1], champion)
            if isinstance(found, tuple)
            else None
        )
        again = (
            f"{NOTHING_NEW}: {nothing_new_from(earlier)}; `mlops pipeline run {spec.name} --force` trains on it again"
            if earlier
            else ""
        )
        rules = (
            (event in state.handled_events, _replayed(_event_id(event))),
            (spec.retired, f"'{spec.name}' is retired"),
            (not spec.retrain.allows(trigger), f"retrain.{_switch(trigger)} is off for '{spec.name}'"),
            (isinstance(found, str), str(found)),
            (isinstance(found, tuple) and learned_already(champion, found[1]), NOTHING_NEW),
            (earlier is not None, again),  # a version rolled back from: a trigger would train and promote it again
            (data is not None and data == state.learned_nothing_from, f"{NOTHING_NEW} (its last run found none)"),
            (
                last is not None
                and self.now - datetime.fromisoformat(last) < timedelta(hours=spec.retrain.cooldown_hours),
                f"cool-down: last retraining started {last}, cool-down is {spec.retrain.cooldown_hours:g} h",
            ),
            (
                len(self._recent(state)) >= spec.retrain.max_per_day,
                f"daily cap of {spec.retrain.max_per_day} retrainings reached",
            ),
        )
        return next((why for refused, why in rules if refused), None)

    @staticmethod
    def _data(found: tuple[str, str] | str | None, champion: ModelVersion | None) -> str | None:
        """What a run would be asked to learn from: the champion and the data's fingerprint (None when unknown
        before the run: an Athena query's result)."""
        if not isinstance(found, tuple) or not found[1]:
            return None
        return f"{champion.version if champion else 0}:{found[1]}"

    def _recent(self, state: MonitorState) -> list[str]:
        return [t for t in state.retrains if self.now - datetime.fromisoformat(t) < timedelta(days=1)]

    def _decide(
        self, spec: ModelSpec, request: RetrainingRequest, dataset_key: str | None = None
    ) -> RetrainingDecision:
        """Reserve a run (or say why not) in one conditional write of the monitor state, then start it."""
        at = self.now.isoformat()
        trigger: Trigger = request.trigger
        event = f"{trigger}:{request.event_id}"
        name = retrain_execution_name(spec.name, trigger, request.event_id)
        allowed = spec.retrain.allows(trigger) and not spec.retired
        champion = self.registry.champion(spec.name) if allowed else None  # once: the fingerprint and rules take it
        found = self._fingerprint(spec, dataset_key, champion) if allowed else None
        data = self._data(found, champion)
        why: str | None = None
        before = MonitorState()

        def decide(state: MonitorState) -> MonitorState:
            nonlocal why, before
            before, why = state, self._refusal(spec, trigger, event, state, found, data, champion)
            update: dict[str, object] = {"handled_events": [*state.handled_events, event][-HANDLED_EVENTS_KEPT:]}
            if trigger == "schedule":
                update["schedule_served_at"] = at
            if why is None:
                update.update(
                    retrains=[*self._recent(state), at],
                    last_retrain_at=at,
                    last_retrain_execution=name,
                    previous_retrain_at=state.last_retrain_at,
                    last_retrain_data=data,
                )
            return state.model_copy(update=update)

        self.registry.update_monitor_state(spec.name, decide)
        if why is None:
            why = self._start(spec, request, name, dataset_key, undo=self._release(name, at, event, before))
        if why is not None:
            return self._skip(spec, request, why)
        self.registry.audit(
            spec.name,
            "retrain_started",
            RETRAINING,
            {"trigger": trigger, "event_id": request.event_id, "execution": name, "why": request.reason or trigger},
        )
        return RetrainingDecision(
            model_name=spec.name, trigger=trigger, started=True, execution_name=name, reason=request.reason or trigger
        )

    def _start(
        self,
        spec: ModelSpec,
        request: RetrainingRequest,
        name: str,
        dataset_key: str | None,
        undo: Callable[[MonitorState], MonitorState | None],
    ) -> str | None:
        """Start the training pipeline; None when it started, else why not (the reservation given back)."""
        payload = PipelineInput(
            model_name=spec.name,
            dataset_uri=self.data.uri(dataset_key) if dataset_key else None,
            reason=f"{request.trigger}: {request.reason}" if request.reason else request.trigger,
            trigger=request.trigger,
            event_id=request.event_id,
        )
        try:
            self.sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name, input=payload.model_dump_json())
        except self.sfn.exceptions.ExecutionAlreadyExists:
            self.registry.update_monitor_state(spec.name, undo)  # started before: this one takes no slot
            return f"execution {name} already exists: this event already started a run"
        except Exception:
            self.registry.update_monitor_state(spec.name, undo)  # nothing started: give the slot back
            raise
        return None

    @staticmethod
    def _release(name: str, at: str, event: str, before: MonitorState) -> Callable[[MonitorState], MonitorState | None]:
        """Undo a reservation whose run did not start (the event may then be retried)."""

        def release(state: MonitorState) -> MonitorState | None:
            if state.last_retrain_execution != name:
                return None
            return state.model_copy(
                update={
                    "retrains": [t for t in state.retrains if t != at],
                    "last_retrain_at": before.last_retrain_at,
                    "last_retrain_execution": before.last_retrain_execution,
                    "previous_retrain_at": before.previous_retrain_at,
                    "last_retrain_data": before.last_retrain_data,
                    "handled_events": [e for e in state.handled_events if e != event],
                }
            )

        return release


def request_retraining(
    request: RetrainingRequest,
    *,
    registry: Registry,
    data: ObjectStore,
    capture: ObjectStore,
    sfn: SFNClient,
    state_machine_arn: str,
    now: datetime | None = None,
    tables: DatasetTables | None = None,
) -> RetrainingResult:
    """Decide on a retraining request; see the module's docstring for the rules, in their order."""
    retraining = Retraining(registry, data, capture, sfn, state_machine_arn, now or datetime.now(UTC), tables)
    return retraining.request(request)


def _newest_drop(state: MonitorState, request: RetrainingRequest) -> MonitorState | None:
    """The state with this drop as the newest one, unless a later drop's event came first (deliveries may
    overtake each other): the debounce keeps the drop that happened last, not the one delivered last. Drops of
    the same second (EventBridge's time) are ordered by key, as `mlops data upload` names files by their time."""
    at, newest = _event_time(request.at), _event_time(state.last_data_at)
    known = state.last_data_event is not None and at is not None and newest is not None
    if known and (at, request.key or "") < (newest, state.last_data_key or ""):
        return None
    update = {"last_data_event": request.event_id, "last_data_at": request.at, "last_data_key": request.key}
    return state.model_copy(update=update)


def _event_time(at: str | None) -> datetime | None:
    if not at:
        return None
    try:
        return datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return None
