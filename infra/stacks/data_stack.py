"""DataStack: the stateful lifecycle (key, buckets, registry table, alerts topic)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import MlopsConfig
from infra.constructs.data import DataPlane
from infra.constructs.outputs import add_output
from infra.constructs.resources import PlatformResources
from mlcore.catalog import (
    ALERTS_TOPIC,
    ARTIFACTS_BUCKET,
    AUDIT_BUCKET,
    CAPTURE_BUCKET,
    DATA_BUCKET,
    DATASETS_DATABASE,
    FEATURES_DATABASE,
    ONLINE_FEATURES_TABLE,
    REGISTRY_TABLE,
    RUNS_DATABASE,
)


class DataStack(Stack):
    """Stateful resources, deployed once and retained; the compute stacks reference them."""

    data: DataPlane
    resources: PlatformResources

    def __init__(self, scope: Construct, construct_id: str, *, config: MlopsConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        days = Duration.days(config.audit_retention_days)
        retention = (
            s3.ObjectLockRetention.compliance(days)
            if config.audit_lock_mode == "compliance"
            else s3.ObjectLockRetention.governance(days)
        )
        self.data = data = DataPlane(self, "DataPlane", prefix=config.prefix, audit_retention=retention)
        self.resources = PlatformResources(
            key=data.key,
            registry_table=data.registry_table,
            data_bucket=data.data_bucket,
            artifacts_bucket=data.artifacts_bucket,
            capture_bucket=data.capture_bucket,
            alerts_topic=data.alerts_topic,
            runs_database=data.runs_database,
            online_features_table=data.online_features_table,
            features_database=data.features_database,
            datasets_database=data.datasets_database,
            event_bus=events.EventBus.from_event_bus_name(self, "DefaultBus", "default"),
            request_id_key=data.request_id_key,
            audit_table=data.audit_table,
            audit_bucket=data.audit_bucket,
        )
        outputs = (REGISTRY_TABLE, DATA_BUCKET, ARTIFACTS_BUCKET, CAPTURE_BUCKET, ALERTS_TOPIC, ONLINE_FEATURES_TABLE,
                   FEATURES_DATABASE, DATASETS_DATABASE, RUNS_DATABASE, AUDIT_BUCKET)  # fmt: skip
        for resource in outputs:
            add_output(self, resource, self.resources.setting(resource))
