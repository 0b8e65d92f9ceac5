"""The model card of a registered version, from the registry: Markdown, a self-contained HTML page, or JSON.

The card is a list of sections (text, a list, a table), drawn from the spec, the version, the run that
trained it (its data and lineage) and the audit trail (who approved and moved it, when); the three
formats render the same sections.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from html import escape

from mlcore.html import page
from mlcore.registry.records import AuditRecord, ModelVersion, RunRecord
from mlcore.registry.table import Registry
from mlcore.spec import LOWER_IS_BETTER, Feature, ModelSpec

# The audit actions a version's card tells (registered, approved or rejected, served or not).
CARD_ACTIONS = ("version_registered", "status_changed", "alias_moved", "alias_removed", "champion_fallback")


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)  # paragraphs
    items: list[str] = field(default_factory=list)  # a bullet list
    header: tuple[str, ...] = ()  # a table: its header and rows
    rows: list[tuple[str, ...]] = field(default_factory=list)


def _class_balance(version: ModelVersion) -> str | None:
    """A classifier's classes as shares of its training rows, with the holdout's counts (None: not counted)."""
    training, holdout = version.training_classes, version.holdout_classes
    if not training:
        return None
    total = sum(training.values())
    shares = ", ".join(f"{label} {count / total:.1%}" for label, count in training.items())
    held = ", ".join(f"{label} {count}" for label, count in (holdout or {}).items())
    return f"Classes: {shares} of the training rows" + (f" (holdout: {held})" if held else "")


def _number(value: float) -> str:
    """A bound as the spec's author wrote it: 120, not 120.0."""
    return str(int(value)) if value.is_integer() else repr(value)


def _allowed(feature: Feature) -> str:
    """What a request may send for a feature, in words."""
    if not feature.is_numeric:
        if feature.categories is None:
            return "any text"
        others = ", or another (allow_unseen)" if feature.allow_unseen else ""
        return ", ".join(feature.categories) + others
    low, high = feature.min, feature.max
    kind = "whole number" if feature.is_integer else "number"
    if low is not None and high is not None:
        return f"{_number(low)} .. {_number(high)}"
    if low is not None:
        return f"a {kind} ≥ {_number(low)}"
    if high is not None:
        return f"a {kind} ≤ {_number(high)}"
    return f"any {kind}"


def _bar(loss: float, largest: float) -> str:
    """A bar scaled to the largest loss (a loss at or below 0: no bar)."""
    return "█" * round(20 * loss / largest) if largest > 0 else ""


def _importance(importance: dict[str, float]) -> list[tuple[str, ...]]:
    """Most important first."""
    ranked = sorted(importance.items(), key=lambda item: item[1], reverse=True)
    largest = max((loss for _, loss in ranked), default=0.0)
    return [(name, f"{loss:+.4f}", _bar(loss, largest)) for name, loss in ranked] or [("(not measured)", "", "")]


def _segments(spec: ModelSpec, version: ModelVersion) -> Section:
    """Per segment, its rows and metrics and how far its primary metric is from its column's best; the gap per
    column against the gate."""
    metrics = spec.metrics
    primary, others = metrics.primary, sorted({*metrics.minimum} - {metrics.primary})
    limit = metrics.max_segment_gap
    text = [
        f"The holdout's metrics per value of {', '.join(f'`{c}`' for c in metrics.segments)}. "
        + (
            f"The gate allows a gap in {primary} of at most {limit:g} between segments of at least "
            f"{metrics.min_segment_rows} rows."
            if limit is not None
            else "Reported only: the spec sets no `metrics.max_segment_gap`."
        )
    ]
    text += [f"{gap}." for gap in metrics.segment_gaps(version.segments)]
    pick = min if primary in LOWER_IS_BETTER else max
    best = {
        column: pick(values)
        for column in metrics.segments
        if (values := [s.metrics[primary] for s in version.segments if s.column == column and primary in s.metrics])
    }
    rows = []
    for segment in version.segments:
        value = segment.metrics.get(primary)
        rows.append(
            (
                f"{segment.column} = {segment.value}",
                str(segment.rows),
                "n/a" if value is None else f"{value:.4f}",
                "n/a" if value is None else f"{abs(value - best[segment.column]):.4f}",
                *(f"{segment.metrics[m]:.4f}" if m in segment.metrics else "n/a" for m in others),
                "" if segment.rows >= metrics.min_segment_rows else "too few rows to gate",
            )
        )
    header = ("segment", "rows", primary, "behind the best", *others, "note")
    if not any(row[-1] for row in rows):  # a column of nothing but blanks says nothing
        header, rows = header[:-1], [row[:-1] for row in rows]
    return Section("Segments", text=text, header=header, rows=rows)


