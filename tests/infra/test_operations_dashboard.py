"""Operations: a dashboard over every model (search expressions), and a named model's p99 latency and 5xx alarms."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from conftest import GOVERNED_MODEL

from infra.constructs.dashboard import P99_LATENCY_MS, SERVER_ERROR_CODES
from mlcore.catalog import metrics

if TYPE_CHECKING:
    from conftest import Synthesized


def _alarms(synthesized: Synthesized, model: str) -> dict[str, dict[str, Any]]:
    prefix = "Operations" + "".join(part.capitalize() for part in model.split("-"))
    return {
        logical.removeprefix(prefix).rstrip("0123456789ABCDEF"): r["Properties"]
        for logical, (_, r) in synthesized.resources("AWS::CloudWatch::Alarm").items()
        if logical.startswith(prefix)
    }


def test_the_dashboard_draws_every_model_from_search_expressions(synthesized: Synthesized) -> None:
    [dashboard] = [r["Properties"] for _, (_, r) in synthesized.resources("AWS::CloudWatch::Dashboard").items()]
    assert dashboard["DashboardName"] == "mlops-models"
    body = json.dumps(dashboard["DashboardBody"])
    for metric, statistic in (
        (metrics.LATENCY, "p50"),
        (metrics.LATENCY, "p99"),
        (metrics.PREDICTED_ROWS, "Sum"),
        (metrics.DRIFT_SHARE, "Maximum"),
        (metrics.PERFORMANCE_DEGRADED, "Maximum"),
        (metrics.FEATURE_VIEW_AGE, "Maximum"),
    ):
        assert f'MetricName=\\\\\\"{metric}\\\\\\"' in body and f"'{statistic}'" in body, metric
    assert "SEARCH('{Mlops,model} Errors', 'Sum', 300)" in body.replace('\\\\\\"', '"')
    assert "ExecutionsStarted" in body and "ExecutionsFailed" in body  # training runs, retrains included


def test_no_model_is_alarmed_by_default(synthesized: Synthesized) -> None:
    assert _alarms(synthesized, GOVERNED_MODEL) == {}


def test_a_named_model_has_a_p99_latency_and_a_5xx_alarm_on_the_alerts_topic(synthesized_options: Synthesized) -> None:
    alarms = _alarms(synthesized_options, GOVERNED_MODEL)
    assert sorted(alarms) == ["P99Latency", "ServerErrors"]
    latency = alarms["P99Latency"]
    assert (latency["MetricName"], latency["ExtendedStatistic"], latency["Threshold"]) == (
        metrics.LATENCY,
        "p99",
        P99_LATENCY_MS,
    )
    assert latency["Dimensions"] == [{"Name": "model", "Value": GOVERNED_MODEL}]
    assert (latency["EvaluationPeriods"], latency["ComparisonOperator"]) == (3, "GreaterThanThreshold")
    errors = alarms["ServerErrors"]
    watched = [m["MetricStat"]["Metric"]["MetricName"] for m in errors["Metrics"] if "MetricStat" in m]
    assert sorted(watched) == sorted(f"{metrics.ERRORS_PREFIX}{code}" for code in SERVER_ERROR_CODES)
    assert {"dependency_unavailable", "internal_error", "model_unavailable"} <= set(SERVER_ERROR_CODES)
    assert "bad_request" not in SERVER_ERROR_CODES  # a client's mistake pages nobody
    assert (errors["Threshold"], errors["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    for alarm in alarms.values():
        assert "AlertsTopic" in json.dumps(alarm["AlarmActions"]) or "Alerts" in json.dumps(alarm["AlarmActions"])
