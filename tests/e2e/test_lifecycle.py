"""The demo's lifecycle on the local target, with assertions on every step."""

from __future__ import annotations

import contextlib
import io
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from infra.local import hooks
from infra.local.demo import DemoResult
from infra.local.target import LocalTarget
from infra.operations import Platform
from mlcore.catalog import dataset_key
from mlcore.registry import VersionStatus

pytestmark = pytest.mark.e2e


def test_first_pipeline_validates_trains_evaluates_registers_and_promotes(demo: DemoResult, platform: Platform) -> None:
    first = demo.pipelines[0]
    assert first["status"] == "SUCCEEDED"
    # the states that work, in order (the choices between them are not steps a person follows)
    assert first["steps"] == ["Validate", "Train", "Evaluate", "Register", "Promote", "Promoted", "RecordRun", "Done"]
    v1 = platform.registry.get_version("churn", 1)
    assert v1.status is VersionStatus.APPROVED
    assert v1.metrics["roc_auc"] >= 0.70
    assert set(v1.artifacts) == {"model", "profile"}
    for artifact in v1.artifacts.values():
        platform.artifacts.get_verified(artifact)  # the registry's SHA-256 matches the bytes in S3


def test_traffic_is_served_by_the_champion_and_captured(demo: DemoResult, platform: Platform) -> None:
    normal, drifted = demo.traffic["normal"], demo.traffic["drifted"]
    assert normal["requests"] == drifted["requests"] == 200
    assert normal["versions"] == drifted["versions"] == [1]
    assert drifted["predicted_churn"] > normal["predicted_churn"]  # the drifted customers pay more and stay less
    assert normal["captured_rows"] == drifted["captured_rows"] == 1000  # sample_rate 1.0 loses nothing


def test_monitor_detects_the_injected_drift_but_learns_nothing_new_from_the_same_data(demo: DemoResult) -> None:
    check = demo.monitor["check"]
    assert check["dataset_drift"] is True
    assert {"tenure_months", "monthly_charges", "plan"} <= set(check["drifted_features"])
    assert "age" not in check["drifted_features"] and "region" not in check["drifted_features"]
    assert check["rows"] == 2000
    assert (check["retrain_recommended"], check["retrain_trigger"]) == (True, "drift")
    decision = demo.monitor["retraining"]
    assert (decision["trigger"], decision["started"], decision["reason"]) == ("drift", False, "nothing new to learn")


def test_data_drops_started_the_runs_and_the_schedule_and_the_drift_none(demo: DemoResult, platform: Platform) -> None:
    # the data drops' requests started runs; the schedule's found nothing new (nor did the drift's)
    scheduled = [d for r in demo.retraining_requests for d in r["decisions"] if d["trigger"] == "schedule"]
    assert [(d["started"], d["reason"]) for d in scheduled] == [(False, "nothing new to learn")]
    runs = [p["name"] for p in demo.pipelines]
    assert len(runs) == 2 and all(name.startswith("churn-new-data-") for name in runs)
    executions = {e["name"] for e in platform.executions(platform.resources.training_state_machine)}
    assert set(runs) <= executions
    assert not any(name.startswith(("churn-drift-", "churn-schedule-")) for name in executions)


def test_monitor_measures_live_performance_from_feedback(demo: DemoResult, platform: Platform, tmp_path: Path) -> None:
    check = demo.monitor["check"]
    assert "on 1000 labelled rows vs" in check["summary"]  # the drifted requests' ground truth, joined by request id
    assert "performance_degraded" in check
    # `mlops monitor report` downloads the same report and names the performance finding
    from infra.cli import monitor_report

    assert monitor_report(platform, "churn", tmp_path) == 0
    [report] = list(tmp_path.glob("churn-*.html"))
    assert "labelled rows" in report.read_text()
    # with --output json: the check and the report's path, for a script
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert monitor_report(platform, "churn", tmp_path, output="json") == 0
    document = json.loads(out.getvalue())
    assert document == {"check_id": check["check_id"], "summary": check["summary"], "report": str(report)}


def test_retrained_version_is_promoted_only_because_it_is_not_worse(demo: DemoResult, platform: Platform) -> None:
    retrain = demo.pipelines[1]
    assert retrain["status"] == "SUCCEEDED"
    evaluation = platform.registry.get_version("churn", 2)
    assert "same holdout" in evaluation.notes
    candidate = json.loads(platform.artifacts.get(f"runs/churn/{demo.retrain_execution}/candidate.json"))
    assert candidate["champion_version"] == 1
    assert candidate["metrics"]["roc_auc"] >= candidate["champion_metrics"]["roc_auc"]
    alias = platform.registry.get_alias("churn")
    assert alias is not None and (alias.version, alias.previous_version) == (2, 1)


