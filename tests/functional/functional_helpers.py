"""What several functional tests do: a table as the bytes of a CSV file (Parquet: `mlcore.data.to_parquet`),
a state machine on moto for a step that starts executions."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.csv as pacsv

REGION = "us-east-1"


def csv_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    return sink.getvalue()


def pass_state_machine(name: str) -> tuple[Any, str]:
    """A state machine of one Pass state on moto's Step Functions (its client and ARN): what a step starts."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(
        name=name,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    return sfn, arn
