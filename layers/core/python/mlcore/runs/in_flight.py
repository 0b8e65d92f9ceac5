"""A model's training runs in flight: its running executions of the training pipeline."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


def runs_in_flight(sfn: SFNClient, state_machine_arn: str, model_name: str) -> list[str]:
    """The names of the model's running executions of the training pipeline: by the prefixes a run's name starts with
    (a manual run's `<model>-<time>`, a retraining's `<model>-<trigger>-…`; one a platform of before 2026-12 started,
    `<model, first 40 characters>-<trigger>-…`), then by their input's model (another model's name may begin with this
    one's)."""
    prefixes = (f"{model_name}-", f"{model_name[:40]}-")
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn, statusFilter="RUNNING")
    running = [e for page in pages for e in page["executions"] if e["name"].startswith(prefixes)]
    return [
        e["name"]
        for e in running
        if json.loads(sfn.describe_execution(executionArn=e["executionArn"]).get("input") or "{}").get("model_name")
        == model_name
    ]
