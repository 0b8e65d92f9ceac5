"""ServingStack: the inference API."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aws_cdk import Stack
from constructs import Construct

from infra.config import MlopsConfig
from infra.constructs.lambda_factory import LambdaFactory
from infra.constructs.layers import Layers
from infra.constructs.outputs import add_output
from infra.constructs.resources import PlatformResources
from infra.constructs.serving import InferenceApi
from mlcore.catalog import OUTPUTS


class ServingStack(Stack):
    """Stateless serving compute wired to the data plane."""

    inference: InferenceApi

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
        layers = Layers(self, "Layers", names=("core", "serving"))
        # Governance starts training runs, reads who started one, and completes the tokens of runs waiting for it.
        resources = replace(
            resources.with_executions(config.training_state_machine_name, self),
            separation_of_duties=config.separation_of_duties,
        )
        self.inference = InferenceApi(
            self,
            "Inference",
            factory=LambdaFactory(prefix=config.prefix, layers=layers.layers, resources=resources),
            auth=config.api_auth,
            prefix=config.prefix,
            governed_models=config.governed_models,
        )
        add_output(self, "api_url", self.inference.api.url)
        for output in OUTPUTS:
            duty = output.key.removesuffix("PolicyArn")
            if duty in self.inference.policies:
                add_output(self, output.resource, self.inference.policies[duty].managed_policy_arn)
        if self.inference.api_key is not None:
            add_output(self, "api_key_id", self.inference.api_key.key_id)
