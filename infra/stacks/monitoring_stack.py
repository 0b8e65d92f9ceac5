"""MonitoringStack: the scheduled monitor and the alarms over training and serving."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from constructs import Construct

from infra.config import MlopsConfig
from infra.constructs.dashboard import Operations
from infra.constructs.lambda_factory import LambdaFactory
from infra.constructs.layers import Layers
from infra.constructs.monitoring import Monitor
from infra.constructs.outputs import add_output
from infra.constructs.resources import PlatformResources
from mlcore.catalog import TRAINING_STATE_MACHINE


class MonitoringStack(Stack):
    """Stateless monitoring compute wired to the data plane, the training pipeline and the API."""

    monitor: Monitor

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: MlopsConfig,
        resources: PlatformResources,
        api: apigw.RestApi,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        layers = Layers(self, "Layers", names=("core", "data"))
        self.monitor = Monitor(
            self,
            "Monitor",
            factory=LambdaFactory(prefix=config.prefix, layers=layers.layers, resources=resources),
            resources=resources,
            schedule_expression=config.monitor_schedule,
            retrain_tick=config.retrain_tick,
            alarm_email=config.alarm_email,
            api=api,
        )
        add_output(self, "monitor_state_machine", self.monitor.state_machine.state_machine_arn)
        add_output(self, "retraining_state_machine", self.monitor.retraining.state_machine_arn)
        self.operations = Operations(
            self,
            "Operations",
            prefix=config.prefix,
            training=resources.get(TRAINING_STATE_MACHINE),
        )
        for alarm in self.operations.alarms:
            alarm.add_alarm_action(cw_actions.SnsAction(resources.alerts_topic))
