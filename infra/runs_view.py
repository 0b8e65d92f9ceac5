"""Run records as people read them: a model's runs in a table, one run in full, runs side by side.

Pure functions of `RunRecord`s (no AWS), so the CLI's `mlops runs` verbs stay light and the views are
tested as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.table import Table

from mlcore.registry import AuditRecord, RunRecord
from mlcore.spec import LOWER_IS_BETTER

MISSING = "-"


def decisions(trail: list[AuditRecord]) -> dict[int, str]:
    """Per version, the last decision a person or the platform made on it after its run (`rejected by alice:
    too slow`), from the audit trail's status changes, oldest first."""
    decided: dict[int, str] = {}
    for record in trail:
        version, reason = record.details.get("version"), record.details.get("reason")
        if record.action == "status_changed" and isinstance(version, int):
            decided[version] = f"{record.details.get('to')} by {record.actor}" + (f": {reason}" if reason else "")
    return decided


def duration(record: RunRecord) -> float:
    return (datetime.fromisoformat(record.ended_at) - datetime.fromisoformat(record.started_at)).total_seconds()


def _number(value: float | None, digits: int = 4) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def list_rows(
    records: list[RunRecord], limit: int | None = None, decided: dict[int, str] | None = None
) -> list[dict[str, Any]]:
    """One line per run (a search's trials counted on their run's line), newest first.

    What started it, what became of it (and of its version since: `decided`, see `decisions`), its primary metric,
    time and cost.
    """
    decided = decided or {}
    trials: dict[str, int] = {}
    for r in records:
        if r.parent_run_id:
            trials[r.parent_run_id] = trials.get(r.parent_run_id, 0) + 1
    runs = [r for r in records if not r.parent_run_id][:limit]
    return [
        {
            "run_id": r.run_id,
            "started_at": r.started_at,
            "trigger": r.trigger,
            "status": str(r.status),
            "outcome": r.outcome,
            "gate_passed": r.gate_passed,  # None: the gate did not run
            "gate_reason": r.gate_reason,
            "since": decided.get(r.version) if r.version is not None else None,  # its version's status since
            "metric": r.primary_metric,
            "value": r.metrics.get(r.primary_metric),
            "seconds": round(duration(r), 1),
            "cost_usd": r.batch.cost_usd,
            "trials": trials.get(r.run_id, 0),
        }
        for r in runs
    ]


def outcome_text(line: dict[str, Any]) -> str:
    """A `list_rows` line's outcome for a person: a rejection with the gate's reason; a registered version with
    what became of it since (`registered v2, then rejected by alice: too slow`)."""
    if line["gate_passed"] is False and line["gate_reason"]:
        return f"{line['outcome']}: {line['gate_reason']}"
    if line.get("since"):
        return f"{line['outcome']}, then {line['since']}"
    return str(line["outcome"])


@dataclass(frozen=True)
class Row:
    """One field of the runs compared: its value in each run, and whether they differ."""

    field: str
    values: list[str]

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


def _cv(record: RunRecord, metric: str) -> str:
    score = (record.cross_validation or {}).get(metric)
    return MISSING if score is None else f"{score.mean:.4f} ± {score.sd:.4f}"


def _param(value: Any) -> str:
    return MISSING if value is None else value if isinstance(value, str) else json.dumps(value)


def compare_rows(records: list[RunRecord]) -> list[Row]:
    """The runs side by side: what they are, their data and code, every parameter, every metric, cost."""
    rows = [
        Row("model", [r.model_name for r in records]),
        Row("trigger", [r.trigger for r in records]),
        Row("outcome", [r.outcome for r in records]),
        Row("version", [MISSING if r.version is None else f"v{r.version}" for r in records]),
        Row("started", [r.started_at for r in records]),
        Row("code version", [r.code_version or MISSING for r in records]),
        Row("image", [r.image or MISSING for r in records]),
        Row("training code", [r.training_code or MISSING for r in records]),
        Row("spec sha256", [r.spec_sha256[:12] or MISSING for r in records]),
        Row("data fingerprint", [r.fingerprint[:12] or MISSING for r in records]),
        Row("rows", [", ".join(f"{d.source} {d.rows}" for d in r.datasets) or MISSING for r in records]),
        Row("estimator", [r.estimator for r in records]),
        Row("features", [str(len(r.features)) if r.features else MISSING for r in records]),
    ]
    # a feature some trained runs read and others not (a spec change between them): where the difference is
    trained = [set(r.features) for r in records if r.features]
    changed = sorted(set[str]().union(*trained) - trained[0].intersection(*trained[1:])) if trained else []
    rows += [
        Row(f"feature {name}", ["yes" if name in r.features else "no" if r.features else MISSING for r in records])
        for name in changed
    ]
    params = sorted({name for r in records for name in r.params})
    rows += [Row(f"param {name}", [_param(r.params.get(name)) for r in records]) for name in params]
    metrics = sorted({name for r in records for name in r.metrics})
    rows += [Row(f"holdout {name}", [_number(r.metrics.get(name)) for r in records]) for name in metrics]
    if any(r.threshold is not None for r in records):
        rows.append(Row("decision threshold", [_number(r.threshold) for r in records]))
    cv_metrics = sorted({name for r in records for name in (r.cross_validation or {})})
    rows += [Row(f"cv {name}", [_cv(r, name) for r in records]) for name in cv_metrics]
    rows += [
        Row("champion", [MISSING if r.champion_version is None else f"v{r.champion_version}" for r in records]),
        Row(
            "vs champion",
            [
                MISSING
                if r.comparison is None
                else f"{r.comparison.difference:+.4f} [{r.comparison.low:+.4f}, {r.comparison.high:+.4f}]"
                for r in records
            ],
        ),
        Row("gate", [r.gate_reason or MISSING for r in records]),
        Row("seconds", [f"{duration(r):.1f}" for r in records]),
        Row("batch vCPU-s", [f"{r.batch.vcpu_seconds:.1f}" for r in records]),
        Row("cost USD", [f"{r.batch.cost_usd:.6f}" for r in records]),
    ]
    return rows


