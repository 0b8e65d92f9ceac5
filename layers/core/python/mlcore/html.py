"""Self-contained HTML pages for the reports (no external assets: they open from S3 or a laptop alike)."""

from __future__ import annotations

from html import escape

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
.bad{color:#b00020;font-weight:600}.ok{color:#1b5e20}.grid{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
.card{border:1px solid #ddd;border-radius:6px;padding:.6rem}svg text{font-size:9px}
"""


def page(title: str, heading: str, body: str) -> str:
    """A standalone HTML page; `title` and `heading` are text (escaped here), `body` is HTML."""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{escape(heading)}</h1>{body}</body></html>"
    )
