"""Monitor: the scheduled drift/quality state machine, its functions and the platform's alarms."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.lambda_factory import LambdaFactory
from infra.constructs.nag import acknowledge
from infra.constructs.resources import PlatformResources
from infra.constructs.training import asl_state_machine
from mlcore.catalog import (
    DATA_BUCKET,
    DATASETS,
    DRIFT_CHECK,
    EXPORT_AUDIT,
    FEATURE_MATERIALIZATION,
    MATERIALIZE_FEATURES,
    MONITOR_PIPELINE,
    PUBLISH_REGISTRY_EVENTS,
    RETRAINING,
    TRAINING_STATE_MACHINE,
    metrics,
)

SCHEDULE_INPUT = {"source": "schedule"}
# What the retraining state machine receives from its rules (the request step's input).
TICK_INPUT = {"trigger": "schedule", "event_id": events.EventField.event_id, "at": events.EventField.time}
# What the feature materialization receives from its tick (BatchTick: the platform's tick).
FEATURE_TICK = {"event_id": events.EventField.event_id, "at": events.EventField.time}
DATA_DROP_INPUT = {
    "trigger": "new_data",
    "event_id": events.EventField.event_id,
    "at": events.EventField.time,
    "key": events.EventField.from_path("$.detail.object.key"),
}


class Monitor(Construct):
    """list_due -> Map(drift_check -> alert -> request retraining), on a schedule; alarms to the alerts topic.

    Retraining requests from the retraining schedules' tick and from data drops under `datasets/`
    go through the retraining state machine to the same request step.
    """

    functions: dict[str, lambda_.Function]
    state_machine: sfn.StateMachine
    schedule: events.Rule
    retraining: sfn.StateMachine
    retrain_tick: events.Rule
    materialization: sfn.StateMachine  # the feature store's tick
    materialize_tick: events.Rule
    stream_dlqs: dict[str, sqs.Queue]  # by function: table stream records it could not handle
    data_drops: events.Rule
    alarms: list[cloudwatch.Alarm]

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        resources: PlatformResources,
        schedule_expression: str,
        retrain_tick: str,
        alarm_email: str | None,
        api: apigw.RestApi,
    ) -> None:
        super().__init__(scope, construct_id)
        self.namespace = metrics.namespace(factory.prefix)
        alerts_topic = resources.alerts_topic
        training_state_machine = resources.get(TRAINING_STATE_MACHINE)
        self.functions = {
            name: factory.create(self, name)
            for name in {*MONITOR_PIPELINE.functions, *RETRAINING.functions, *FEATURE_MATERIALIZATION.functions}
            if name not in resources.functions
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

        self.retraining = asl_state_machine(
            self,
            "Retraining",
            machine=RETRAINING,
            functions={**resources.functions, **self.functions},
            resources=resources,
        )
        self.retrain_tick = events.Rule(
            self,
            "RetrainTick",
            description="Asks for the retraining of every model whose retrain.schedule is due",
            schedule=events.Schedule.expression(retrain_tick),
            targets=[targets.SfnStateMachine(self.retraining, input=events.RuleTargetInput.from_object(TICK_INPUT))],
        )
        # The feature store's tick: every online view's new rows into the online store.
        self.materialization = asl_state_machine(
            self,
            "FeatureMaterialization",
            machine=FEATURE_MATERIALIZATION,
            functions={**resources.functions, **self.functions},
            resources=resources,
        )
        self.materialize_tick = events.Rule(
            self,
            "MaterializeTick",
            description="Brings every online feature view's store up to date and reports its freshness",
            schedule=events.Schedule.expression(retrain_tick),
            targets=[
                targets.SfnStateMachine(self.materialization, input=events.RuleTargetInput.from_object(FEATURE_TICK))
            ],
        )
        self.stream_dlqs = {}
        self._registry_events(factory, resources)
        data_bucket = resources.get(DATA_BUCKET)
        self.data_drops = events.Rule(
            self,
            "DataDrops",
            description="A dataset landing under datasets/<model>/ asks for that model's retraining",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [data_bucket.bucket_name]},
                    "object": {"key": [{"prefix": DATASETS}]},
                },
            ),
            targets=[
                targets.SfnStateMachine(self.retraining, input=events.RuleTargetInput.from_object(DATA_DROP_INPUT))
            ],
        )

        action = cw_actions.SnsAction(alerts_topic)
        self.alarms = [
            self._alarm(
                "Api5xx", api.metric_server_error(period=Duration.minutes(5), statistic="Sum"), "API 5XX errors"
            ),
            self._alarm("TrainingFailed", training_state_machine.metric_failed(period=Duration.minutes(5)), "training"),
            self._alarm("MonitorFailed", self.state_machine.metric_failed(period=Duration.minutes(5)), "monitor"),
            self._alarm(
                "RetrainingFailed", self.retraining.metric_failed(period=Duration.minutes(5)), "retraining request"
            ),
            # Across all models (the drift check also emits these without dimensions); the alert's
            # message and the report name the model.
            self._alarm("DatasetDrift", self._fleet_metric(metrics.DATASET_DRIFT), "dataset drift"),
            self._alarm(
                "PerformanceDegraded", self._fleet_metric(metrics.PERFORMANCE_DEGRADED), "performance degradation"
            ),
            self._alarm(
                "MaterializationFailed",
                self.materialization.metric_failed(period=Duration.minutes(5)),
                "feature view materialization",
            ),
            # Online views whose newest value is older than their TTL: predictions that need them are refused.
            self._alarm(
                "StaleFeatureViews",
                self._fleet_metric(metrics.STALE_FEATURE_VIEWS, MATERIALIZE_FEATURES, "Maximum"),
                "stale feature view",
            ),
        ]
        for alarm in self.alarms:
            alarm.add_alarm_action(action)
        if alarm_email:
            sns.Subscription(
                self, "AlarmEmail", topic=alerts_topic, protocol=sns.SubscriptionProtocol.EMAIL, endpoint=alarm_email
            )

    def _registry_events(self, factory: LambdaFactory, resources: PlatformResources) -> None:
        """The registry table's stream, read by the function that puts its changes on EventBridge; the audit
        table's, by the one that exports it under Object Lock."""
        self._stream_to(factory, PUBLISH_REGISTRY_EVENTS, resources.registry_table, "RegistryEventsDlq", resources)
        self._stream_to(factory, EXPORT_AUDIT, resources.audit_table, "AuditExportDlq", resources)

    def _stream_to(
        self, factory: LambdaFactory, name: str, table: dynamodb.ITable, dlq_id: str, resources: PlatformResources
    ) -> None:
        """A table's stream read by a catalog function; a batch that keeps failing is split to find the record,
        which then goes to a dead-letter queue (nothing lost)."""
        function = factory.create(self, name)
        self.functions[name] = function
        dlq = sqs.Queue(
            self,
            dlq_id,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=resources.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(dlq, {"AwsSolutions-SQS3": f"This queue is the dead-letter queue of {name}'s table stream."})
        function.add_event_source(
            sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=100,
                bisect_batch_on_error=True,
                retry_attempts=10,
                on_failure=sources.SqsDlq(dlq),
            )
        )
        self.stream_dlqs[name] = dlq

    def _fleet_metric(self, name: str, service: str = DRIFT_CHECK, statistic: str = "Sum") -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=self.namespace,
            metric_name=name,
            # Across all models (views): emitted without their dimension too (only Powertools' service).
            dimensions_map={"service": service},
            statistic=statistic,
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