def show_lines(record: RunRecord, trials: list[RunRecord] | None = None, since: str | None = None) -> list[str]:
    """One run in full (with its search's trials, and `since`, what became of its version), for `mlops runs show`."""
    lines = [
        f"Run {record.run_id} of {record.model_name}: {record.outcome}" + (f", then {since}" if since else ""),
        f"  trigger: {record.trigger}{_reason(record)}{f', event {record.event_id}' if record.event_id else ''}"
        + (f", started by {record.started_by}" if record.started_by else ""),
        f"  started {record.started_at}, ended {record.ended_at} ({duration(record):.1f} s)",
        f"  code version {record.code_version or MISSING}, image {record.image or MISSING}",
        *([f"  training code {record.training_code}"] if record.training_code else []),
        f"  spec sha256 {record.spec_sha256}, data fingerprint {record.fingerprint or MISSING}",
    ]
    if record.parent_run_id:
        lines.append(f"  trial {record.trial} of run {record.parent_run_id}")
    lines += [f"  data: {d.source} {d.uri} ({d.rows} rows, sha256 {d.sha256[:12]})" for d in record.datasets]
    lines.append(f"  {record.estimator}: " + ", ".join(f"{k}={_param(v)}" for k, v in sorted(record.params.items())))
    lines += [f"  features ({len(record.features)}): {', '.join(record.features)}"] if record.features else []
    if record.metrics:  # a search's trial is scored by cross-validation only: its metrics are the folds' means
        scored = "holdout" if record.trial is None else "cross-validation means"
        lines.append(f"  {scored}: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(record.metrics.items())))
    lines += _segment_lines(record)
    if record.threshold is not None:
        lines.append(f"  decision threshold: {record.threshold:.4f} (metrics.threshold, picked on the holdout)")
    for metric in sorted(record.cross_validation or {}):
        lines.append(f"  cross-validation {metric}: {_cv(record, metric)}")
    if record.comparison is not None:
        c = record.comparison
        lines.append(
            f"  vs champion v{record.champion_version}: {c.metric} {c.difference:+.4f}, "
            f"{c.confidence:.0%} interval [{c.low:+.4f}, {c.high:+.4f}] ({c.resamples} resamples)"
        )
    if record.compared_rows is not None and record.compared_metrics and record.champion_metrics:
        metric = record.primary_metric
        lines.append(
            f"  vs champion v{record.champion_version} on the {record.compared_rows} holdout rows it did not train "
            f"on: {metric} {record.compared_metrics.get(metric, float('nan')):.4f} vs "
            f"{record.champion_metrics.get(metric, float('nan')):.4f}"
        )
    if record.gate_reason:
        lines.append(f"  gate: {'passed' if record.gate_passed else 'failed'}: {record.gate_reason}")
    lines += [f"  step {s.step}: {s.seconds:.2f} s" + (f" ({s.count}x)" if s.count > 1 else "") for s in record.steps]
    batch = record.batch
    if batch.jobs:
        lines.append(
            f"  batch: {batch.jobs} job(s), {batch.vcpu_seconds:.1f} vCPU-s, {batch.gb_seconds:.1f} GB-s, "
            f"about ${batch.cost_usd:.6f} on Fargate"
        )
    for trial in sorted(trials or [], key=lambda t: t.trial or 0):
        params = ", ".join(f"{k}={_param(v)}" for k, v in sorted(trial.params.items()))
        cv = f"{record.primary_metric} {_cv(trial, record.primary_metric)}"
        lines.append(f"  trial {trial.trial} ({trial.outcome}): {cv} with {params}")
    return lines


def _reason(record: RunRecord) -> str:
    """Why the run was asked for, when it says more than its trigger (`schedule (schedule)` says nothing)."""
    return f" ({record.reason})" if record.reason and record.reason != record.trigger else ""


def _segment_lines(record: RunRecord) -> list[str]:
    """The holdout's primary metric per value of each segment column, worst first (a value whose rows lack a
    class, without the metric, last): what a segment gate's rejection is about."""
    metric = record.primary_metric
    worse = -1.0 if metric in LOWER_IS_BETTER else 1.0
    lines = []
    for column in dict.fromkeys(segment.column for segment in record.segments):
        ranked = sorted(
            (segment for segment in record.segments if segment.column == column),
            key=lambda segment: (metric not in segment.metrics, worse * segment.metrics.get(metric, 0.0)),
        )
        shown = [
            f"{segment.value} {segment.metrics[metric]:.4f}" if metric in segment.metrics else f"{segment.value} -"
            for segment in ranked
        ]
        lines.append(
            f"  {metric} by {column}, worst first: "
            + ", ".join(f"{text} ({segment.rows} rows)" for text, segment in zip(shown, ranked, strict=True))
        )
    return lines


def compare_table(records: list[RunRecord], title: str | None = None) -> Table:
    """The runs side by side, as a table whose differing rows stand out (marked ≠, in yellow)."""
    table = Table("", *(r.run_id for r in records), "", title=title)
    for line in compare_rows(records):
        style = "bold yellow" if line.differs else None
        table.add_row(line.field, *line.values, "≠" if line.differs else "", style=style)
    return table
