"""The demo's lifecycle on the local target, with assertions on every step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.local import hooks
from infra.local.demo import DemoResult
from infra.local.target import LocalTarget
from infra.operations import Platform
from mlcore.registry import VersionStatus

pytestmark = pytest.mark.e2e


def test_first_pipeline_validates_trains_evaluates_registers_and_promotes(demo: DemoResult, platform: Platform) -> None:
    first = demo.pipelines[0]
    assert first["status"] == "SUCCEEDED"
    assert first["steps"] == [
        "Validate",
        "Train",
        "Evaluate",
        "GatePassed",
        "Register",
        "AutoApproved",
        "Promote",
        "Promoted",
    ]
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


def test_monitor_detects_the_injected_drift_and_starts_one_retraining(demo: DemoResult) -> None:
    check = demo.monitor["check"]
    assert check["dataset_drift"] is True
    assert {"tenure_months", "monthly_charges", "plan"} <= set(check["drifted_features"])
    assert "age" not in check["drifted_features"] and "region" not in check["drifted_features"]
    assert check["rows"] == 2000
    assert demo.monitor["retraining"]["started"] is True


def test_the_drift_started_exactly_one_retraining(demo: DemoResult, platform: Platform) -> None:
    executions = platform.executions(platform.resources.training_state_machine)
    retrains = [e for e in executions if "-retrain-" in e["name"]]
    assert [e["name"] for e in retrains] == [demo.retrain_execution]


def test_monitor_measures_live_performance_from_feedback(demo: DemoResult, platform: Platform, tmp_path: Path) -> None:
    check = demo.monitor["check"]
    assert "on 1000 labelled rows vs" in check["summary"]  # the drifted requests' ground truth, joined by request id
    assert "performance_degraded" in check
    # `mlops monitor report` downloads the same report and names the performance finding
    from infra.cli import monitor_report

    assert monitor_report(platform, "churn", tmp_path) == 0
    [report] = list(tmp_path.glob("churn-*.html"))
    assert "labelled rows" in report.read_text()


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
    assert "drift_checked" in actions and "retrain_started" in actions


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
    assert hooks.CALLS["normalise_parameters"] > 0 and hooks.CALLS["normalise_response"] > 0
    assert target.training.runs and target.training.runs[0]["MODEL_NAME"] == "churn"
    assert {"validate", "evaluate", "register", "promote", "predict", "list_due", "drift_check", "retrain"} <= set(
        target.functions.invocations
    )


def test_a_second_monitor_run_is_held_by_the_cool_down(demo: DemoResult, platform: Platform) -> None:
    execution = platform.wait(platform.start_monitor(force=True))
    assert execution["status"] == "SUCCEEDED"
    result = json.loads(execution["output"])["results"][0]
    assert result["started"] is False and "cool-down" in result["reason"]
    trail = platform.registry.audit_trail("churn")
    assert trail[-1].action == "retrain_skipped"


def test_a_dataset_breaking_the_contract_fails_the_pipeline_and_changes_nothing(
    demo: DemoResult, platform: Platform
) -> None:
    versions_before = platform.registry.list_versions("churn")
    alias_before = platform.registry.get_alias("churn")
    bad = b"tenure_months,monthly_charges\n-5,abc\n"
    uri = platform.upload_dataset("churn", bad, "csv")
    execution = platform.wait(platform.start_pipeline("churn", dataset_uri=uri))
    assert execution["status"] == "FAILED"
    assert execution["error"] == "PipelineFailedError"
    assert platform.registry.list_versions("churn") == versions_before
    assert platform.registry.get_alias("churn") == alias_before


def test_rollback_restores_the_previous_champion_and_the_api_follows(demo: DemoResult, platform: Platform) -> None:
    record = platform.registry.rollback("churn", actor="e2e")
    assert record.version == 1
    status, body = platform.call_api("GET", "/models/churn")
    # The predict function re-reads the alias at most every ALIAS_TTL_SECONDS; the local API runs
    # one container, so the answer is v1 or, within the TTL, still v2.
    assert status == 200 and body["version"] in (1, 2)
    platform.registry.set_alias("churn", "champion", 2, actor="e2e", reason="restore")
