"""Monitor: the scheduled drift/quality state machine, its functions and the platform's alarms."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.lambda_factory import METRICS_NAMESPACE, LambdaFactory
from infra.constructs.training import asl_state_machine
from mlcore.catalog import DriftCheckSettings, ListDueSettings, RetrainSettings

SCHEDULE_INPUT = {"source": "schedule"}


class Monitor(Construct):
    """list_due -> Map(drift_check -> alert -> retrain), on a schedule; alarms to the alerts topic."""

    list_due_function: lambda_.Function
    drift_check_function: lambda_.Function
    retrain_function: lambda_.Function
    state_machine: sfn.StateMachine
    schedule: events.Rule
    alarms: list[cloudwatch.Alarm]

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        schedule_expression: str,
        alarm_email: str | None,
        key: kms.IKey,
        registry_table: dynamodb.ITable,
        artifacts_bucket: s3.IBucket,
        capture_bucket: s3.IBucket,
        alerts_topic: sns.ITopic,
        training_state_machine: sfn.IStateMachine,
        api: apigw.RestApi,
    ) -> None:
        super().__init__(scope, construct_id)
        table = registry_table.table_name
        self.list_due_function = factory.create(
            self, "list_due", settings=ListDueSettings, values={"registry_table": table}
        )
        registry_table.grant_read_data(self.list_due_function)

        self.drift_check_function = factory.create(
            self,
            "drift_check",
            settings=DriftCheckSettings,
            values={
                "registry_table": table,
                "artifacts_bucket": artifacts_bucket.bucket_name,
                "capture_bucket": capture_bucket.bucket_name,
            },
            layers=("core", "data"),
            memory_size=1024,
            timeout=Duration.seconds(60),
        )
        registry_table.grant_read_write_data(self.drift_check_function)
        artifacts_bucket.grant_read_write(self.drift_check_function)
        capture_bucket.grant_read(self.drift_check_function)

        self.retrain_function = factory.create(
            self,
            "retrain",
            settings=RetrainSettings,
            values={"registry_table": table, "training_state_machine_arn": training_state_machine.state_machine_arn},
        )
        registry_table.grant_read_write_data(self.retrain_function)
        training_state_machine.grant_start_execution(self.retrain_function)

        self.state_machine = asl_state_machine(
            self,
            "StateMachine",
            asl="monitor",
            substitutions={
                "ListDueFunctionArn": self.list_due_function.function_arn,
                "DriftCheckFunctionArn": self.drift_check_function.function_arn,
                "RetrainFunctionArn": self.retrain_function.function_arn,
                "AlertsTopicArn": alerts_topic.topic_arn,
            },
        )
        for function in (self.list_due_function, self.drift_check_function, self.retrain_function):
            function.grant_invoke(self.state_machine)
        alerts_topic.grant_publish(self.state_machine)
        key.grant(self.state_machine, "kms:Decrypt", "kms:GenerateDataKey*")

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
            self._alarm("DatasetDrift", self._fleet_metric("DatasetDrift"), "dataset drift"),
            self._alarm("PerformanceDegraded", self._fleet_metric("PerformanceDegraded"), "performance degradation"),
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
            namespace=METRICS_NAMESPACE, metric_name=name, statistic="Sum", period=Duration.minutes(5)
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
