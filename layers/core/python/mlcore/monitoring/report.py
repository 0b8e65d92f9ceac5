"""The drift report of one check as a self-contained HTML page (histograms per feature)."""

from __future__ import annotations

from html import escape

from mlcore.data import OTHER
from mlcore.html import page
from mlcore.monitoring.drift import DriftReport, FeatureDrift

# What a person reads under the bar of the values beyond the reference's known ones (the profiles' OTHER).
OTHER_LABEL = "other/unseen"


def _label(text: str) -> str:
    """A bar's label for a person: `≤25.9k` for `≤2.59e+04`, the reference's other values by that name."""
    if text == OTHER:
        return OTHER_LABEL
    sign, number = (text[:1], text[1:]) if text[:1] in ("≤", ">") else ("", text)
    try:
        value = float(number)
    except ValueError:
        return text
    for at_least, scale, suffix in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(value) >= at_least:  # 25.9k, not 2.59e+04
            return f"{sign}{value / scale:.3g}{suffix}"
    return f"{sign}{value:.0f}" if abs(value) >= 1e3 else text  # 5000, not 5e+03


def _histogram_svg(feature: FeatureDrift, width: int = 480, height: int = 140) -> str:
    """Side-by-side bars: reference (grey) and current (blue) share per bin or category."""
    bins = len(feature.reference_histogram)
    if not bins:
        return ""
    peak = max([*feature.reference_histogram, *feature.current_histogram, 1e-9])
    slot = width / bins
    bars = []
    for i, (ref, cur) in enumerate(zip(feature.reference_histogram, feature.current_histogram, strict=False)):
        label = _label(feature.labels[i]) if i < len(feature.labels) else ""
        for offset, value, colour in ((0.1, ref, "#9e9e9e"), (0.5, cur, "#1e88e5")):
            h = (height - 30) * value / peak
            bars.append(
                f'<rect x="{i * slot + offset * slot:.1f}" y="{height - 20 - h:.1f}" width="{slot * 0.38:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(label)}: '
                f"{value:.1%}</title></rect>"
            )
        if bins <= 12 and i < len(feature.labels):
            bars.append(f'<text x="{i * slot + 2:.1f}" y="{height - 6}">{escape(label[:12])}</text>')
    return f'<svg width="{width}" height="{height}" role="img" aria-label="histogram">{"".join(bars)}</svg>'


def _importance(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def _name(feature: FeatureDrift) -> str:
    """A feature's name; one taken from a view says which, and that the view's own check found its drift."""
    if feature.view is None:
        return escape(feature.feature)
    checked = escape(feature.checked_at or "")
    return f"{escape(feature.feature)}<br><small>view {escape(feature.view)}, checked {checked}</small>"


def render_drift_html(report: DriftReport) -> str:
    """The drift report of one check as a standalone HTML page."""
    verdict = (
        f'<span class="bad">dataset drift: {report.drift_share:.0%} of features drifted</span>'
        if report.dataset_drift
        else f'<span class="ok">no dataset drift ({report.drift_share:.0%} of features drifted)</span>'
    )
    if report.prediction is not None and report.prediction.drifted:
        verdict += ' <span class="bad">and the predictions drifted</span>'

    rows = "".join(
        f"<tr><td>{_name(f)}</td><td>{_importance(f.importance)}</td><td>{f.kind}</td><td>{f.method}</td>"
        f"<td>{f.score:.4g}</td>"
        f'<td>{f.threshold:.4g}</td><td class="{"bad" if f.drifted else "ok"}">{"drift" if f.drifted else "ok"}</td>'
        f"<td>{f.psi:.3f}</td><td>{f.missing_rate:.1%} (ref {f.reference_missing_rate:.1%})</td>"
        f"<td>{escape('; '.join(f.findings))}</td></tr>"
        for f in report.features
    )
    features = [*report.features, *([report.prediction] if report.prediction else [])]
    cards = "".join(
        f'<div class="card"><b>{_name(f)}</b> {f.method} = {f.score:.4g} '
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
        f"<tr><td>{escape(q.check)}</td><td>{escape(q.column or '')}</td><td>{q.failed_rows:,}</td>"
        f"<td>{escape(q.message)}</td><td>{escape(', '.join(map(str, q.examples)))}</td></tr>"
        for q in report.quality
    )
    quality_html = (
        "<h2>Data contract on the served traffic</h2><table><tr><th>check</th><th>column</th><th>rows</th>"
        f"<th>message</th><th>examples</th></tr>{quality_rows}</table>"
        if report.quality
        else "<p class='ok'>The served traffic meets the data contract.</p>"
    )
    return page(
        f"Drift: {report.model_name}",
        f"Drift report: {report.model_name} v{report.version}",
        f"<p>{report.rows} captured rows compared with the training profile. {verdict}.{_unread(report)}</p>"
        f"{performance_html}{quality_html}"
        "<p>Tests as Evidently chooses them: KS (numeric) and chi-square (categorical; training rows and window as two "
        "samples) p-values below 0.05 on up to 1000 rows; normed Wasserstein (numeric) and Jensen-Shannon (categorical)"
        " distances above the threshold on more. PSI is shown alongside. Grey: training; blue: current. Features are "
        "ranked by the champion's permutation importance: how much its primary metric fell on the holdout with the "
        f"feature shuffled.{_from_views(report)}</p>"
        "<table><tr><th>feature</th><th>importance</th><th>type</th><th>test</th><th>score</th><th>threshold</th><th>result</th>"
        f"<th>PSI</th><th>missing</th><th>findings</th></tr>{rows}</table><div class='grid'>{cards}</div>",
    )


def _from_views(report: DriftReport) -> str:
    """What the report says of features a view's own check judged (only when some were)."""
    views = sorted({f.view for f in report.features if f.view})
    if not views:
        return ""
    return (
        f" The features marked with a view ({', '.join(views)}) were checked once for their view, its newest window "
        "of values against the window before (grey), and are reported here from that check; the model's other "
        "features, a view's included when it has no recent check, against the training profile."
    )


def _unread(report: DriftReport) -> str:
    """The inputs no row of the window gave a value for (each row's version does not read them): not checked."""
    if not report.unread:
        return ""
    names = ", ".join(escape(name) for name in report.unread)
    return f" Not checked: {names}, for versions that read it answered fewer than drift.min_rows of the rows."