def test_audit_trail_records_every_change(demo: DemoResult) -> None:
    actions = [a["action"] for a in demo.audit]
    assert actions[0] == "spec_registered"
    assert actions.count("version_registered") == 2
    assert actions.count("alias_moved") == 2
    assert actions.count("retrain_started") == 2  # the two data drops
    assert actions.count("retrain_skipped") == 2  # the schedule and the drift: nothing new to learn
    assert "drift_checked" in actions


def test_report_folder_has_the_drift_report_and_the_model_card(demo: DemoResult) -> None:
    report_dir = demo.report_dir
    assert isinstance(report_dir, Path)
    html = (report_dir / "drift-report.html").read_text()
    assert "dataset drift" in html and "<svg" in html
    assert "Model card: churn v2" in (report_dir / "model-card.md").read_text()
    summary = json.loads((report_dir / "summary.json").read_text())
    assert summary["champion"] == 2 and summary["first_version"] == 1


def test_every_moto_hook_ran(demo: DemoResult, target: LocalTarget) -> None:
    assert hooks.CALLS["lambda_invoke"] >= 11  # 2 pipelines x 4 functions + the monitor's 3
    assert hooks.CALLS["batch_job"] >= 2  # the demo's two pipelines (other tests run more)
    assert hooks.CALLS["batch_job_size"] >= 2  # their descriptions, with the size they ran at
    assert hooks.CALLS["normalise_parameters"] > 0 and hooks.CALLS["normalise_response"] > 0
    assert target.training.runs and target.training.runs[0]["MODEL_NAME"] == "churn"
    assert {
        "validate", "evaluate", "register", "promote", "record_run", "predict", "list_due", "drift_check",
        "request_retraining",
    } <= set(target.functions.invocations)  # fmt: skip
    assert hooks.CALLS["event_rule"] >= 2  # the two data drops reached the retraining state machine
    assert len(target.delivery.delivered) >= 3  # and the schedule's event, fired


def test_a_second_monitor_run_learns_nothing_new_either(demo: DemoResult, platform: Platform) -> None:
    execution = platform.wait(platform.start_monitor(force=True, models=["churn"]))
    assert execution["status"] == "SUCCEEDED"
    decisions = [d for r in json.loads(execution["output"])["results"] for d in r.get("decisions", [])]
    assert [(d["started"], d["reason"]) for d in decisions] in ([], [(False, "nothing new to learn")])
    trail = platform.registry.audit_trail("churn")
    assert trail[-1].action in ("drift_checked", "retrain_skipped")


def test_a_dataset_breaking_the_contract_fails_its_run_by_itself_and_changes_nothing(
    demo: DemoResult, platform: Platform
) -> None:
    versions_before = platform.registry.list_versions("churn")
    alias_before = platform.registry.get_alias("churn")
    requests = {e["executionArn"] for e in platform.executions(platform.resources.retraining_state_machine)}
    # WHEN a broken file lands under datasets/churn/, written by some other tool (`mlops data upload` refuses it)
    platform.data.put(dataset_key("churn", datetime.now(UTC), "csv"), b"tenure_months,monthly_charges\n-5,abc\n")
    # THEN its data drop starts a run (after the demo's 3 s debounce), which fails at Validate
    deadline = time.monotonic() + 60
    while not (fresh := [e for e in platform.executions(platform.resources.retraining_state_machine)
                         if e["executionArn"] not in requests]):  # fmt: skip
        assert time.monotonic() < deadline, "the data drop asked for nothing"
        time.sleep(0.2)
    request = platform.wait(fresh[0]["executionArn"])
    [decision] = json.loads(request["output"])["result"]["decisions"]
    assert decision["started"]
    run = next(
        e for e in platform.executions(platform.resources.training_state_machine)
        if e["name"] == decision["execution_name"]
    )  # fmt: skip
    execution = platform.wait(run["executionArn"])
    assert (execution["status"], execution["error"]) == ("FAILED", "PipelineFailedError")
    assert execution["cause"].startswith("Validate failed: DataValidationError:")
    assert platform.registry.list_versions("churn") == versions_before
    assert platform.registry.get_alias("churn") == alias_before
    # AND the run is recorded, failed, in the words of its failure report
    record = platform.registry.get_run(decision["execution_name"])
    assert (record.status, record.trigger) == ("failed", "new_data")
    assert record.outcome.startswith("failed at Validate: DataValidationError:")


def test_rollback_restores_the_previous_champion_and_the_api_follows(demo: DemoResult, platform: Platform) -> None:
    record = platform.registry.rollback("churn", actor="e2e")
    assert record.version == 1
    status, body = platform.call_api("GET", "/models/churn")
    # The predict function re-reads the alias at most every ALIAS_TTL_SECONDS; the local API runs
    # one container, so the answer is v1 or, within the TTL, still v2.
    assert status == 200 and body["version"] in (1, 2)
    platform.registry.set_alias("churn", "champion", 2, actor="e2e", reason="restore")
