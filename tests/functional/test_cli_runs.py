"""`mlops runs show` of a run that has no record yet: one in flight says so (a script polls it until its record is
there); one that ended without a record, or never was, is not found, each in its own words."""

from __future__ import annotations

import json

import pytest
from functional_helpers import pass_state_machine

from mlcore.registry import Registry
from mlcore.storage import ObjectStore


def test_a_run_in_flight_is_shown_running_and_one_without_a_record_is_not_found(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    capture: ObjectStore,
    runs_stay_running: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from infra import cli
    from infra.operations import Platform, Resources

    sfn, training = pass_state_machine("training")
    machines = {"training_state_machine": training, "monitor_state_machine": "x", "retraining_state_machine": "x"}
    buckets = (data.bucket, artifacts.bucket, capture.bucket)
    deployed = Resources(registry.table, *buckets, **machines, batch_state_machine=None, alerts_topic=None,
                         api_url=None)  # fmt: skip
    monkeypatch.setattr(cli, "_platform", lambda: Platform(deployed))
    # GIVEN a run of churn started with --no-wait, still in flight (its record is written once it ends)
    run_id = "churn-20261207T200448146461"
    sfn.start_execution(stateMachineArn=training, name=run_id, input=json.dumps({"model_name": "churn"}))
    # WHEN a script asks for it THEN it is running, not unknown (exit 0)
    assert cli.main(["runs", "show", run_id, "--output", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert {k: shown[k] for k in ("run_id", "model_name", "status", "recorded")} == {
        "run_id": run_id,
        "model_name": "churn",
        "status": "RUNNING",
        "recorded": False,
    }
    assert shown["started_at"].endswith("+00:00")
    assert cli.main(["runs", "show", run_id]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert said.startswith(f"Run {run_id} of churn is in flight since ")
    assert said.endswith(f"it is recorded once it ends (`mlops runs show {run_id}` then)")
    # WHEN its execution was stopped before it recorded the run THEN it is not found, and the line says how it ended
    sfn.stop_execution(executionArn=training.replace(":stateMachine:", ":execution:") + f":{run_id}")
    assert cli.main(["runs", "show", run_id]) == 1
    said = " ".join(capsys.readouterr().err.split())
    assert said.startswith(f"NotFoundError: no run '{run_id}' was recorded: its execution ended ABORTED at ")
    # WHEN the id names no run at all (nor a valid execution name) THEN it is not found either
    for unknown in ("churn-20990101T000000000000", "no such run", "x" * 300):
        assert cli.main(["runs", "show", unknown]) == 1
        said = " ".join(capsys.readouterr().err.split())
        assert said == f"NotFoundError: no run '{unknown}' was recorded, nor is one in flight"
