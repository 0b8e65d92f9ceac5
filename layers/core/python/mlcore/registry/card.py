"""The model card of a registered version, in Markdown."""

from __future__ import annotations

from typing import Any

from mlcore.registry.records import ModelVersion
from mlcore.spec import ModelSpec


def _importance_rows(importance: dict[str, float]) -> str:
    """Most important first, with a bar scaled to the largest loss (a loss at or below 0: no bar)."""
    ranked = sorted(importance.items(), key=lambda item: item[1], reverse=True)
    largest = max((loss for _, loss in ranked), default=0.0)
    rows = [
        f"| {name} | {loss:+.4f} | {'█' * round(20 * loss / largest) if largest > 0 else ''} |" for name, loss in ranked
    ]
    return "\n".join(rows) or "| (not measured) | | |"


def render_model_card(spec: ModelSpec, version: ModelVersion, alias_history: list[dict[str, Any]]) -> str:
    """A model card in Markdown: what the model is, how it was trained and evaluated, where it serves."""
    metrics = "\n".join(f"| {k} | {v:.4f} |" for k, v in sorted(version.metrics.items()))
    features = "\n".join(
        f"| {f.name} | {f.type} | {'yes' if f.nullable else 'no'} | "
        f"{f.categories if f.categories else f'{f.min} .. {f.max}'} |"
        for f in spec.features
    )
    importance = _importance_rows(version.importance)
    artifacts = "\n".join(f"| {k} | `{a.uri}` | `{a.sha256}` |" for k, a in version.artifacts.items())
    history = "\n".join(f"- {h['at']}: {h['action']} {h['details']}" for h in alias_history)
    decision = ""
    if version.threshold is not None and version.classes:
        decision = f"\n- Decision: `{version.classes[1]}` when its probability is at least {version.threshold:.6g}"
        if spec.metrics.threshold is not None:
            decision += f" (picked on the holdout for the best {spec.metrics.threshold.optimize})"
    elif version.classes:
        decision = "\n- Decision: the likelier class"
    estimator = f"`{spec.estimator.kind}` {spec.estimator.params}"
    if spec.estimator.class_weight:
        estimator += f"; class weights {spec.estimator.class_weight}"
    return f"""# Model card: {spec.name} v{version.version}

{spec.description}

- Task: {spec.task}; target `{spec.target}`; estimator {estimator}{decision}
- Status: {version.status}; trained by run `{version.run_id}` at {version.created_at}
- Rows: {version.training_rows} training, {version.holdout_rows} holdout
- Gate: {version.notes}

## Holdout metrics
| metric | value |
| --- | --- |
{metrics}

## Feature importance
How much {spec.metrics.primary} fell on the holdout when a feature's values were shuffled (mean of 5 shuffles).

| feature | loss | |
| --- | --- | --- |
{importance}

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
