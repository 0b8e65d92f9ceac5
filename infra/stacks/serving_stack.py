"""ServingStack: the inference API."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import MlopsConfig
from infra.constructs.data import DataPlane
from infra.constructs.lambda_factory import LambdaFactory
from infra.constructs.layers import Layers
from infra.constructs.serving import InferenceApi


class ServingStack(Stack):
    """Stateless serving compute wired to the data plane."""

    inference: InferenceApi

    def __init__(
        self, scope: Construct, construct_id: str, *, config: MlopsConfig, data: DataPlane, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        layers = Layers(self, "Layers", names=("core", "serving"))
        self.inference = InferenceApi(
            self,
            "Inference",
            factory=LambdaFactory(prefix=config.prefix, layers=layers.layers),
            auth=config.api_auth,
            registry_table=data.registry_table,
            artifacts_bucket=data.artifacts_bucket,
            capture_bucket=data.capture_bucket,
            prefix=config.prefix,
        )
        CfnOutput(self, "ApiUrl", value=self.inference.api.url, description="Base URL of the inference API")
