"""The audit table's stream as JSON lines in the Object Lock bucket: what an auditor reads, and nobody can rewrite.

Every change the stream carries is exported, an insert (the only write any role may make) or, were one
ever to happen, a modify or remove: a record changed in the table still shows, as it was, in the export.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from mlcore.catalog import audit_export_key, audit_subject_prefix
from mlcore.storage import ObjectStore

JSON_LINES = "application/x-ndjson"


def _line(record: dict[str, Any]) -> tuple[str, date, str, str]:
    """(subject, day, the record's id, JSON line) of one stream record."""
    change = record.get("dynamodb", {})
    image = change.get("NewImage") or change.get("OldImage") or {}
    kind, _, name = image.get("pk", {}).get("S", "UNKNOWN#").partition("#")
    subject = f"{kind.lower()}s/{name}"  # MODEL#churn: models/churn
    audited = json.loads(image.get("doc", {}).get("S", "{}"))
    at = audited.get("at")
    day = datetime.fromisoformat(at).date() if at else datetime.now(UTC).date()
    line = {
        "subject": subject,
        "sk": image.get("sk", {}).get("S", ""),
        "event": record.get("eventName", ""),
        **audited,
    }
    record_id = line["sk"].rsplit("#", 1)[-1]  # AUDIT#<time>#<id>
    return subject, day, record_id, json.dumps(line, sort_keys=True, separators=(",", ":"))


def audit_exports(records: list[dict[str, Any]]) -> dict[str, bytes]:
    """`{key: JSON lines}` of a batch of the audit table's stream records, one object per subject and day."""
    groups: dict[tuple[str, date], tuple[str, list[str]]] = {}
    for record in records:
        subject, day, record_id, line = _line(record)
        groups.setdefault((subject, day), (record_id, []))[1].append(line)
    return {
        audit_export_key(subject, day, first): ("\n".join(lines) + "\n").encode()
        for (subject, day), (first, lines) in groups.items()
    }


def export_audit(records: list[dict[str, Any]], store: ObjectStore) -> int:
    """Write a stream batch's records to the audit bucket; how many records."""
    for key, data in audit_exports(records).items():
        store.put(key, data, JSON_LINES)
    return len(records)


def exported_records(store: ObjectStore, subject: str) -> Iterator[dict[str, Any]]:
    """Every exported record of a subject (`models/<name>`, `views/<name>`), oldest first, each once."""
    seen: dict[str, dict[str, Any]] = {}
    for key in store.list_keys(audit_subject_prefix(subject)):
        for text in store.get(key).decode().splitlines():
            if text.strip():
                line = json.loads(text)
                seen.setdefault(f"{line['event']}:{line['sk']}", line)
    yield from sorted(seen.values(), key=lambda line: (line["sk"], line["event"]))
