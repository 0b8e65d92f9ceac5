"""The operations view: one CloudWatch dashboard over every model (search expressions: models come and go without a
deployment), and per-model alarms on p99 latency and 5xx answers for every model (Metrics Insights alarms: each
model is a contributor, with its own state and notifications, from its first answer on)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from mlcore.catalog import metrics

FIVE_MINUTES = Duration.minutes(5)
SLOW_SHARE = 0.01  # more than 1 % of a model's answers slower than SLOW_ANSWER_MS: its p99 is above it


def _search(
    namespace: str, metric: str, statistic: str, dimensions: str = "model", period: Duration = FIVE_MINUTES
) -> str:
    """A search expression: `metric` of every model (or view) in the deployment's namespace."""
    seconds = int(period.to_seconds())
    return f"SEARCH('{{{namespace},{dimensions}}} MetricName=\"{metric}\"', '{statistic}', {seconds})"


def _graph(title: str, *expressions: tuple[str, str], period: Duration = FIVE_MINUTES) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title,
        width=12,
        left=[
            cloudwatch.MathExpression(expression=expression, label=label, using_metrics={}, period=period)
            for label, expression in expressions
        ],
    )


class Operations(Construct):
    """The platform's dashboard and every model's serving alarms."""

    dashboard: cloudwatch.Dashboard
    alarms: list[cloudwatch.Alarm]

    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, training: sfn.IStateMachine) -> None:
        super().__init__(scope, construct_id)
        hour = Duration.hours(1)
        namespace = metrics.namespace(prefix)
        errors = f"SEARCH('{{{namespace},model}} {metrics.ERRORS_PREFIX.rstrip('_')}', 'Sum', 300)"
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"{prefix}-models")
        self.dashboard.add_widgets(
            _graph(
                "Latency by model (ms)",
                ("p50", _search(namespace, metrics.LATENCY, "p50")),
                ("p99", _search(namespace, metrics.LATENCY, "p99")),
            ),
            _graph("Rows scored by model", ("rows", _search(namespace, metrics.PREDICTED_ROWS, "Sum"))),
        )
        self.dashboard.add_widgets(
            _graph("Errors by model and code", ("errors", errors)),
            _graph(
                "Drift share and degraded live performance by model (hourly)",
                ("drift share %", _search(namespace, metrics.DRIFT_SHARE, "Maximum", "model,service", hour)),
                ("degraded", _search(namespace, metrics.PERFORMANCE_DEGRADED, "Maximum", "model,service", hour)),
                period=hour,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Training runs (retrains included)",
                width=12,
                left=[training.metric_started(period=hour), training.metric_failed(period=hour)],
            ),
            _graph(
                "Feature views: newest value's age (h)",
                ("age", _search(namespace, metrics.FEATURE_VIEW_AGE, "Maximum", "service,view")),
            ),
        )
        self.alarms = [
            self._every_model(
                "SlowAnswers",
                f"SELECT AVG({metrics.SLOW_ANSWERS}) FROM SCHEMA({namespace}, model) GROUP BY model",
                threshold=SLOW_SHARE,
                periods=3,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                description=f"A model's p99 latency is above {metrics.SLOW_ANSWER_MS} ms for 15 minutes (over "
                f"{SLOW_SHARE:.0%} of its answers slower)",
            ),
            self._every_model(
                "ServerErrors",
                f"SELECT SUM({metrics.SERVER_ERRORS}) FROM SCHEMA({namespace}, model) GROUP BY model",
                threshold=1,
                periods=1,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                description="A model answered a 5xx (our fault) in 5 minutes",
            ),
        ]

    def _every_model(
        self,
        construct_id: str,
        query: str,
        *,
        threshold: float,
        periods: int,
        comparison: cloudwatch.ComparisonOperator,
        description: str,
    ) -> cloudwatch.Alarm:
        """An alarm on a Metrics Insights query grouped by model: a contributor per model, each alarmed alone."""
        return cloudwatch.Alarm(
            self,
            construct_id,
            metric=cloudwatch.MathExpression(expression=query, using_metrics={}, period=FIVE_MINUTES),
            threshold=threshold,
            evaluation_periods=periods,
            comparison_operator=comparison,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