def _decision(spec: ModelSpec, version: ModelVersion) -> str:
    if version.threshold is not None and version.classes:
        said = f"Decision: `{version.classes[1]}` when its probability is at least {version.threshold:.6g}"
        picked = spec.metrics.threshold
        if picked is not None:
            kept = f" at precision {picked.precision:g} or more" if picked.precision is not None else ""
            said += f" (picked on the holdout for the best {picked.optimize}{kept})"
        return said
    return "Decision: the likelier class" if version.classes else ""


def _about_this_version(record: AuditRecord, number: int) -> bool:
    details = record.details
    return record.action in CARD_ACTIONS and number in (details.get("version"), details.get("to"), details.get("from"))


def card_sections(
    spec: ModelSpec, version: ModelVersion, audit: Iterable[AuditRecord], run: RunRecord | None = None
) -> list[Section]:
    """The card's sections: what the model is for, how it was trained and evaluated, where it came from, and who
    decided what about it."""
    estimator = f"`{spec.estimator.kind}` {spec.estimator.params}"
    search = spec.estimator.search
    if search is not None:  # what the search chose is this version's, not the spec's
        picked = {name: version.params.get(name) for name in search.params}
        estimator += f"; its {search.strategy} search of {len(search.plan())} trials picked {picked}"
    if spec.estimator.class_weight:
        estimator += f"; class weights {spec.estimator.class_weight}"
    summary = [
        f"Task: {spec.task}; target `{spec.target}`; estimator {estimator}",
        *([decision] if (decision := _decision(spec, version)) else []),
        f"Status: {version.status}; trained by run `{version.run_id}` at {version.created_at}",
        f"Rows: {version.training_rows} training, {version.holdout_rows} holdout",
        *([balance] if (balance := _class_balance(version)) else []),
        f"Gate: {version.notes}",
    ]
    sections = [
        Section("Summary", text=[spec.description] if spec.description else [], items=summary),
        Section("Intended use", text=[spec.intended_use or "Not stated in the spec (`intended_use`)."]),
        Section("Limitations", text=[spec.limitations or "Not stated in the spec (`limitations`)."]),
    ]
    if run is not None:
        sections.append(
            Section(
                "Training data",
                text=[f"Run `{run.run_id}` ({run.trigger}: {run.reason}), {run.started_at} to {run.ended_at}."],
                header=("source", "uri", "rows", "sha256"),
                rows=[(d.source, f"`{d.uri}`", str(d.rows), f"`{d.sha256}`") for d in run.datasets],
            )
        )
    sections.append(
        Section(
            "Holdout metrics",
            header=("metric", "value"),
            rows=[(name, f"{value:.4f}") for name, value in sorted(version.metrics.items())],
        )
    )
    if version.segments:
        sections.append(_segments(spec, version))
    if run is not None and run.cross_validation:
        sections.append(
            Section(
                "Cross-validation",
                header=("metric", "folds", "mean", "sd"),
                rows=[
                    (name, str(cv.folds), f"{cv.mean:.4f}", f"{cv.sd:.4f}")
                    for name, cv in sorted(run.cross_validation.items())
                ],
            )
        )
    sections += [
        Section(
            "Feature importance",
            text=[
                f"How much {spec.metrics.primary} fell on the holdout when a feature's values were shuffled "
                "(mean of 5 shuffles)."
            ],
            header=("feature", "loss", ""),
            rows=_importance(version.importance),
        ),
        Section(
            "Input signature",
            header=("feature", "type", "nullable", "allowed"),
            rows=[(f.name, str(f.type), "yes" if f.nullable else "no", _allowed(f)) for f in spec.features],
        ),
        Section(
            "Lineage (SHA-256 verified before every load)",
            items=[
                f"Training image: `{version.image or 'unknown'}`",
                f"Code commit: `{version.code_version or (run.code_version if run else '') or 'unknown'}`",
                f"Spec SHA-256: `{version.spec_sha256 or (run.spec_sha256 if run else '') or 'unknown'}`",
                f"Data fingerprint: `{version.data_fingerprint or 'unknown'}`",
                *([f"Training code: `{version.code.uri}` (`{version.code.sha256}`)"] if version.code else []),
            ],
            header=("artifact", "uri", "sha256"),
            rows=[(name, f"`{a.uri}`", f"`{a.sha256}`") for name, a in version.artifacts.items()],
        ),
        Section(
            "Approvals and serving",
            header=("at", "action", "by", "details"),
            rows=[
                (r.at, r.action, r.actor, ", ".join(f"{k}: {v}" for k, v in r.details.items() if v not in ("", None)))
                for r in audit
                if _about_this_version(r, version.version)
            ]
            or [("", "(none recorded)", "", "")],
        ),
    ]
    return sections


