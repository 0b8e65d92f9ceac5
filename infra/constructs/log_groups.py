"""The one way the stacks make a log group: a month of retention, encrypted with the platform's KMS key."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct


def log_group(scope: Construct, construct_id: str, key: kms.IKey, name: str | None = None) -> logs.LogGroup:
    """A log group under the platform's key (its policy lets CloudWatch Logs of this account and region use it)."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=RemovalPolicy.DESTROY,
        encryption_key=key,
    )
