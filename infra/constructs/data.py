"""DataPlane: the stateful resources (key, buckets, registry table, feature store, alerts topic)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.constructs.nag import acknowledge, checkov_skip
from mlcore.catalog import ATHENA_RESULTS, QUERIES, audit_table_name


class DataPlane(Construct):
    """One KMS key, the data/artifacts/capture buckets, the registry table and the alerts topic."""

    key: kms.Key
    access_logs_bucket: s3.Bucket
    data_bucket: s3.Bucket
    artifacts_bucket: s3.Bucket
    capture_bucket: s3.Bucket
    registry_table: dynamodb.Table
    audit_table: dynamodb.Table
    audit_bucket: s3.Bucket
    alerts_topic: sns.Topic
    runs_database: glue.CfnDatabase
    online_features_table: dynamodb.Table
    request_id_key: kms.Key
    features_database: glue.CfnDatabase
    datasets_database: glue.CfnDatabase

    def __init__(
        self, scope: Construct, construct_id: str, *, prefix: str, audit_retention: s3.ObjectLockRetention
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{prefix}-data",
            description=f"{prefix}: encryption of data, artifacts, capture, registry and alerts",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # CloudWatch alarms and EventBridge publish to the encrypted topic, on this account's behalf only (a
        # service principal alone would be any account's alarm or rule).
        own = {"StringEquals": {"aws:SourceAccount": Stack.of(self).account}}
        for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):
            self.key.grant(iam.ServicePrincipal(service, conditions=own), "kms:Decrypt", "kms:GenerateDataKey*")
        # Every log group of the platform is encrypted with it: CloudWatch Logs may use it for this account's log
        # groups in this region only (the encryption context names the log group).
        region, account = Stack.of(self).region, Stack.of(self).account
        logs_here = {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account}:log-group:*"}}
        self.key.grant(
            iam.ServicePrincipal(f"logs.{region}.amazonaws.com", conditions=logs_here),
            "kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*",
        )  # fmt: skip

        # Signs the request ids the API issues: feedback must name a prediction this API made.
        self.request_id_key = kms.Key(
            self,
            "RequestIdKey",
            description=f"{prefix}: signs prediction request ids (feedback integrity)",
            key_spec=kms.KeySpec.HMAC_256,
            key_usage=kms.KeyUsage.GENERATE_VERIFY_MAC,
            removal_policy=RemovalPolicy.RETAIN,
        )
        no_rotation = "KMS does not rotate HMAC keys; a new key would also void every issued request id."
        acknowledge(self.request_id_key, {"AwsSolutions-KMS5": no_rotation})
        checkov_skip(self.request_id_key, {"CKV_AWS_7": no_rotation})

        # Log delivery cannot write with a customer-managed KMS key: this bucket uses SSE-S3.
        self.access_logs_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(expiration=Duration.days(365), noncurrent_version_expiration=Duration.days(30))
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        itself = "This is the server access log bucket itself; logging it into itself would loop."
        acknowledge(self.access_logs_bucket, {"AwsSolutions-S1": itself})
        checkov_skip(self.access_logs_bucket, {"CKV_AWS_18": itself})
        self.data_bucket = self._bucket("Data", "data")
        # Datasets landing here reach EventBridge (retrain.on_new_data), set on the bucket itself: no
        # custom resource (CDK's `event_bridge_enabled` deploys a Lambda function to set it).
        bucket = self.data_bucket.node.default_child
        assert isinstance(bucket, s3.CfnBucket)
        bucket.add_property_override("NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True)
        # What the training pipeline's Athena queries write: each run keeps its copy of the rows it validated.
        for folder in (QUERIES, ATHENA_RESULTS):
            self.data_bucket.add_lifecycle_rule(
                prefix=folder, expiration=Duration.days(30), noncurrent_version_expiration=Duration.days(1)
            )
        self.artifacts_bucket = self._bucket("Artifacts", "artifacts")
        self.capture_bucket = self._bucket("Capture", "capture")

        # Its stream carries every change of a version or an alias to the registry's events (EventBridge).
        self.registry_table = self._table("Registry", sort_key="sk", stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES)
        # The registry's audit records: their own table, append-only (no role may update or delete there; its
        # name follows the registry's, see catalog.audit_table_name), its stream exported under Object Lock.
        self.audit_table = self._table(
            "Audit",
            sort_key="sk",
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            table_name=audit_table_name(self.registry_table.table_name),
        )
        self.audit_bucket = self._bucket("AuditExport", "audit", object_lock=audit_retention)
        # Every run's record, as a Parquet table analysts query with Athena (the record step adds the table).
        self.runs_database = self._database(
            "RunsDatabase", prefix, "runs", "the record of every training run (table `runs`, partitioned by model)"
        )
        # The feature store: each entity's newest values (online), and the views' offline stores in Glue.
        self.online_features_table = self._table("OnlineFeatures")
        self.features_database = self._database(
            "OfflineFeatures", prefix, "features", "the feature views' offline stores (a table per view, by date)"
        )
        # Tables a spec may name as its dataset (data.source.glue_table); their files lie under datasets/<model>/.
        self.datasets_database = self._database(
            "Datasets", prefix, "datasets", "tables of the models' datasets (data.source.glue_table in a spec)"
        )

        self.alerts_topic = sns.Topic(
            self,
            "Alerts",
            display_name=f"{prefix} alerts",
            master_key=self.key,
            enforce_ssl=True,
        )

    def _table(
        self,
        construct_id: str,
        sort_key: str | None = None,
        stream: dynamodb.StreamViewType | None = None,
        table_name: str | None = None,
    ) -> dynamodb.Table:
        """A table keyed by `pk` (and `sort_key`): on demand, encrypted with the key, recoverable, retained."""
        return dynamodb.Table(
            self,
            construct_id,
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=sort_key, type=dynamodb.AttributeType.STRING) if sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            removal_policy=RemovalPolicy.RETAIN,
            deletion_protection=True,  # the registry and the online store outlive any stack operation
            stream=stream,
            table_name=table_name,
        )

    def _database(self, construct_id: str, prefix: str, suffix: str, description: str) -> glue.CfnDatabase:
        return glue.CfnDatabase(
            self,
            construct_id,
            catalog_id=Stack.of(self).account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=f"{prefix.replace('-', '_')}_{suffix}", description=f"{prefix}: {description}"
            ),
        )

    def _bucket(self, construct_id: str, purpose: str, object_lock: s3.ObjectLockRetention | None = None) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix=f"{purpose}/",
            removal_policy=RemovalPolicy.RETAIN,
            object_lock_enabled=object_lock is not None,
            object_lock_default_retention=object_lock,
        )
