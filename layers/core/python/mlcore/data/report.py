"""The data contract report of one validation as a self-contained HTML page."""

from __future__ import annotations

from html import escape

from mlcore.data.contract import ContractReport
from mlcore.html import page


def render_contract_html(model_name: str, run_id: str, dataset_uri: str, report: ContractReport) -> str:
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
    return page(
        f"Data contract: {model_name}",
        f"Data contract: {model_name}",
        f"<p>Run <code>{escape(run_id)}</code>, dataset <code>{escape(dataset_uri)}</code>: {report.rows:,} rows, "
        f"{report.columns} columns. {verdict}.</p>"
        "<table><tr><th>check</th><th>column</th><th>severity</th><th>failed rows</th><th>message</th>"
        f"<th>examples</th></tr>{rows}</table>",
    )
