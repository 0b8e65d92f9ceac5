"""What several end-to-end tests do: register a copy of the example model, serialise a table, wait for runs."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from infra.local.example_data import EXAMPLE_SPEC
from infra.operations import Platform

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: cli(*argv) -> (exit code, stdout, stderr)


def register_copy(platform: Platform, tmp_path: Path, name: str, **changes: Any) -> Path:
    """The example spec under another name (and with `changes` to its top level), registered.

    A copy's data drops start no runs by themselves (the tests start theirs), unless `retrain` says so.
    """
    import yaml

    document = yaml.safe_load(EXAMPLE_SPEC.read_text())
    document["retrain"] = {**document["retrain"], "on_new_data": False, **changes.pop("retrain", {})}
    document.update(name=name, **changes)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    platform.register_spec(path)
    return path


def parquet(table: Any) -> bytes:
    import io

    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def new_executions(
    platform: Platform, machine: str, before: set[str], count: int = 1, timeout: float = 60
) -> list[str]:
    """The ARNs of `count` executions of a state machine that are not in `before`, waited for to start."""
    deadline = time.monotonic() + timeout
    while True:
        fresh = [e["executionArn"] for e in platform.executions(machine) if e["executionArn"] not in before]
        if len(fresh) >= count:
            return fresh
        assert time.monotonic() < deadline, f"{len(fresh)} of {count} executions started in {timeout} s"
        time.sleep(0.2)


def arns(platform: Platform, machine: str) -> set[str]:
    return {e["executionArn"] for e in platform.executions(machine)}


def decisions(platform: Platform, request_arns: list[str]) -> list[dict[str, Any]]:
    """The retraining requests' decisions, each request waited for."""
    found = []
    for arn in request_arns:
        execution = platform.wait(arn)
        assert execution["status"] == "SUCCEEDED", execution.get("cause")
        found.extend(json.loads(execution["output"])["result"]["decisions"])
    return found


def training_run(platform: Platform, name: str) -> dict[str, Any]:
    """A training execution by its name, waited for."""
    arn = next(
        e["executionArn"] for e in platform.executions(platform.resources.training_state_machine) if e["name"] == name
    )
    return platform.wait(arn)


def request_retraining(platform: Platform, *requests: dict[str, Any]) -> list[dict[str, Any]]:
    """Start the retraining state machine with these inputs, at once; their decisions."""
    machine = platform.resources.retraining_state_machine
    sfn = platform.client("stepfunctions")
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        started = list(
            pool.map(
                lambda body: sfn.start_execution(
                    stateMachineArn=machine, name=str(uuid.uuid4()), input=json.dumps(body)
                ),
                requests,
            )
        )
    return decisions(platform, [s["executionArn"] for s in started])
