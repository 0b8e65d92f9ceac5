"""Drift of a feature view's values, checked once for the view rather than once per model that takes them.

The reference is the view's own recent past: the values of the newest window of event times
(`drift.window_hours`) against those of the window before it (`drift.reference_hours`), read from the
offline store. A model's drift check then reports the view's features from the view's last check.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from mlcore.catalog import ViewDriftCheck
from mlcore.data import (
    CategoricalProfile,
    NumericProfile,
    categorical_profile,
    numeric_profile,
    offline_files,
    read_offline,
    view_schema,
)
from mlcore.errors import ConflictError, MlopsError
from mlcore.monitoring.drift import FeatureDrift, features_drift, window_column
from mlcore.registry import Registry, ViewRecord
from mlcore.spec import ModelSpec
from mlcore.storage import ObjectStore


def _window(rows: pa.Table, column: str, start: datetime, end: datetime) -> pa.Table:
    times, utc = rows.column(column), pa.timestamp("us", tz="UTC")
    return rows.filter(
        pc.and_(pc.greater_equal(times, pa.scalar(start, type=utc)), pc.less(times, pa.scalar(end, type=utc)))
    )


def check_view_drift(record: ViewRecord, *, registry: Registry, data: ObjectStore, now: datetime) -> ViewDriftCheck:
    """Check a view's newest window of values against the window before it, and record the check on the view.

    Raises
    ------
    ConflictError
        When the view changed since `record` was read (the next tick checks it again).
    """
    view, settings = record.view, record.view.drift
    start = now - timedelta(hours=settings.window_hours)
    reference_start = start - timedelta(hours=settings.reference_hours)
    # offline files hold a day of event times each: those of the days the two windows touch
    files = [f for f in offline_files(view.name, data) if reference_start.date() <= f.day <= now.date()]
    rows = read_offline(files, view_schema(view.entities, view.timestamp, view.features), data)
    current = _window(rows, view.timestamp, start, now)
    reference = _window(rows, view.timestamp, reference_start, start)
    check = ViewDriftCheck(
        view=view.name,
        checked_at=now.isoformat(),
        window=(start.isoformat(), now.isoformat()),
        reference=(reference_start.isoformat(), start.isoformat()),
        rows=current.num_rows,
        reference_rows=reference.num_rows,
        status="not_enough_data",
    )
    # a feature without any value in a window (added since, or all null there) has nothing to compare
    valued = [f for f in view.features if all(t.column(f.name).null_count < t.num_rows for t in (current, reference))]
    unchecked = [f.name for f in view.features if f not in valued]
    if min(current.num_rows, reference.num_rows) >= settings.min_rows and valued:
        profiles: dict[str, NumericProfile | CategoricalProfile] = {
            f.name: numeric_profile(window_column(reference, f.name, numeric=True))
            if f.is_numeric
            else categorical_profile(window_column(reference, f.name, numeric=False))
            for f in valued
        }
        columns = {f.name: window_column(current, f.name, f.is_numeric) for f in valued}
        found = features_drift(valued, profiles, columns, settings.threshold_of)
        drifted = [f.feature for f in found if f.drifted]
        check = check.model_copy(
            update={
                "status": "drift" if drifted else "ok",
                "drifted_features": drifted,
                "features": [f.model_dump(mode="json") for f in found],
                "unchecked": unchecked,
            }
        )
    registry.set_view_drift(record, check)
    return check


def check_views_drift(*, registry: Registry, data: ObjectStore, now: datetime) -> dict[str, ViewDriftCheck | str]:
    """Check every view whose last check is older than its `drift.every_minutes` (the platform's tick), by view
    name. A view that changed meanwhile is `skipped: ...` (the next tick checks it); one that fails is
    `error: <type>: <message>`, and the others are checked."""
    done: dict[str, ViewDriftCheck | str] = {}
    for record in registry.list_views():
        last = record.drift
        every = timedelta(minutes=record.view.drift.every_minutes)
        if last is not None and now - datetime.fromisoformat(last.checked_at) < every:
            continue
        name = record.view.name
        try:
            done[name] = check_view_drift(record, registry=registry, data=data, now=now)
        except ConflictError:  # a materialization or a registration wrote the view meanwhile
            done[name] = "skipped: the view changed while it was checked; the next tick checks it"
        except MlopsError as error:  # its files: reported, and the next tick retries it
            done[name] = f"error: {type(error).__name__}: {error.message}"
        except Exception as error:
            done[name] = f"error: {type(error).__name__}: {error}"
    return done


def view_features_drift(spec: ModelSpec, registry: Registry, now: datetime) -> list[FeatureDrift]:
    """The drift of the features a model takes from views, from each view's last check. A view never checked,
    checked without enough data, or whose last check is older than twice its `drift.every_minutes` (its checks
    are failing) gives none: the model's own check covers those features then."""
    found = []
    for name, binding in spec.views.items():
        record = registry.find_view(name)
        check = record.drift if record is not None else None
        if record is None or check is None or check.status == "not_enough_data":
            continue
        if now - datetime.fromisoformat(check.checked_at) > 2 * timedelta(minutes=record.view.drift.every_minutes):
            continue
        for raw in check.features:
            drift = FeatureDrift.model_validate(raw)
            if drift.feature in binding.features:
                found.append(drift.model_copy(update={"view": name, "checked_at": check.checked_at}))
    return found
