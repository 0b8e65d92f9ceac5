"""One synthesized app per test session (bundling skipped), shared by every infra test."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # before `pip install -e .`, the checkout itself
    sys.path.insert(0, str(ROOT))

from aws_cdk import App, Stack  # noqa: E402
from aws_cdk.assertions import Annotations, Template  # noqa: E402

from infra.app import SKIP_BUNDLING, build_app  # noqa: E402

STACKS = ("MlopsData", "MlopsTraining", "MlopsServing", "MlopsMonitoring")


@dataclass(frozen=True)
class Synthesized:
    """The app after `synth()` (which fails on any unacknowledged cdk-nag finding)."""

    app: App
    outdir: Path
    stacks: dict[str, Stack]
    templates: dict[str, Template]
    annotations: dict[str, Annotations]

    def raw(self, stack: str) -> dict[str, Any]:
        """The synthesized template as JSON."""
        return self.templates[stack].to_json()

    def resources(self, resource_type: str) -> dict[str, tuple[str, dict[str, Any]]]:
        """`{logical id: (stack, resource)}` of one type across all stacks."""
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        for name in STACKS:
            for logical_id, resource in self.raw(name)["Resources"].items():
                if resource["Type"] == resource_type:
                    found[logical_id] = (name, resource)
        return found


GOVERNED_MODEL = "churn"  # `-c mlops:governedModels=churn` in `synthesized_options`


def synthesize(outdir: Path, **context: str) -> Synthesized:
    """Build and synthesize the app with these context values (bundling skipped)."""
    app = build_app(context={**SKIP_BUNDLING, **context}, outdir=str(outdir))
    app.synth()
    stacks = {name: app.node.find_child(name) for name in STACKS}
    return Synthesized(
        app=app,
        outdir=outdir,
        stacks=stacks,  # type: ignore[arg-type]
        templates={name: Template.from_stack(stack) for name, stack in stacks.items()},  # type: ignore[arg-type]
        annotations={name: Annotations.from_stack(stack) for name, stack in stacks.items()},  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The app as `cdk deploy` builds it by default, synthesized once."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def synthesized_options(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The app with its options on: the EC2 GPU queue, a model with its own governance policies, and the audit
    export locked in compliance mode for 30 days."""
    context = {
        "mlops:gpuJobs": "true",
        "mlops:governedModels": GOVERNED_MODEL,
        "mlops:auditLockMode": "compliance",
        "mlops:auditRetentionDays": "30",
    }
    return synthesize(tmp_path_factory.mktemp("cdk.out.options"), **context)


def load_json(path: Path) -> Any:
    """Read a JSON file."""
    return json.loads(path.read_text())
