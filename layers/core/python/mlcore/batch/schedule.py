"""Scheduled batch scoring: at each platform tick, a batch for every model whose `batch.schedule` fired.

A model's schedule is served once per firing: the monitor state's `batch_served_at` moves to the
firing in a conditional write before the batch starts, and the batch's id (its execution's name) is made of
the model and the firing, so a redelivered tick, or two ticks within one firing, start one batch.
The schedule counts from when it was last served, or from when the champion was made.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlcore.catalog import BatchRequest, ScheduledBatch, ScheduledBatchResult
from mlcore.errors import TransientError
from mlcore.registry import MonitorState, Registry
from mlcore.schedules import parse_schedule
from mlcore.spec import ModelSpec

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

SCHEDULE = "schedule"  # the audit trail's actor
NO_CHAMPION = "no champion to score with"


def scheduled_batch_id(model_name: str, fired: datetime) -> str:
    """A scheduled batch's id: the firing (sortable, like a manual batch's) and a digest of the model."""
    return f"{fired:%Y%m%dT%H%M%SZ}-{hashlib.sha256(model_name.encode()).hexdigest()[:6]}"


def last_firing(expression: str, since: datetime, now: datetime) -> datetime | None:
    """When the schedule last fired after `since` and at or before `now`; None when it has not.

    A rate fires every period counted from `since`; a cron at its times.
    """
    schedule = parse_schedule(expression)
    if not schedule.due(since, now):
        return None
    if schedule.period is not None:
        return since + schedule.period * ((now - since) // schedule.period)
    return schedule.previous_fire(now)


@dataclass
class ScheduledBatches:
    """The tick's step, with what it reads and starts."""

    registry: Registry
    sfn: SFNClient
    state_machine_arn: str
    now: datetime

    def start_due(self) -> ScheduledBatchResult:
        """Start the batch of every model whose schedule fired since it was last served.

        Raises
        ------
        TransientError
            When a batch could not be started (after every other model's was): its schedule is
            given back, so the next attempt starts it.
        """
        # a retired model scores nothing: its schedule is not served
        due = [spec for spec in self.registry.list_specs() if spec.batch.schedule is not None and not spec.retired]
        batches = [self._serve(spec) for spec in due]
        failed = [b for b in batches if b.error is not None]
        if failed:
            raise TransientError("; ".join(f"{b.model_name}: {b.error}" for b in failed))
        return ScheduledBatchResult(batches=batches)

    def _serve(self, spec: ModelSpec) -> ScheduledBatch:
        name, expression = spec.name, spec.batch.schedule
        assert expression is not None  # only scheduled models are served
        champion = self.registry.champion(name)
        if champion is None:
            return ScheduledBatch(model_name=name, started=False, reason=NO_CHAMPION)
        fired: datetime | None = None
        before = MonitorState()

        def reserve(state: MonitorState) -> MonitorState | None:
            nonlocal fired, before
            since = datetime.fromisoformat(state.batch_served_at or champion.created_at)
            before, fired = state, last_firing(expression, since, self.now)
            # served up to the firing, not the tick: a rate's firings keep their times whatever the tick's lag
            return None if fired is None else state.model_copy(update={"batch_served_at": fired.isoformat()})

        self.registry.update_monitor_state(name, reserve)
        if fired is None:
            return ScheduledBatch(model_name=name, started=False, reason="not due")
        batch_id = scheduled_batch_id(name, fired)
        request = BatchRequest(model_name=name, trigger="schedule")
        try:
            self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=batch_id, input=request.model_dump_json(exclude_none=True)
            )
        except self.sfn.exceptions.ExecutionAlreadyExists:
            return ScheduledBatch(model_name=name, started=False, reason="already started", batch_id=batch_id)
        except Exception as exc:
            served = fired.isoformat()
            self.registry.update_monitor_state(
                name,
                lambda state: (
                    state.model_copy(update={"batch_served_at": before.batch_served_at})
                    if state.batch_served_at == served
                    else None
                ),
            )
            error = f"{type(exc).__name__}: {exc}"
            return ScheduledBatch(model_name=name, started=False, reason="not started", batch_id=batch_id, error=error)
        fired_at = fired.isoformat()
        details = {"batch_id": batch_id, "fired_at": fired_at, "schedule": expression}
        self.registry.audit(name, "batch_started", SCHEDULE, details)
        return ScheduledBatch(model_name=name, started=True, reason=SCHEDULE, batch_id=batch_id, fired_at=fired_at)


def start_scheduled_batches(
    registry: Registry, sfn: SFNClient, state_machine_arn: str, now: datetime | None = None
) -> ScheduledBatchResult:
    """The tick's step: start the batch of every model whose `batch.schedule` fired."""
    return ScheduledBatches(registry, sfn, state_machine_arn, now or datetime.now(UTC)).start_due()
