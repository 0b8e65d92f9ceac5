"""The monitor's steps on moto: which models are due, the drift check, the retrain trigger."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.local.example_data import churn_instances
from mlcore.catalog import DueModel, ListDueRequest
from mlcore.monitoring import list_due_models, run_drift_check
from mlcore.registry import MonitorState, Registry
from mlcore.spec import ModelSpec, parse_spec
from mlcore.storage import ObjectStore

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def capture_traffic(
    capture: ObjectStore, churn_spec: ModelSpec, capture_request: Callable[..., int]
) -> Callable[..., None]:
    """`capture_traffic(rows, drifted=...)`: served traffic as the service captures it, in requests of 50 rows."""

    def write(rows: int, *, drifted: bool = False, at: datetime = NOW) -> None:
        instances = churn_instances(rows, seed=31, drifted=drifted)
        for start in range(0, rows, 50):
            batch = instances[start : start + 50]
            capture_request(
                capture,
                churn_spec,
                batch,
                ["yes" if r["tenure_months"] < 6 else "no" for r in batch],  # type: ignore[operator]
                at=at - timedelta(minutes=30),
                request_id=f"req-{start}",
            )

    return write


def check(registry: Registry, artifacts: ObjectStore, capture: ObjectStore, now: datetime = NOW) -> Any:
    return run_drift_check(
        DueModel(model_name="churn", window_hours=24), registry=registry, artifacts=artifacts, capture=capture, now=now
    )


# -- list_due ------------------------------------------------------------------------------------


def test_models_are_due_every_configured_interval(registry: Registry, churn_spec: ModelSpec) -> None:
    registry.put_spec(churn_spec, actor="test")
    hourly = parse_spec({**churn_spec.model_dump(mode="json"), "name": "upsell", "monitor": {"every_minutes": 240}})
    registry.put_spec(hourly, actor="test")
    due = list_due_models(ListDueRequest(), registry=registry, now=NOW - timedelta(minutes=90))
    assert [(m.model_name, m.window_hours) for m in due.models] == [("churn", 24), ("upsell", 24)]  # never checked
    # 90 minutes on: churn (hourly) is due again, upsell (every 4 hours) is not; a forced run takes both
    assert [m.model_name for m in list_due_models(ListDueRequest(), registry=registry, now=NOW).models] == ["churn"]
    forced = list_due_models(ListDueRequest(request={"force": True}), registry=registry, now=NOW)
    assert [m.model_name for m in forced.models] == ["churn", "upsell"]
    only = list_due_models(ListDueRequest(request={"force": True, "models": ["upsell"]}), registry=registry, now=NOW)
    assert [m.model_name for m in only.models] == ["upsell"]


def test_a_run_takes_its_models_so_a_second_run_at_once_checks_none_of_them(
    registry: Registry, churn_spec: ModelSpec
) -> None:
    # GIVEN three models due
    for name in ("churn", "upsell", "winback"):
        registry.put_spec(parse_spec({**churn_spec.model_dump(mode="json"), "name": name}), actor="test")
    # WHEN eight monitor runs list them at once (a redelivered schedule event, a manual run beside it)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: list_due_models(ListDueRequest(), registry=registry, now=NOW), range(8)))
    # THEN each model is checked by exactly one of them
    taken = sorted(m.model_name for result in results for m in result.models)
    assert taken == ["churn", "upsell", "winback"]
    # and a run one interval later takes them again
    assert len(list_due_models(ListDueRequest(), registry=registry, now=NOW + timedelta(minutes=60)).models) == 3


def test_a_model_checked_just_now_is_not_due(registry: Registry, churn_spec: ModelSpec) -> None:
    registry.put_spec(churn_spec, actor="test")
    registry.put_monitor_state("churn", MonitorState(last_check_at=(NOW - timedelta(minutes=59)).isoformat()))
    assert list_due_models(ListDueRequest(), registry=registry, now=NOW).models == []
    assert len(list_due_models(ListDueRequest(), registry=registry, now=NOW + timedelta(minutes=1)).models) == 1


# -- drift check ---------------------------------------------------------------------------------


def test_drift_check_without_a_champion_records_the_check(
    registry: Registry, artifacts: ObjectStore, capture: ObjectStore, churn_spec: ModelSpec
) -> None:
    registry.put_spec(churn_spec, actor="test")
    result = check(registry, artifacts, capture)
    assert (result.status, result.retrain_recommended, result.report) == ("no_champion", False, None)
    assert registry.get_monitor_state("churn").last_check_at == NOW.isoformat()
    assert list_due_models(ListDueRequest(), registry=registry, now=NOW + timedelta(minutes=5)).models == []


def test_drift_check_with_too_little_traffic_says_so(
    churn_champion: Any,
    registry: Registry,
    artifacts: ObjectStore,
    capture: ObjectStore,
    capture_traffic: Callable[..., None],
) -> None:
    capture_traffic(50)
    result = check(registry, artifacts, capture)
    assert (result.status, result.rows) == ("not_enough_data", 50)
    assert result.summary == "50 captured rows in the last 24 h, 100 needed"
    assert artifacts.list_keys("monitoring/") == []


def test_drift_check_on_normal_traffic_finds_no_dataset_drift(
    churn_champion: Any,
    registry: Registry,
    artifacts: ObjectStore,
    capture: ObjectStore,
    capture_traffic: Callable[..., None],
) -> None:
    capture_traffic(400)
    result = check(registry, artifacts, capture)
    assert (result.status, result.rows, result.dataset_drift, result.retrain_recommended) == ("ok", 400, False, False)


def test_drift_check_on_drifted_traffic_writes_reports_and_recommends_retraining(
    churn_champion: Any,
    registry: Registry,
    artifacts: ObjectStore,
    capture: ObjectStore,
    capture_traffic: Callable[..., None],
) -> None:
    # GIVEN a day of traffic from customers with higher charges, shorter tenure, cheaper plans
    capture_traffic(400, drifted=True)
    # WHEN the monitor checks the model
    result = check(registry, artifacts, capture)
    # THEN it reports dataset drift and recommends retraining
    assert (result.status, result.dataset_drift, result.retrain_recommended) == ("drift", True, True)
    assert {"tenure_months", "monthly_charges", "plan"} <= set(result.drifted_features)
    assert result.check_id == "20250301T120000"
    assert result.summary.startswith("churn v1: dataset drift")
    # AND writes the JSON and HTML reports
    prefix = "monitoring/churn/20250301T120000/"
    assert sorted(artifacts.list_keys(prefix)) == [prefix + "drift.html", prefix + "drift.json"]
    assert result.report is not None and result.report.uri.endswith("drift.html")
    assert "<h1>Drift report: churn v1</h1>" in artifacts.get_verified(result.report).decode()
    assert json.loads(artifacts.get(prefix + "drift.json"))["dataset_drift"] is True
    # AND leaves an audit record and the monitor state
    [audit] = [r for r in registry.audit_trail("churn") if r.action == "drift_checked"]
    assert audit.details["check_id"] == result.check_id
    assert audit.details["rows"] == 400
    last = registry.get_monitor_state("churn").last_check
    assert last is not None
    assert last.status == "drift"


def test_drifted_features_come_in_the_order_of_the_champions_importance(  # noqa: PLR0917 (pytest fixtures)
    register_model: Callable[..., Any],
    registry: Registry,
    artifacts: ObjectStore,
    capture: ObjectStore,
    trained_churn: Any,
    capture_traffic: Callable[..., None],
) -> None:
    registry.put_spec(trained_churn.spec, actor="test")
    importance = {"plan": 0.09, "monthly_charges": 0.03, "tenure_months": 0.01}
    register_model(registry, artifacts, trained_churn, importance=importance)
    capture_traffic(400, drifted=True)
    result = check(registry, artifacts, capture)
    assert result.drifted_features[:3] == ["plan", "monthly_charges", "tenure_months"]
    report = json.loads(artifacts.get("monitoring/churn/20250301T120000/drift.json"))
    assert [(f["feature"], f["importance"]) for f in report["features"][:3]] == list(importance.items())


def test_drift_without_retrain_on_drift_does_not_recommend_it(  # noqa: PLR0917 (pytest fixtures)
    churn_champion: Any,
    registry: Registry,
    artifacts: ObjectStore,
    capture: ObjectStore,
    churn_spec: ModelSpec,
    capture_traffic: Callable[..., None],
) -> None:
    registry.put_spec(parse_spec({**churn_spec.model_dump(mode="json"), "retrain": {"on_drift": False}}), actor="test")
    capture_traffic(400, drifted=True)
    result = check(registry, artifacts, capture)
    assert (result.dataset_drift, result.retrain_recommended) == (True, False)


def test_drift_check_applies_the_data_contract_to_served_traffic(  # noqa: PLR0917 (pytest fixtures)
    churn_champion: Any,
    registry: Registry,
    artifacts: ObjectStore,
    capture: ObjectStore,
    capture_traffic: Callable[..., None],
    capture_request: Callable[..., int],
    churn_spec: ModelSpec,
) -> None:
    # GIVEN normal traffic plus one request whose ages are outside the contract's range
    capture_traffic(300)
    odd = [{**row, "age": 130.0} for row in churn_instances(7, seed=5)]
    capture_request(capture, churn_spec, odd, ["no"] * 7, at=NOW - timedelta(minutes=5), request_id="odd")
    # WHEN the monitor checks the model
    check(registry, artifacts, capture)
    # THEN the report lists the contract failure with its exact count, and the HTML shows it
    report = json.loads(artifacts.get("monitoring/churn/20250301T120000/drift.json"))
    [age] = [q for q in report["quality"] if q["column"] == "age"]
    assert (age["check"], age["failed_rows"], age["examples"]) == ("range", 7, [130.0] * 3)
    assert (
        "Data contract on the served traffic" in artifacts.get("monitoring/churn/20250301T120000/drift.html").decode()
    )


def test_an_hourly_model_is_due_every_hour_although_its_check_ends_after_its_claim(
    registry: Registry, churn_spec: ModelSpec
) -> None:
    # GIVEN an hourly model taken by the 12:00 run, whose check finished (and was recorded) at 12:00:40
    registry.put_spec(churn_spec, actor="test")
    assert len(list_due_models(ListDueRequest(), registry=registry, now=NOW).models) == 1
    registry.update_monitor_state(
        "churn", lambda state: state.model_copy(update={"last_check_at": (NOW + timedelta(seconds=40)).isoformat()})
    )
    # WHEN the next hourly run comes at 13:00 THEN it takes the model again (an hour after the claim)
    assert len(list_due_models(ListDueRequest(), registry=registry, now=NOW + timedelta(minutes=60)).models) == 1


@pytest.mark.parametrize("own", [99, 100])
def test_the_champion_is_judged_on_its_own_answers_not_another_versions(  # noqa: PLR0917 (pytest fixtures)
    churn_champion: Any,
    registry: Registry,
    artifacts: ObjectStore,
    capture: ObjectStore,
    churn_spec: ModelSpec,
    capture_request: Callable[..., int],
    own: int,
) -> None:
    from mlcore.serving import record_feedback

    now = datetime.now(UTC)  # feedback is stored under the day it arrives
    instances = churn_instances(300, seed=31)
    answers = ["yes" if r["tenure_months"] < 6 else "no" for r in instances]  # type: ignore[operator]
    # GIVEN 200 rows an earlier version (v7) answered, all labelled wrong, and rows the champion (v1) answered, all
    # labelled right: `drift.min_rows` (100) of them, or one fewer
    for start, version, rows in ((0, 7, 200), (200, 1, own)):
        capture_request(capture, churn_spec, instances[start : start + rows], answers[start : start + rows],
                        at=now - timedelta(minutes=30), request_id=f"req-{start}", version=version)  # fmt: skip
    wrong = [
        {"request_id": "req-0", "row_index": i, "label": "no" if answers[i] == "yes" else "yes"} for i in range(200)
    ]
    right = [{"request_id": "req-200", "row_index": i, "label": answers[200 + i]} for i in range(own)]
    record_feedback(churn_spec, json.dumps({"feedback": wrong + right}), capture, ["no", "yes"])
    # WHEN the monitor checks the model
    result = check(registry, artifacts, capture, now=now)
    report = json.loads(artifacts.get(f"monitoring/churn/{result.check_id}/drift.json"))
    # THEN the traffic's inputs are every row, whoever answered them
    assert result.rows == report["rows"] == 200 + own
    # AND only the champion's answers judge it: v7's wrong ones do not degrade it, and below min_rows of its own
    # its answers and their labels are not compared at all
    assert not result.performance_degraded
    if own < 100:
        assert report["performance"] is None and report["prediction"] is None
        assert result.summary.endswith(
            "; v1 answered 99 of the rows, fewer than drift.min_rows (100): its answers are not judged"
        )
    else:
        assert (report["performance"]["labelled_rows"], report["performance"]["live"]) == (100, 1.0)
        assert report["performance"]["metric"] == "accuracy"  # no scores were captured
        assert report["prediction"]["feature"] == "prediction"


def test_the_champions_own_inputs_are_checked_whatever_the_spec_added_or_dropped_since(  # noqa: PLR0917 (pytest fixtures)
    churn_champion: Any,
    registry: Registry,
    artifacts: ObjectStore,
    capture: ObjectStore,
    churn_spec: ModelSpec,
    capture_traffic: Callable[..., None],
) -> None:
    # GIVEN drifted traffic the champion answered, then a spec that adds a feature (no version reads it yet), drops
    # monthly_charges (the champion still reads it) and makes plan a number
    capture_traffic(400, drifted=True)
    raw = churn_spec.model_dump(mode="json", exclude_none=True)
    features = [f for f in raw["features"] if f["name"] != "monthly_charges"]
    features = [{"name": "plan", "type": "numeric"} if f["name"] == "plan" else f for f in features]
    features.append({"name": "discount", "type": "numeric", "min": 0})
    metrics = {**raw["metrics"], "segments": ["region"]}
    registry.put_spec(parse_spec({**raw, "features": features, "metrics": metrics}), actor="test")
    # WHEN the monitor checks the model
    result = check(registry, artifacts, capture)
    # THEN the champion's inputs are checked as it was trained on them, and the added feature is not
    assert (result.status, result.dataset_drift) == ("drift", True)
    assert {"tenure_months", "monthly_charges", "plan"} <= set(result.drifted_features)
    report = json.loads(artifacts.get("monitoring/churn/20250301T120000/drift.json"))
    checked = {f["feature"] for f in report["features"]}
    assert checked == {f.name for f in churn_spec.features}
    assert not [q for q in report["quality"] if q["column"] in ("discount", "plan", "monthly_charges")]


@pytest.mark.parametrize("champions_rows", [0, 99, 100])  # drift.min_rows: 100
def test_an_input_an_earlier_version_did_not_read_is_judged_only_where_a_version_read_it(  # noqa: PLR0917
    churn_champion: Any,
    registry: Registry,
    artifacts: ObjectStore,
    capture: ObjectStore,
    churn_spec: ModelSpec,
    capture_request: Callable[..., int],
    champions_rows: int,
) -> None:
    # GIVEN v2, a version that never read monthly_charges (the champion v1 does), answered 200 rows of normal traffic:
    # capture holds a null there in each, which no client sent; then the champion answered some rows of its own
    earlier = churn_champion.model_copy(
        update={
            "version": registry.allocate_version("churn"),
            "run_id": "earlier-run",
            "revision": 0,
            "signature": [f for f in churn_champion.signature if f.name != "monthly_charges"],
        }
    )
    registry.register_version(earlier, actor="test")
    now = datetime.now(UTC)
    instances = churn_instances(350, seed=31)
    answers = ["yes" if r["tenure_months"] < 6 else "no" for r in instances]  # type: ignore[operator]
    unread = [{**row, "monthly_charges": None} for row in instances[:200]]
    unread[7]["age"] = 130  # beyond the spec's max (100): v2 reads age, so its rows are judged by its rules
    capture_request(capture, churn_spec, unread, answers[:200], at=now - timedelta(minutes=30), request_id="old",
                    version=2)  # fmt: skip
    if champions_rows:
        own = slice(200, 200 + champions_rows)
        capture_request(capture, churn_spec, instances[own], answers[own], at=now - timedelta(minutes=20),
                        request_id="new", version=1)  # fmt: skip
    # WHEN the monitor checks the champion
    result = check(registry, artifacts, capture, now=now)
    report = json.loads(artifacts.get(f"monitoring/churn/{result.check_id}/drift.json"))
    # THEN v2's nulls are neither a drift of monthly_charges (its missing share) nor a failure of its not-null rule
    assert result.rows == 200 + champions_rows
    assert "monthly_charges" not in result.drifted_features
    assert not [q for q in report["quality"] if q["column"] == "monthly_charges"]
    assert [q["rows"] for q in report["quality"] if q["column"] == "age"] == [[7]]  # the other inputs: on every row
    judged = {f["feature"]: f for f in report["features"]}
    if champions_rows >= 100:  # judged on the champion's rows alone
        assert "missing" not in " ".join(judged["monthly_charges"]["findings"]) and not result.dataset_drift
        assert report["unread"] == []
    else:  # too few rows to judge it on: not checked, and said so
        assert "monthly_charges" not in judged and report["unread"] == ["monthly_charges"]
        assert (
            "; not checked: monthly_charges (versions that read it answered fewer than drift.min_rows of the window's "
            "rows)"
        ) in result.summary
        html = artifacts.get(f"monitoring/churn/{result.check_id}/drift.html").decode()
        assert "Not checked: monthly_charges, for versions that read it answered fewer than drift.min_rows" in html


def test_a_window_over_a_feature_retyped_between_versions_reads_it_as_the_newest_file_does(
    capture: ObjectStore, churn_spec: ModelSpec, capture_request: Callable[..., int]
) -> None:
    from mlcore.data import capture_window

    # GIVEN v1's traffic with age a number, then v2's, trained on a spec where age is a category
    raw = churn_spec.model_dump(mode="json", exclude_none=True)
    features = [{"name": "age", "type": "categorical"} if f["name"] == "age" else f for f in raw["features"]]
    retyped = parse_spec({**raw, "features": features})
    rows = churn_instances(4, seed=5)
    capture_request(capture, churn_spec, rows[:2], ["no", "no"], at=NOW - timedelta(hours=2), request_id="v1")
    as_text = [{**row, "age": "41"} for row in rows[2:]]
    capture_request(capture, retyped, as_text, ["no", "no"], at=NOW - timedelta(hours=1), request_id="v2", version=2)
    # WHEN the monitor reads the day THEN both are read, age as the newest file has it (v1's numbers as text)
    window = capture_window(capture, "churn", NOW - timedelta(hours=3), NOW)
    assert window.column("request_id").to_pylist() == ["v1", "v1", "v2", "v2"]
    ages = window.column("age").to_pylist()
    assert ages[2:] == ["41", "41"] and [float(age) for age in ages[:2]] == [row["age"] for row in rows[:2]]


def test_a_retired_model_is_never_due(registry: Registry, churn_spec: ModelSpec) -> None:
    registry.put_spec(churn_spec.model_copy(update={"retired": True}), actor="test")
    for request in (ListDueRequest(), ListDueRequest(request={"force": True, "models": ["churn"]})):
        assert list_due_models(request, registry=registry, now=NOW).models == []
    registry.put_spec(churn_spec, actor="test")  # back: due again
    assert [m.model_name for m in list_due_models(ListDueRequest(), registry=registry, now=NOW).models] == ["churn"]
