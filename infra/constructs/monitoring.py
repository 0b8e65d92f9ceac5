"""Monitor: the scheduled drift/quality state machine, its functions and the platform's alarms."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.lambda_factory import LambdaFactory
from infra.constructs.resources import PlatformResources
from infra.constructs.training import asl_state_machine
from mlcore.catalog import DRIFT_CHECK, MONITOR_PIPELINE, TRAINING_STATE_MACHINE, metrics

SCHEDULE_INPUT = {"source": "schedule"}


class Monitor(Construct):
    """list_due -> Map(drift_check -> alert -> retrain), on a schedule; alarms to the alerts topic."""

    functions: dict[str, lambda_.Function]
    state_machine: sfn.StateMachine
    schedule: events.Rule
    alarms: list[cloudwatch.Alarm]

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        resources: PlatformResources,
        schedule_expression: str,
        alarm_email: str | None,
        api: apigw.RestApi,
    ) -> None:
        super().__init__(scope, construct_id)
        alerts_topic = resources.alerts_topic
        training_state_machine = resources.get(TRAINING_STATE_MACHINE)
        self.functions = {
            name: factory.create(self, name) for name in MONITOR_PIPELINE.functions if name not in resources.functions
        }
        self.state_machine = asl_state_machine(
            self,
            "StateMachine",
            machine=MONITOR_PIPELINE,
            functions={**resources.functions, **self.functions},
            resources=resources,
        )

        self.schedule = events.Rule(
            self,
            "Schedule",
            description="Scheduled drift and data-quality checks of the models that are due",
            schedule=events.Schedule.expression(schedule_expression),
            targets=[
                targets.SfnStateMachine(self.state_machine, input=events.RuleTargetInput.from_object(SCHEDULE_INPUT))
            ],
        )

        action = cw_actions.SnsAction(alerts_topic)
        self.alarms = [
            self._alarm(
                "Api5xx", api.metric_server_error(period=Duration.minutes(5), statistic="Sum"), "API 5XX errors"
            ),
            self._alarm("TrainingFailed", training_state_machine.metric_failed(period=Duration.minutes(5)), "training"),
            self._alarm("MonitorFailed", self.state_machine.metric_failed(period=Duration.minutes(5)), "monitor"),
            # Across all models (the drift check also emits these without dimensions); the alert's
            # message and the report name the model.
            self._alarm("DatasetDrift", self._fleet_metric(metrics.DATASET_DRIFT), "dataset drift"),
            self._alarm(
                "PerformanceDegraded", self._fleet_metric(metrics.PERFORMANCE_DEGRADED), "performance degradation"
            ),
        ]
        for alarm in self.alarms:
            alarm.add_alarm_action(action)
        if alarm_email:
            sns.Subscription(
                self, "AlarmEmail", topic=alerts_topic, protocol=sns.SubscriptionProtocol.EMAIL, endpoint=alarm_email
            )

    @staticmethod
    def _fleet_metric(name: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=metrics.NAMESPACE,
            metric_name=name,
            # Across all models: the drift check emits these without a model dimension (only Powertools' service).
            dimensions_map={"service": DRIFT_CHECK},
            statistic="Sum",
            period=Duration.minutes(5),
        )

    def _alarm(self, construct_id: str, metric: cloudwatch.Metric, what: str) -> cloudwatch.Alarm:
        return cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=f"{what}: at least one in 5 minutes",
            metric=metric,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
