"""The model card of a registered version, in Markdown."""

from __future__ import annotations

from typing import Any

from mlcore.registry.records import ModelVersion
from mlcore.spec import ModelSpec


def render_model_card(spec: ModelSpec, version: ModelVersion, alias_history: list[dict[str, Any]]) -> str:
    """A model card in Markdown: what the model is, how it was trained and evaluated, where it serves."""
    metrics = "\n".join(f"| {k} | {v:.4f} |" for k, v in sorted(version.metrics.items()))
    features = "\n".join(
        f"| {f.name} | {f.type} | {'yes' if f.nullable else 'no'} | "
        f"{f.categories if f.categories else f'{f.min} .. {f.max}'} |"
        for f in spec.features
    )
    artifacts = "\n".join(f"| {k} | `{a.uri}` | `{a.sha256}` |" for k, a in version.artifacts.items())
    history = "\n".join(f"- {h['at']}: {h['action']} {h['details']}" for h in alias_history)
    return f"""# Model card: {spec.name} v{version.version}

{spec.description}

- Task: {spec.task}; target `{spec.target}`; estimator `{spec.estimator.kind}` {spec.estimator.params}
- Status: {version.status}; trained by run `{version.run_id}` at {version.created_at}
- Rows: {version.training_rows} training, {version.holdout_rows} holdout
- Gate: {version.notes}

## Holdout metrics
| metric | value |
| --- | --- |
{metrics}

## Input signature
| feature | type | nullable | allowed |
| --- | --- | --- | --- |
{features}

## Artifacts (SHA-256 verified before every load)
| artifact | uri | sha256 |
| --- | --- | --- |
{artifacts}

## Registry history
{history}
"""
