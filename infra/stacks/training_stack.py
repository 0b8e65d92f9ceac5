"""TrainingStack: the training pipeline (VPC, Batch, pipeline functions, state machine)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aws_cdk import Stack
from constructs import Construct

from infra.config import MlopsConfig
from infra.constructs.batch_scoring import BatchScoring
from infra.constructs.lambda_factory import LambdaFactory
from infra.constructs.layers import Layers
from infra.constructs.outputs import add_output
from infra.constructs.resources import PlatformResources
from infra.constructs.training import TrainingPipeline
from mlcore.catalog import BATCH_STATE_MACHINE, TRAINING_STATE_MACHINE


class TrainingStack(Stack):
    """Stateless training compute wired to the data plane."""

    pipeline: TrainingPipeline
    batch_scoring: BatchScoring

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: MlopsConfig,
        resources: PlatformResources,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        layers = Layers(self, "Layers", names=("core", "data"))
        name = config.training_state_machine_name
        resources = replace(resources.with_executions(name, self), gpu_jobs=config.gpu_jobs)
        factory = LambdaFactory(prefix=config.prefix, layers=layers.layers, resources=resources)
        self.pipeline = TrainingPipeline(
            self, "Pipeline", factory=factory, resources=resources, state_machine_name=name
        )
        add_output(self, TRAINING_STATE_MACHINE, self.pipeline.state_machine.state_machine_arn)
        self.batch_scoring = BatchScoring(
            self,
            "BatchScoring",
            pipeline=self.pipeline,
            factory=factory,
            resources=resources,
            state_machine_name=f"{config.prefix}-batch-scoring",
            tick=config.retrain_tick,
        )
        add_output(self, BATCH_STATE_MACHINE, self.batch_scoring.state_machine.state_machine_arn)
