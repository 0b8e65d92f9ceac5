"""The feature store on the local target: from a view's registration to a prediction requested by card id."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from e2e_helpers import Cli, arns, new_executions, request_retraining, training_run

from infra.local.example_data import CARD_VIEW, FRAUD_SPEC, card_activity, card_transactions
from infra.local.target import LocalTarget
from infra.operations import Platform
from mlcore.catalog import online_key

pytestmark = pytest.mark.e2e


def _materialized_as_listed(cli: Cli) -> None:
    """`features list` and `features show` agree on how far card-activity is materialized, in JSON and as text."""
    code, out, err = cli("features", "list", "--output", "json")
    assert code == 0, err
    [listed] = [view for view in json.loads(out) if view["view"] == "card-activity"]
    assert (
        listed["materialized_through"]
        == json.loads(cli("features", "show", "card-activity", "--output", "json")[1])["materialized_through"]
    )
    # as a time for a person: the list's column and the view's text, which names its features and changes
    through = datetime.strptime(listed["materialized_through"].split("-")[0], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
    assert listed["materialized_through_at"] == through.isoformat(timespec="seconds")
    assert through.strftime("%Y-%m-%d %H:%M:%S") in cli("features", "list")[1]
    shown = cli("features", "show", "card-activity")[1]
    assert shown.startswith("Feature view 'card-activity' (owner ") and "  tx_count_24h: numeric >= 0\n" in shown
    assert "  amount_mean_7d: numeric >= 0 (nullable)" in shown  # its contract, as the view file says it
    assert f"materialized through the ingest of {listed['materialized_through_at']}" in shown
    # its changes, from the view's audit trail: by the caller's principal, as a model's changes are
    assert " view_registered by arn:aws:sts::123456789012:user/moto" in shown


def what_became_of(out: str) -> tuple[str, int | None, str]:
    """A `pipeline run --output json`'s outcome, the version it registered and its run id's model part."""
    run = json.loads(out)
    assert run["execution_arn"].endswith(f":{run['run_id']}")
    return run["outcome"], run["version"], run["run_id"][: run["run_id"].rindex("-") + 1]


def test_a_view_registered_ingested_and_materialized_serves_a_model_trained_point_in_time(
    platform: Platform, cli: Cli, tmp_path: Path
) -> None:
    # GIVEN the card-activity view registered, and a week of its rows ingested from a file
    code, out, err = cli("features", "register", str(CARD_VIEW))
    assert code == 0, err
    assert "Registered feature view 'card-activity' (2 features by card_id, ttl 48 h, online)" in out
    activity, _ = card_activity(cards=60, days=7, end=datetime.now(UTC) - timedelta(hours=1), seed=11)
    pq.write_table(activity, tmp_path / "activity.parquet")
    code, out, err = cli("features", "ingest", "card-activity", str(tmp_path / "activity.parquet"), "--output", "json")
    assert code == 0, err
    assert json.loads(out)["rows"] == activity.num_rows
    # AND the fraud model registered with features from the view, and labelled transactions uploaded
    code, out, err = cli("models", "register", str(FRAUD_SPEC))
    assert code == 0, err
    assert "4 features" in out
    pq.write_table(card_transactions(activity, rows=900, seed=12), tmp_path / "labels.parquet")
    assert cli("data", "upload", "fraud", str(tmp_path / "labels.parquet"))[0] == 0
    # WHEN the training pipeline runs, and the view is materialized
    code, out, err = cli("pipeline", "run", "fraud", "--output", "json")
    assert (code, what_became_of(out)) == (0, ("registered", 1, "fraud-")), err + out  # for a script
    code, out, err = cli("features", "materialize", "card-activity", "--output", "json")
    assert code == 0, err
    assert json.loads(out)["written"] == 60
    code, out, err = cli("features", "materialize", "card-activity")
    assert code == 0, err
    assert out.startswith("'card-activity': up to date, nothing ingested since it was last materialized; online ")
    assert "online through the ingest of 20" in out
    # THEN the run trained on the view's features, read point in time
    [run] = platform.registry.list_runs("fraud")
    assert {source.source for source in run.datasets} == {"dataset", "view"}
    version = platform.registry.champion("fraud")
    assert version is not None
    assert [field.name for field in version.signature][-2:] == ["tx_count_24h", "amount_mean_7d"]
    # AND a client asks with the card id and the transaction's own features only
    status, body = platform.predict("fraud", [{"card_id": "c00003", "amount": 42.5, "merchant_category": "online"}])
    assert status == 200, body
    assert body["predictions"][0] in {"yes", "no"}
    # AND an unknown card is a 400 naming the feature the store has no value for
    status, body = platform.predict("fraud", [{"card_id": "nobody", "amount": 1.0, "merchant_category": "online"}])
    assert status == 400
    assert body["error"]["field"] == "instances[0].tx_count_24h"
    # AND the view's listing says how far it is materialized
    _materialized_as_listed(cli)
    # AND, retraining on drift, a request on the same labels and view starts a run (only a run can compare what its
    # join reads), which finds nothing new and gives back its slot of the daily cap and the cool-down
    retraining = FRAUD_SPEC.read_text().replace("retrain: {on_drift: false", "retrain: {on_drift: true")
    (tmp_path / "fraud.yaml").write_text(retraining)
    assert cli("models", "register", str(tmp_path / "fraud.yaml"))[0] == 0
    [first] = request_retraining(platform, {"trigger": "drift", "event_id": "check-1", "model_name": "fraud"})
    assert first["started"], first
    assert training_run(platform, first["execution_name"])["status"] == "SUCCEEDED"
    assert platform.registry.get_run(first["execution_name"]).outcome == "skipped: nothing new"
    state = platform.registry.get_monitor_state("fraud")
    assert (state.retrains, state.last_retrain_at) == ([], None)
    # AND the next request on the same data starts none, before any run
    [second] = request_retraining(platform, {"trigger": "drift", "event_id": "check-2", "model_name": "fraud"})
    assert (second["started"], second["reason"]) == (False, "nothing new to learn (its last run found none)")
    # AND an ingest may be new data: the next request starts a run
    pq.write_table(activity.slice(0, 5), tmp_path / "more.parquet")
    assert cli("features", "ingest", "card-activity", str(tmp_path / "more.parquet"))[0] == 0
    [third] = request_retraining(platform, {"trigger": "drift", "event_id": "check-3", "model_name": "fraud"})
    assert third["started"], third
    assert training_run(platform, third["execution_name"])["status"] == "SUCCEEDED"


def test_labels_without_the_views_key_or_their_time_are_refused_at_upload(cli: Cli, tmp_path: Path) -> None:
    # GIVEN the fraud model, whose labels are joined with the card-activity view by card id as of their time
    for kind, path in (("features", CARD_VIEW), ("models", FRAUD_SPEC)):
        code, _, err = cli(kind, "register", str(path))
        assert code == 0, err
    activity, _ = card_activity(cards=5, days=2, end=datetime.now(UTC) - timedelta(hours=1), seed=3)
    labels = card_transactions(activity, rows=50, seed=4)
    # WHEN labels without the key, or without their time, are uploaded THEN each is refused naming the column
    for column in ("card_id", "event_time"):
        pq.write_table(labels.drop_columns([column]), tmp_path / f"no-{column}.parquet")
        code, _, err = cli("data", "upload", "fraud", str(tmp_path / f"no-{column}.parquet"))
        assert code == 1 and f"no column '{column}', which the spec of 'fraud' needs" in err, err


def test_the_templates_tick_materializes_what_was_ingested_since(
    target: LocalTarget, platform: Platform, cli: Cli, tmp_path: Path
) -> None:
    # GIVEN the view registered, and a newer value of one card ingested
    assert cli("features", "register", str(CARD_VIEW))[0] == 0
    now = datetime.now(UTC).replace(microsecond=0)
    newer = pa.table({
        "card_id": ["c00005"], "event_time": pa.array([now], pa.timestamp("us", tz="UTC")),
        "tx_count_24h": [31.0], "amount_mean_7d": [12.5],
    })  # fmt: skip
    pq.write_table(newer, tmp_path / "newer.parquet")
    assert cli("features", "ingest", "card-activity", str(tmp_path / "newer.parquet"))[0] == 0
    # WHEN the template's materialization tick fires (its own rule only)
    [tick] = [rule for name, rule in target.scheduler.rules.items() if "materializetick" in name.lower()]
    machine = tick.targets[0]["Arn"]
    before = arns(platform, machine)
    assert target.scheduler.fire(machine, {}) == [tick.name]
    [arn] = new_executions(platform, machine, before)
    execution = platform.wait(arn)
    # THEN the state machine brought the view's online store up to date, and it is fresh
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    [view] = [v for v in json.loads(str(execution["output"]))["result"]["views"] if v["view"] == "card-activity"]
    assert view["written"] >= 1 and view["stale"] is False and view["age_hours"] < 1
    item = platform.client("dynamodb").get_item(
        TableName=platform.resources.online_features_table, Key={"pk": {"S": online_key("card-activity", ["c00005"])}}
    )["Item"]
    assert json.loads(item["doc"]["S"]) == {"tx_count_24h": 31.0, "amount_mean_7d": 12.5}
    # AND it checked the view for drift, once for the view, and the listing says what it found
    said = json.loads(str(execution["output"]))["result"]["drift"]["card-activity"]
    check = platform.registry.get_view("card-activity").drift
    assert check is not None
    assert said in ("ok", "not_enough_data") or said.startswith("drift: ")
    [listed] = [v for v in json.loads(cli("features", "list", "--output", "json")[1]) if v["view"] == "card-activity"]
    assert listed["drift"] == f"{said} ({check.checked_at})"


def test_the_feature_store_demo_serves_fraud_predictions_by_card_id(target: LocalTarget, tmp_path: Path) -> None:
    from rich.console import Console

    from infra.local.demo_features import CARDS, FeatureStoreDemo

    result = FeatureStoreDemo(tmp_path, console=Console(quiet=True)).run(target)
    features = json.loads((tmp_path / "feature-store.json").read_text())
    assert features["materialized"]["written"] >= 1 and features["materialized"]["stale"] is False
    assert features["ingest"]["rows"] == CARDS * 7 * 4
    assert len(features["predictions"]["predictions"]) == 3
    assert features["unknown_card"]["error"]["field"] == "instances[0].tx_count_24h"
    assert [title for title, _, _ in result.steps][-1] == "total"
