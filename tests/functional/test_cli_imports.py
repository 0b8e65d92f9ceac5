"""The CLI's light verbs start fast: they import neither the embedded AWS nor the CDK, nor the data stack.

Each runs in a fresh interpreter in which those packages cannot be imported, against a moto server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from infra.local.example_data import EXAMPLE_SPEC
from mlcore.registry import Registry, create_registry_table
from mlcore.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ["moto", "aws_cdk", "jsii", "constructs", "cdk_nag", "pandas", "sklearn", "scipy", "pyarrow", "onnxruntime"]
SCRIPT = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"the light verb {ARGV} imported {name!r}")
sys.meta_path.insert(0, Block())
from infra.cli import main
sys.exit(main(ARGV))
"""


def run_light(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = f"BLOCKED = {HEAVY!r}\nARGV = {argv!r}\n" + SCRIPT
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False, cwd=ROOT, env=env
    )


@pytest.mark.parametrize(
    "argv", [["--help"], ["models", "--help"], ["pipeline", "run", "--help"], ["monitor", "--help"]]
)
def test_help_imports_nothing_heavy(argv: list[str]) -> None:
    result = run_light(argv, dict(os.environ))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage: mlops" in result.stdout


def test_models_list_imports_nothing_heavy(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "local")
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_server, region_name="us-east-1")
    create_registry_table(dynamodb, "light-cli-registry")
    Registry("light-cli-registry", dynamodb).put_spec(load_spec(EXAMPLE_SPEC.read_text()), actor="test")
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLOPS_REGISTRY_TABLE": "light-cli-registry",
        **{f"MLOPS_{name}": "unused" for name in ("DATA_BUCKET", "ARTIFACTS_BUCKET", "CAPTURE_BUCKET")},
        "MLOPS_TRAINING_STATE_MACHINE": "unused",
        "MLOPS_MONITOR_STATE_MACHINE": "unused",
        "MLOPS_RETRAINING_STATE_MACHINE": "unused",
    }
    result = run_light(["models", "list", "--output", "json"], env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == [
        {
            "model": "churn",
            "task": "classification",
            "champion": None,
            "challenger": None,
            "rollout": None,
            "versions": 0,
            "retired": False,
        }
    ]
