"""Operations: a dashboard over every model (search expressions), and every model's p99 latency and 5xx alarms."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from infra.constructs.dashboard import SLOW_SHARE
from mlcore.catalog import metrics

if TYPE_CHECKING:
    from conftest import Synthesized


def _alarms(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        logical.removeprefix("Operations").rstrip("0123456789ABCDEF"): r["Properties"]
        for logical, (_, r) in synthesized.resources("AWS::CloudWatch::Alarm").items()
        if logical.startswith("Operations")
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


def test_every_model_has_a_p99_latency_and_a_5xx_alarm_on_the_alerts_topic(synthesized: Synthesized) -> None:
    # one Metrics Insights query grouped by model each: a model registered after the deployment is watched too
    alarms = _alarms(synthesized)
    assert sorted(alarms) == ["ServerErrors", "SlowAnswers"]
    [slow] = alarms["SlowAnswers"]["Metrics"]
    assert slow["Expression"] == "SELECT AVG(SlowAnswers) FROM SCHEMA(Mlops, model) GROUP BY model"
    assert slow["Period"] == 300
    assert (alarms["SlowAnswers"]["Threshold"], alarms["SlowAnswers"]["EvaluationPeriods"]) == (SLOW_SHARE, 3)
    assert alarms["SlowAnswers"]["ComparisonOperator"] == "GreaterThanThreshold"
    [errors] = alarms["ServerErrors"]["Metrics"]
    assert errors["Expression"] == "SELECT SUM(ServerErrors) FROM SCHEMA(Mlops, model) GROUP BY model"
    assert (alarms["ServerErrors"]["Threshold"], alarms["ServerErrors"]["EvaluationPeriods"]) == (1, 1)
    assert alarms["ServerErrors"]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    for alarm in alarms.values():
        assert "Alerts" in json.dumps(alarm["AlarmActions"])
        assert alarm["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize(
    ("latency_ms", "status", "slow", "server_error"),
    [
        (metrics.SLOW_ANSWER_MS, 200, 0.0, 0.0),  # exactly the bound is not slow
        (metrics.SLOW_ANSWER_MS + 0.001, 200, 1.0, 0.0),
        (3.0, 499, 0.0, 0.0),  # a client's mistake pages nobody
        (3.0, 500, 0.0, 1.0),
        (3.0, 503, 0.0, 1.0),
    ],
)
def test_each_answer_says_whether_it_was_slow_and_whether_it_was_our_fault(
    latency_ms: float, status: int, slow: float, server_error: float
) -> None:
    emitted = metrics.answer_metrics(latency_ms, status)
    assert emitted[metrics.LATENCY] == (latency_ms, "Milliseconds")
    assert emitted[metrics.SLOW_ANSWERS] == (slow, "Count")
    assert emitted[metrics.SERVER_ERRORS] == (server_error, "Count")


def test_another_prefix_draws_and_alarms_on_its_own_namespace_only() -> None:
    # two deployments in one account and region: neither pages for, nor draws, the other's models
    from aws_cdk import App, Stack
    from aws_cdk import aws_stepfunctions as sfn
    from aws_cdk.assertions import Template

    from infra.constructs.dashboard import Operations

    assert (metrics.namespace("mlops"), metrics.namespace("teamx")) == ("Mlops", "Mlops/teamx")
    stack = Stack(App(), "TeamxOps")
    training = sfn.StateMachine(
        stack, "Training", definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(stack, "P"))
    )
    Operations(stack, "Operations", prefix="teamx", training=training)
    text = json.dumps(Template.from_stack(stack).to_json()).replace('\\"', '"')
    assert "SCHEMA(Mlops/teamx, model)" in text and "{Mlops/teamx,model}" in text
    assert "SCHEMA(Mlops, model)" not in text and "{Mlops," not in text
