"""What several functional tests do: a table as the bytes of a CSV file (Parquet: `mlcore.data.to_parquet`),
a state machine on moto for a step that starts executions, a module loaded from its file (a handler, an
image's entrypoint)."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

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


def load_module(name: str, path: Path, patch: pytest.MonkeyPatch | None = None) -> ModuleType:
    """The module at `path`, loaded as Lambda loads a handler or a container its entrypoint (not from a package);
    with `patch`, also in sys.modules under `name` until the patch is undone (dataclasses look their module up)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    if patch is not None:
        patch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module
