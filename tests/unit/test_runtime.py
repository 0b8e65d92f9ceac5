"""The Lambda glue's shutdown hooks and the settings' tunable defaults."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

import mlruntime
from mlcore.catalog import DriftCheckSettings, PredictSettings, tunable_defaults


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An empty list of shutdown hooks, and the SIGTERM handler put back afterwards."""
    monkeypatch.setattr(mlruntime, "_shutdown_hooks", [])
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_shutdown_runs_every_hook_once(hooks: None) -> None:
    calls: list[str] = []
    mlruntime.on_shutdown(lambda: calls.append("flush capture"))
    mlruntime.on_shutdown(lambda: calls.append("close"))
    mlruntime.shutdown()
    mlruntime.shutdown()
    assert calls == ["flush capture", "close"]


def test_a_failing_hook_does_not_stop_the_others(hooks: None) -> None:
    calls: list[str] = []

    def broken() -> None:
        raise RuntimeError("S3 is gone")

    mlruntime.on_shutdown(broken)
    mlruntime.on_shutdown(lambda: calls.append("second"))
    mlruntime.shutdown()
    assert calls == ["second"]


def test_on_shutdown_installs_a_sigterm_handler_that_runs_the_hooks(hooks: None) -> None:
    calls: list[str] = []
    mlruntime.on_shutdown(lambda: calls.append("flushed"))
    handler = signal.getsignal(signal.SIGTERM)
    assert callable(handler)
    # WHEN Lambda sends SIGTERM at shutdown (called directly: a real signal would end the test run)
    with pytest.raises(SystemExit) as exited:
        handler(signal.SIGTERM, None)  # type: ignore[operator]
    # THEN the hooks ran and the process exits cleanly
    assert calls == ["flushed"]
    assert exited.value.code == 0


def test_the_sigterm_handler_is_installed_once(hooks: None) -> None:
    mlruntime.on_shutdown(lambda: None)
    first = signal.getsignal(signal.SIGTERM)
    mlruntime.on_shutdown(lambda: None)
    assert signal.getsignal(signal.SIGTERM) is first
    assert len(mlruntime._shutdown_hooks) == 2


def test_tunable_defaults_are_the_fields_with_a_default() -> None:
    assert tunable_defaults(PredictSettings) == {
        "max_rows": 1000,
        "max_body_bytes": 1_000_000,
        "alias_ttl_seconds": 30.0,
        "capture_max_rows": 10_000,
        "capture_max_age_seconds": 30.0,
    }
    assert tunable_defaults(DriftCheckSettings) == {}  # resource names never have a default


def test_a_tunable_default_can_be_overridden_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("REGISTRY_TABLE", "ARTIFACTS_BUCKET", "CAPTURE_BUCKET", "ONLINE_FEATURES_TABLE", "REQUEST_ID_KEY"):
        monkeypatch.setenv(key, key.lower())
    monkeypatch.setenv("CAPTURE_MAX_ROWS", "50")
    settings = PredictSettings()  # type: ignore[call-arg]
    assert (settings.capture_max_rows, settings.max_rows) == (50, 1000)


def test_metrics_written_by_the_rollups_alone_need_rollups() -> None:
    from mlruntime import emit_metrics

    with pytest.raises(ValueError, match="give the rollups"):
        emit_metrics("ns", {"model": "m"}, {"SlowAnswers": (0.0, "Count")}, rollup_only={"SlowAnswers"})


def test_a_metrics_line_is_one_json_document_whatever_number_type_a_value_has(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import numpy as np

    from mlruntime import emit_metrics

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    values = {"Latency": (np.float64(1.25), "Milliseconds"), "Rows": (np.int64(7), "Count"), "Slow": (0.0, "Count")}
    emit_metrics("ns", {"model": "m", "version": "3"}, values, rollups=(("model",),), rollup_only={"Slow"})
    [line] = capsys.readouterr().out.splitlines()
    document = json.loads(line)
    assert (document["Latency"], document["Rows"], document["Slow"], document["model"]) == (1.25, 7, 0.0, "m")
    [by_version, by_model] = document["_aws"]["CloudWatchMetrics"]
    assert by_version["Dimensions"] == [["model", "version"], ["model"]]
    assert [m["Name"] for m in by_model["Metrics"]] == ["Slow"] and by_model["Dimensions"] == [["model"]]


def test_a_step_output_is_json_that_step_functions_takes_and_reads_back_as_it_was() -> None:
    import json
    import math

    from mlcore.catalog import EvaluateResult

    # ROC AUC of a holdout of one class is undefined: Lambda's encoder would write the float as a NaN token
    result = EvaluateResult(
        model_name="churn", run_id="r1", passed=False, reason="roc_auc nan misses the minimum 0.7",
        primary_metric="roc_auc", candidate_metrics={"roc_auc": math.nan, "accuracy": 0.9},
    )  # fmt: skip
    out = mlruntime.output(result)
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    assert out["candidate_metrics"] == {"roc_auc": "NaN", "accuracy": 0.9}
    back = EvaluateResult.model_validate(out)
    assert math.isnan(back.candidate_metrics["roc_auc"]) and back.reason == result.reason


def test_every_step_function_returns_its_result_through_output() -> None:
    from pathlib import Path

    handlers = sorted(Path(__file__).resolve().parents[2].glob("functions/*/handler.py"))
    assert len(handlers) > 15
    dumped = [h.parent.name for h in handlers if 'model_dump(mode="json")' in h.read_text()]
    assert dumped == []  # a float NaN in it would reach Lambda's encoder
