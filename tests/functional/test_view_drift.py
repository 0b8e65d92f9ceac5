"""Drift of a feature view's values, checked once for the view (its newest window against the one before) and
reported by every model that takes them from that check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import pyarrow as pa
import pytest

from infra.local.example_data import CARD_VIEW, FRAUD_SPEC
from mlcore.catalog import ViewDriftCheck
from mlcore.features import ingest_rows
from mlcore.monitoring import check_view_drift, check_views_drift, view_features_drift
from mlcore.registry import Registry
from mlcore.spec import FeatureView, load_spec, load_view
from mlcore.storage import ObjectStore

DATABASE = "mlops_features"
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def view(registry: Registry, resources: Any) -> FeatureView:
    """GIVEN the example card-activity view, checked with at least 50 rows a window."""
    raw = load_view(CARD_VIEW.read_text()).model_dump(mode="json")
    view = FeatureView.model_validate({**raw, "drift": {"min_rows": 50}})
    registry.put_view(view, actor="test")
    boto3.client("glue").create_database(DatabaseInput={"Name": DATABASE})
    return view


def rows(times: list[datetime], count_mean: float, seed: int) -> pa.Table:
    """A row per card (100 cards) at each time: a Poisson count around `count_mean`, a steady mean amount."""
    rng = np.random.default_rng(seed)
    n = 100 * len(times)
    return pa.table(
        {
            "card_id": [f"c{i % 100:03d}" for i in range(n)],
            "event_time": pa.array([t for t in times for _ in range(100)], pa.timestamp("us", tz="UTC")),
            "tx_count_24h": rng.poisson(count_mean, n).astype(float),
            "amount_mean_7d": rng.lognormal(3.2, 0.3, n).round(2),
        }
    )


def ingest(view: FeatureView, data: ObjectStore, table: pa.Table) -> None:
    ingest_rows(view, table, data=data, glue=boto3.client("glue"), database=DATABASE, now=NOW)


def history(view: FeatureView, data: ObjectStore, current_mean: float) -> None:
    """GIVEN a week of values before the last 24 hours, and the last 24 hours (whose counts average `current_mean`)."""
    ingest(view, data, rows([NOW - timedelta(hours=h) for h in range(30, 24 * 8, 12)], 3.0, seed=1))
    ingest(view, data, rows([NOW - timedelta(hours=h) for h in (24, 12, 1)], current_mean, seed=2))


def test_a_view_whose_newest_values_moved_is_found_drifted_on_those_features_only(
    registry: Registry, data: ObjectStore, view: FeatureView
) -> None:
    history(view, data, current_mean=9.0)
    check = check_view_drift(registry.get_view(view.name), registry=registry, data=data, now=NOW)
    assert (check.status, check.drifted_features) == ("drift", ["tx_count_24h"])
    # the window starts at now - 24 h, inclusive: the rows at 24, 12 and 1 hours ago are the current ones
    assert (check.rows, check.reference_rows) == (300, 100 * len(range(30, 24 * 8, 12)))
    assert check.window == ((NOW - timedelta(hours=24)).isoformat(), NOW.isoformat())
    assert registry.get_view(view.name).drift == check  # recorded on the view, for every model to read


def test_a_view_whose_values_hold_is_not_drifted(registry: Registry, data: ObjectStore, view: FeatureView) -> None:
    history(view, data, current_mean=3.0)
    check = check_view_drift(registry.get_view(view.name), registry=registry, data=data, now=NOW)
    assert (check.status, check.drifted_features) == ("ok", [])
    assert {f["feature"] for f in check.features} == {"tx_count_24h", "amount_mean_7d"}


@pytest.mark.parametrize(("current_rows", "status"), [(49, "not_enough_data"), (50, "ok")])
def test_a_window_needs_min_rows(
    registry: Registry, data: ObjectStore, view: FeatureView, current_rows: int, status: str
) -> None:
    ingest(view, data, rows([NOW - timedelta(hours=h) for h in range(30, 24 * 8, 12)], 3.0, seed=1))
    ingest(view, data, rows([NOW - timedelta(hours=2)], 3.0, seed=3).slice(0, current_rows))
    check = check_view_drift(registry.get_view(view.name), registry=registry, data=data, now=NOW)
    assert (check.status, check.rows) == (status, current_rows)


@pytest.mark.parametrize(("minutes", "checked_again"), [(59, False), (60, True)])
def test_the_tick_checks_a_view_again_once_its_every_minutes_passed(
    registry: Registry, data: ObjectStore, view: FeatureView, minutes: int, checked_again: bool
) -> None:
    history(view, data, current_mean=3.0)
    first = check_views_drift(registry=registry, data=data, now=NOW)
    assert list(first) == [view.name] and isinstance(first[view.name], ViewDriftCheck)
    later = check_views_drift(registry=registry, data=data, now=NOW + timedelta(minutes=minutes))
    assert isinstance(later.get(view.name), ViewDriftCheck) is checked_again  # checked, and recorded (no conflict)
    assert registry.get_view(view.name).drift == (later[view.name] if checked_again else first[view.name])


def test_a_model_reports_the_features_it_takes_from_a_view_from_the_views_check(
    registry: Registry, data: ObjectStore, view: FeatureView
) -> None:
    spec = load_spec(FRAUD_SPEC.read_text(), views=lambda name: registry.get_view(name).view)
    assert view_features_drift(spec, registry, NOW) == []  # never checked: nothing to report yet
    history(view, data, current_mean=9.0)
    check = check_view_drift(registry.get_view(view.name), registry=registry, data=data, now=NOW)
    found = {f.feature: f for f in view_features_drift(spec, registry, NOW)}
    assert set(found) == set(spec.views[view.name].features) == {"tx_count_24h", "amount_mean_7d"}
    assert all(f.view == view.name and f.checked_at == check.checked_at for f in found.values())
    assert found["tx_count_24h"].drifted and not found["amount_mean_7d"].drifted


def test_a_feature_without_values_in_a_window_is_unchecked_and_the_others_are_checked(
    registry: Registry, data: ObjectStore, view: FeatureView
) -> None:
    # GIVEN a week in which amount_mean_7d (nullable) had no value at all: as if it were added since
    reference = rows([NOW - timedelta(hours=h) for h in range(30, 24 * 8, 12)], 3.0, seed=1)
    empty = pa.nulls(reference.num_rows, pa.float64())
    ingest(view, data, reference.set_column(3, "amount_mean_7d", empty))
    ingest(view, data, rows([NOW - timedelta(hours=h) for h in (24, 12, 1)], 9.0, seed=2))
    check = check_view_drift(registry.get_view(view.name), registry=registry, data=data, now=NOW)
    assert (check.status, check.drifted_features, check.unchecked) == ("drift", ["tx_count_24h"], ["amount_mean_7d"])


def test_a_view_that_changed_meanwhile_is_skipped_and_one_that_fails_is_named_while_the_others_are_checked(
    registry: Registry, data: ObjectStore, view: FeatureView, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlcore.errors import ConflictError
    from mlcore.monitoring import views as module

    registry.put_view(FeatureView.model_validate({**view.model_dump(), "name": "other-view"}), actor="test")
    history(view, data, current_mean=3.0)
    real = module.check_view_drift

    def flaky(record: Any, **kwargs: Any) -> Any:
        if record.view.name == "other-view":
            raise ValueError("an unexpected bug")
        raise ConflictError("feature view 'card-activity' changed while it was checked for drift")

    monkeypatch.setattr(module, "check_view_drift", flaky)
    said = check_views_drift(registry=registry, data=data, now=NOW)
    assert said == {
        "card-activity": "skipped: the view changed while it was checked; the next tick checks it",
        "other-view": "error: ValueError: an unexpected bug",
    }
    monkeypatch.setattr(module, "check_view_drift", real)
    assert all(isinstance(c, ViewDriftCheck) for c in check_views_drift(registry=registry, data=data, now=NOW).values())


@pytest.mark.parametrize(("age", "used"), [(timedelta(minutes=120), True), (timedelta(minutes=120, seconds=1), False)])
def test_a_model_takes_a_views_check_only_while_it_is_recent(
    registry: Registry, data: ObjectStore, view: FeatureView, age: timedelta, used: bool
) -> None:
    spec = load_spec(FRAUD_SPEC.read_text(), views=lambda name: registry.get_view(name).view)
    history(view, data, current_mean=9.0)
    check_view_drift(registry.get_view(view.name), registry=registry, data=data, now=NOW)
    # every_minutes is 60: a check up to two of them old still speaks for the view
    assert bool(view_features_drift(spec, registry, NOW + age)) is used
