"""TrainingStack: the training pipeline (VPC, Batch, pipeline functions, state machine)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import MlopsConfig
from infra.constructs.data import DataPlane
from infra.constructs.lambda_factory import LambdaFactory
from infra.constructs.layers import Layers
from infra.constructs.training import TrainingPipeline


class TrainingStack(Stack):
    """Stateless training compute wired to the data plane."""

    pipeline: TrainingPipeline

    def __init__(
        self, scope: Construct, construct_id: str, *, config: MlopsConfig, data: DataPlane, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        layers = Layers(self, "Layers", names=("core", "data"))
        self.pipeline = TrainingPipeline(
            self,
            "Pipeline",
            factory=LambdaFactory(prefix=config.prefix, layers=layers.layers),
            key=data.key,
            data_bucket=data.data_bucket,
            artifacts_bucket=data.artifacts_bucket,
            registry_table=data.registry_table,
            alerts_topic=data.alerts_topic,
        )
        CfnOutput(self, "TrainingStateMachineArn", value=self.pipeline.state_machine.state_machine_arn)
