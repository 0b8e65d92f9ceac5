"""The monitor state machine's first step: which models are due for a drift check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlcore.catalog import DueModel, ListDueRequest, ListDueResult
from mlcore.registry import Registry

MONITOR = "monitor"


def _parse(at: str | None) -> datetime | None:
    return datetime.fromisoformat(at) if at else None


def list_due_models(request: ListDueRequest, *, registry: Registry, now: datetime | None = None) -> ListDueResult:
    """Models whose check interval has passed since their last check (all of them when `force` is set)."""
    now = now or datetime.now(UTC)
    only = set(request.request.models)
    due = []
    for spec in registry.list_specs():
        if only and spec.name not in only:
            continue
        last = _parse(registry.get_monitor_state(spec.name).last_check_at)
        if request.request.force or last is None or now - last >= timedelta(minutes=spec.monitor.every_minutes):
            due.append(DueModel(model_name=spec.name, window_hours=spec.drift.window_hours))
    return ListDueResult(models=due)
