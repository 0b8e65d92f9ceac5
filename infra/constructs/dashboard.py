"""The operations view: one CloudWatch dashboard over every model (search expressions: models come and go without a
deployment), and per-model alarms on p99 latency and 5xx answers for the models the context names."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

import mlcore.errors
from mlcore.catalog import metrics

FIVE_MINUTES = Duration.minutes(5)
P99_LATENCY_MS = 500  # an answer slower than this at p99 for 15 minutes pages the model's owner
# The error codes of the 5xx answers (our fault): each is an Errors_<code> metric of the predict function.
SERVER_ERROR_CODES = sorted(
    {
        kind.code
        for kind in vars(mlcore.errors).values()
        if isinstance(kind, type) and issubclass(kind, mlcore.errors.MlopsError) and kind.status >= 500
    }
)


def _search(metric: str, statistic: str, dimensions: str = "model", period: Duration = FIVE_MINUTES) -> str:
    """A search expression: `metric` of every model (or view) in the platform's namespace."""
    seconds = int(period.to_seconds())
    return f"SEARCH('{{{metrics.NAMESPACE},{dimensions}}} MetricName=\"{metric}\"', '{statistic}', {seconds})"


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
    """The platform's dashboard and the named models' serving alarms."""

    dashboard: cloudwatch.Dashboard
    alarms: list[cloudwatch.Alarm]

    def __init__(
        self, scope: Construct, construct_id: str, *, prefix: str, training: sfn.IStateMachine, models: tuple[str, ...]
    ) -> None:
        super().__init__(scope, construct_id)
        hour = Duration.hours(1)
        errors = f"SEARCH('{{{metrics.NAMESPACE},model}} {metrics.ERRORS_PREFIX.rstrip('_')}', 'Sum', 300)"
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"{prefix}-models")
        self.dashboard.add_widgets(
            _graph(
                "Latency by model (ms)",
                ("p50", _search(metrics.LATENCY, "p50")),
                ("p99", _search(metrics.LATENCY, "p99")),
            ),
            _graph("Rows scored by model", ("rows", _search(metrics.PREDICTED_ROWS, "Sum"))),
        )
        self.dashboard.add_widgets(
            _graph("Errors by model and code", ("errors", errors)),
            _graph(
                "Drift share and degraded live performance by model (hourly)",
                ("drift share %", _search(metrics.DRIFT_SHARE, "Maximum", "model,service", hour)),
                ("degraded", _search(metrics.PERFORMANCE_DEGRADED, "Maximum", "model,service", hour)),
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
                ("age", _search(metrics.FEATURE_VIEW_AGE, "Maximum", "service,view")),
            ),
        )
        self.alarms = [alarm for model in models for alarm in self._model_alarms(model)]

    def _model_alarms(self, model: str) -> list[cloudwatch.Alarm]:
        """p99 latency over the bound for 15 minutes; any 5xx answer in 5 minutes."""
        by_model = {"model": model}
        latency = cloudwatch.Metric(
            namespace=metrics.NAMESPACE, metric_name=metrics.LATENCY, dimensions_map=by_model, statistic="p99",
            period=FIVE_MINUTES,
        )  # fmt: skip
        server_errors = cloudwatch.MathExpression(
            expression=" + ".join(f"FILL(e{n}, 0)" for n in range(len(SERVER_ERROR_CODES))),
            using_metrics={
                f"e{n}": cloudwatch.Metric(
                    namespace=metrics.NAMESPACE,
                    metric_name=f"{metrics.ERRORS_PREFIX}{code}",
                    dimensions_map=by_model,
                    statistic="Sum",
                    period=FIVE_MINUTES,
                )
                for n, code in enumerate(SERVER_ERROR_CODES)
            },
            label=f"{model}: 5xx answers",
            period=FIVE_MINUTES,
        )
        id_ = "".join(part.capitalize() for part in model.split("-"))
        return [
            cloudwatch.Alarm(
                self,
                f"{id_}P99Latency",
                metric=latency,
                threshold=P99_LATENCY_MS,
                evaluation_periods=3,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"{model}: p99 latency above {P99_LATENCY_MS} ms for 15 minutes",
            ),
            cloudwatch.Alarm(
                self,
                f"{id_}ServerErrors",
                metric=server_errors,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"{model}: a 5xx answer (ours: {', '.join(SERVER_ERROR_CODES)}) in 5 minutes",
            ),
        ]
