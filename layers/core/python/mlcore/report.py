"""Self-contained HTML reports: the drift report (histograms per feature) and the model card."""

from __future__ import annotations

from html import escape
from typing import Any

from mlcore.drift import DriftReport, FeatureDrift

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
.bad{color:#b00020;font-weight:600}.ok{color:#1b5e20}.grid{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
.card{border:1px solid #ddd;border-radius:6px;padding:.6rem}svg text{font-size:9px}
"""


def _histogram_svg(feature: FeatureDrift, width: int = 480, height: int = 140) -> str:
    """Side-by-side bars: reference (grey) and current (blue) share per bin or category."""
    bins = len(feature.reference_histogram)
    if not bins:
        return ""
    peak = max([*feature.reference_histogram, *feature.current_histogram, 1e-9])
    slot = width / bins
    bars = []
    for i, (ref, cur) in enumerate(zip(feature.reference_histogram, feature.current_histogram, strict=False)):
        label = feature.labels[i] if i < len(feature.labels) else ""
        for offset, value, colour in ((0.1, ref, "#9e9e9e"), (0.5, cur, "#1e88e5")):
            h = (height - 30) * value / peak
            bars.append(
                f'<rect x="{i * slot + offset * slot:.1f}" y="{height - 20 - h:.1f}" width="{slot * 0.38:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(label)}: '
                f"{value:.1%}</title></rect>"
            )
        if bins <= 12 and i < len(feature.labels):
            bars.append(f'<text x="{i * slot + 2:.1f}" y="{height - 6}">{escape(feature.labels[i][:10])}</text>')
    return f'<svg width="{width}" height="{height}" role="img" aria-label="histogram">{"".join(bars)}</svg>'


def render_drift_html(report: DriftReport) -> str:
    """The drift report of one check as a standalone HTML page."""
    verdict = (
        f'<span class="bad">dataset drift: {report.drift_share:.0%} of features drifted</span>'
        if report.dataset_drift
        else f'<span class="ok">no dataset drift ({report.drift_share:.0%} of features drifted)</span>'
    )
    rows = "".join(
        f"<tr><td>{escape(f.feature)}</td><td>{f.kind}</td><td>{f.method}</td><td>{f.score:.4g}</td>"
        f'<td>{f.threshold:.4g}</td><td class="{"bad" if f.drifted else "ok"}">{"drift" if f.drifted else "ok"}</td>'
        f"<td>{f.psi:.3f}</td><td>{f.missing_rate:.1%} (ref {f.reference_missing_rate:.1%})</td>"
        f"<td>{escape('; '.join(f.findings))}</td></tr>"
        for f in report.features
    )
    features = [*report.features, *([report.prediction] if report.prediction else [])]
    cards = "".join(
        f'<div class="card"><b>{escape(f.feature)}</b> {f.method} = {f.score:.4g} '
        f"({'drift' if f.drifted else 'ok'})<br>{_histogram_svg(f)}</div>"
        for f in features
    )
    performance = report.performance
    performance_html = (
        f'<p class="{"bad" if performance.degraded else "ok"}">Live {performance.metric} {performance.live:.4f} on '
        f"{performance.labelled_rows} labelled rows vs {performance.holdout:.4f} on the holdout "
        f"(degradation {performance.degradation:+.4f}, threshold {performance.threshold}).</p>"
        if performance
        else "<p>No performance check: too few labelled rows (POST /models/{name}/feedback).</p>"
    )
    quality_rows = "".join(
        f"<tr><td>{escape(q['check'])}</td><td>{escape(q['column'] or '')}</td><td>{q['failed_rows']:,}</td>"
        f"<td>{escape(q['message'])}</td><td>{escape(', '.join(map(str, q['examples'])))}</td></tr>"
        for q in report.quality
    )
    quality_html = (
        "<h2>Data contract on the served traffic</h2><table><tr><th>check</th><th>column</th><th>rows</th>"
        f"<th>message</th><th>examples</th></tr>{quality_rows}</table>"
        if report.quality
        else "<p class='ok'>The served traffic meets the data contract.</p>"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Drift: {escape(report.model_name)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>Drift report: {escape(report.model_name)} v{report.version}</h1>"
        f"<p>{report.rows} captured rows compared with the training profile. {verdict}.</p>"
        f"{performance_html}{quality_html}"
        "<p>Tests as Evidently chooses them: KS (numeric) and chi-square (categorical) p-values below 0.05 on "
        "up to 1000 rows; normed Wasserstein (numeric) and Jensen-Shannon (categorical) distances above the "
        "threshold on more. PSI is shown alongside. Grey: training; blue: current.</p>"
        "<table><tr><th>feature</th><th>type</th><th>test</th><th>score</th><th>threshold</th><th>result</th>"
        f"<th>PSI</th><th>missing</th><th>findings</th></tr>{rows}</table><div class='grid'>{cards}</div></body></html>"
    )


def render_model_card(spec: Any, version: Any, alias_history: list[dict[str, Any]]) -> str:
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


def render_contract_html(model_name: str, run_id: str, dataset_uri: str, report: Any) -> str:
    """The data contract report of one validation as a standalone HTML page."""
    blocking = [f for f in report.failures if f.severity == "blocking"]
    verdict = (
        f'<span class="bad">{len(blocking)} blocking failure(s): the pipeline stops, the registry is untouched</span>'
        if blocking
        else '<span class="ok">no blocking failure</span>'
    )
    rows = (
        "".join(
            f"<tr><td>{escape(f.check)}</td><td>{escape(f.column or '(table)')}</td>"
            f'<td class="{"bad" if f.severity == "blocking" else ""}">{f.severity}</td><td>{f.failed_rows:,}</td>'
            f"<td>{escape(f.message)}</td><td>{escape(', '.join(map(str, f.examples)))}</td></tr>"
            for f in report.failures
        )
        or "<tr><td colspan='6' class='ok'>every check passed</td></tr>"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Data contract: {escape(model_name)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>Data contract: {escape(model_name)}</h1>"
        f"<p>Run <code>{escape(run_id)}</code>, dataset <code>{escape(dataset_uri)}</code>: {report.rows:,} rows, "
        f"{report.columns} columns. {verdict}.</p>"
        "<table><tr><th>check</th><th>column</th><th>severity</th><th>failed rows</th><th>message</th>"
        f"<th>examples</th></tr>{rows}</table></body></html>"
    )
