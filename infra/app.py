"""The CDK app: four stacks per lifecycle, checked by cdk-nag AwsSolutions. Run `python -m infra.app`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from aws_cdk import App, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from infra.config import ConfigError, MlopsConfig
from infra.constructs.nag import MatchingAcknowledgements
from infra.stacks.data_stack import DataStack
from infra.stacks.monitoring_stack import MonitoringStack
from infra.stacks.serving_stack import ServingStack
from infra.stacks.training_stack import TrainingStack
from mlcore.catalog import REPORT_FAILURE

ROOT = Path(__file__).resolve().parent.parent
SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}
# Feature flags the constructs rely on (cdk.json may repeat them): access-log delivery by bucket
# policy rather than by ACL, so every bucket can enforce bucket-owner object ownership.
FEATURE_FLAGS = {"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True}


def cdk_json_context() -> dict[str, Any]:
    """The `context` of cdk.json: the defaults when the app runs without the CDK CLI."""
    path = ROOT / "cdk.json"
    return dict(json.loads(path.read_text()).get("context", {})) if path.exists() else {}


def code_version(root: Path = ROOT) -> str:
    """The commit the app is synthesized from, `-dirty` when the working tree has changes; `unknown` without git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}-dirty" if changed else commit


def build_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> App:
    """Build (not synthesize) the app; `context` overrides cdk.json and the CLI's context."""
    app = App(context={**FEATURE_FLAGS, **cdk_json_context()}, post_cli_context=context or {}, outdir=outdir)
    config = MlopsConfig.from_node(app.node)
    data = DataStack(app, config.stack_id("Data"), config=config, description="MLOps: data, registry, alerts")
    resources = replace(data.resources, code_version=code_version())
    training = TrainingStack(
        app, config.stack_id("Training"), config=config, resources=resources, description="MLOps: training pipeline"
    )
    serving = ServingStack(
        app,
        config.stack_id("Serving"),
        config=config,
        resources=resources.with_training(training.pipeline.state_machine, {}),  # governance starts and answers runs
        description="MLOps: inference API",
    )
    MonitoringStack(
        app,
        config.stack_id("Monitoring"),
        config=config,
        resources=resources.with_training(
            training.pipeline.state_machine, {REPORT_FAILURE: training.pipeline.functions[REPORT_FAILURE]}
        ),
        api=serving.inference.api,
        description="MLOps: scheduled monitor and alarms",
    )
    Tags.of(app).add("project", config.prefix)
    # The pattern acknowledgements must be recorded before the pack runs.
    Validations.of(app).add_plugins(MatchingAcknowledgements(app))
    Validations.of(app).add_plugins(AwsSolutionsChecks(verbose=True))
    return app


def main() -> int:
    """Synthesize into cdk.out; MLOPS_SKIP_BUNDLING=1 skips the layer bundling (fast, not deployable)."""
    context = dict(SKIP_BUNDLING) if os.environ.get("MLOPS_SKIP_BUNDLING") == "1" else None
    # The CDK CLI sets CDK_OUTDIR; run alone, the app writes where cdk.json says (cdk.out).
    outdir = None if os.environ.get("CDK_OUTDIR") else str(ROOT / "cdk.out")
    try:
        build_app(context, outdir=outdir).synth()
    except ConfigError as exc:  # a context value: its message says which and why, a traceback says nothing more
        print(f"ConfigError: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