def card_title(spec: ModelSpec, version: ModelVersion) -> str:
    return f"Model card: {spec.name} v{version.version}"


def card_markdown(title: str, sections: list[Section]) -> str:
    parts = [f"# {title}\n"]
    for section in sections:
        parts.append(f"## {section.title}")
        parts += [f"{paragraph}\n" for paragraph in section.text]
        parts += [f"- {item}" for item in section.items]
        if section.header:
            parts += [
                "",
                "| " + " | ".join(section.header) + " |",
                "| " + " | ".join("---" for _ in section.header) + " |",
                *("| " + " | ".join(row) + " |" for row in section.rows),
            ]
        parts.append("")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(parts))  # one blank line between blocks


def _inline(text: str) -> str:
    """Escaped text with its `code` spans as <code>."""
    pieces = escape(text).split("`")
    return "".join(f"<code>{piece}</code>" if n % 2 else piece for n, piece in enumerate(pieces))


def card_html(title: str, sections: list[Section]) -> str:
    body: list[str] = []
    for section in sections:
        body.append(f"<h2>{escape(section.title)}</h2>")
        body += [f"<p>{_inline(paragraph)}</p>" for paragraph in section.text]
        if section.items:
            body.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in section.items) + "</ul>")
        if section.header:
            head = "".join(f"<th>{escape(cell)}</th>" for cell in section.header)
            rows = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in section.rows)
            body.append(f"<table><tr>{head}</tr>{rows}</table>")
    return page(title, title, "".join(body))


def card_json(title: str, sections: list[Section]) -> str:
    """The card as a JSON document: its title and sections (their text as the Markdown card has it), for a portal
    or a script to render or read."""
    return json.dumps({"title": title, "sections": [asdict(section) for section in sections]}, indent=2) + "\n"


CARD_FORMATS = {"md": card_markdown, "html": card_html, "json": card_json}


def render_model_card(
    spec: ModelSpec, version: ModelVersion, audit: Iterable[AuditRecord], run: RunRecord | None = None, *,
    form: str = "md",
) -> str:  # fmt: skip
    """The version's card, in one of CARD_FORMATS: Markdown, HTML or JSON."""
    return CARD_FORMATS[form](card_title(spec, version), card_sections(spec, version, audit, run))


def model_card(registry: Registry, version: ModelVersion, *, form: str = "md") -> str:
    """A registered version's card, from the registry: its model's spec and audit trail, and the run that trained it
    (when recorded)."""
    name = version.model_name
    spec, audit, run = registry.get_spec(name), registry.audit_trail(name), registry.find_run(version.run_id)
    return render_model_card(spec, version, audit, run, form=form)
