"""The monitor state machine's first step: which models are due for a drift check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlcore.catalog import DueModel, ListDueRequest, ListDueResult
from mlcore.registry import MonitorState, Registry

MONITOR = "monitor"


def _parse(at: str | None) -> datetime | None:
    return datetime.fromisoformat(at) if at else None


def list_due_models(request: ListDueRequest, *, registry: Registry, now: datetime | None = None) -> ListDueResult:
    """Models whose check interval has passed since their last check or claim (all of them when `force` is set),
    each claimed for this run in a conditional write of its monitor state: two runs at once (a redelivered
    schedule event, a manual run beside the scheduled one) never check a model twice."""
    now = now or datetime.now(UTC)
    only = set(request.request.models)
    due = []
    for spec in registry.list_specs():
        if (only and spec.name not in only) or spec.retired:
            continue
        interval = timedelta(minutes=spec.monitor.every_minutes)
        claimed = False

        def claim(state: MonitorState, interval: timedelta = interval) -> MonitorState | None:
            nonlocal claimed
            # a run's claim counts from when it took the model, not from when its check finished a little later
            last = _parse(state.last_claim_at) or _parse(state.last_check_at)
            claimed = request.request.force or last is None or now - last >= interval
            return state.model_copy(update={"last_claim_at": now.isoformat()}) if claimed else None

        registry.update_monitor_state(spec.name, claim)
        if claimed:
            due.append(DueModel(model_name=spec.name, window_hours=spec.drift.window_hours))
    return ListDueResult(models=due)
