"""MonitoringStack: the scheduled monitor and the alarms over training and serving."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import MlopsConfig
from infra.constructs.data import DataPlane
from infra.constructs.lambda_factory import LambdaFactory
from infra.constructs.layers import Layers
from infra.constructs.monitoring import Monitor


class MonitoringStack(Stack):
    """Stateless monitoring compute wired to the data plane, the training pipeline and the API."""

    monitor: Monitor

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: MlopsConfig,
        data: DataPlane,
        training_state_machine: sfn.IStateMachine,
        api: apigw.RestApi,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        layers = Layers(self, "Layers", names=("core", "data"))
        self.monitor = Monitor(
            self,
            "Monitor",
            factory=LambdaFactory(prefix=config.prefix, layers=layers.layers),
            schedule_expression=config.monitor_schedule,
            alarm_email=config.alarm_email,
            key=data.key,
            registry_table=data.registry_table,
            artifacts_bucket=data.artifacts_bucket,
            capture_bucket=data.capture_bucket,
            alerts_topic=data.alerts_topic,
            training_state_machine=training_state_machine,
            api=api,
        )
        CfnOutput(self, "MonitorStateMachineArn", value=self.monitor.state_machine.state_machine_arn)
