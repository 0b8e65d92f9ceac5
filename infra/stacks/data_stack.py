"""DataStack: the stateful lifecycle (key, buckets, registry table, alerts topic)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import MlopsConfig
from infra.constructs.data import DataPlane


class DataStack(Stack):
    """Stateful resources, deployed once and retained; the compute stacks reference them."""

    data: DataPlane

    def __init__(self, scope: Construct, construct_id: str, *, config: MlopsConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.data = DataPlane(self, "DataPlane", prefix=config.prefix)
        # Outputs the `mlops` CLI discovers the deployment by (infra/operations.py OUTPUTS).
        CfnOutput(self, "RegistryTable", value=self.data.registry_table.table_name)
        CfnOutput(self, "DataBucket", value=self.data.data_bucket.bucket_name)
        CfnOutput(self, "ArtifactsBucket", value=self.data.artifacts_bucket.bucket_name)
        CfnOutput(self, "CaptureBucket", value=self.data.capture_bucket.bucket_name)
