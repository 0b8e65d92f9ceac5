"""Ground truth for served predictions, behind `POST /models/{name}/feedback`."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mlcore.catalog import FEEDBACK, FEEDBACK_COLUMNS, LABEL, limits, partition_file
from mlcore.errors import BadRequestError, PayloadTooLargeError
from mlcore.serving import jsonio
from mlcore.serving.capture import label_kind
from mlcore.serving.inputs import is_text
from mlcore.serving.parquet import write_parquet
from mlcore.serving.request_ids import RequestIds
from mlcore.spec import ModelSpec
from mlcore.storage import ObjectStore


def _finite_number(value: Any) -> float | None:
    """`value` as a float when it is a finite JSON number, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float's range
        return None
    return number if math.isfinite(number) else None


def _feedback_items(body: str | None) -> tuple[list[Any], bool]:
    """The feedback items of a body, and whether it was a batch (`{"feedback": [...]}`)."""
    if not body:
        raise BadRequestError('the request body is empty; send {"request_id": ..., "label": ...}', field="body")
    sent = jsonio.size(body)
    if sent > limits.MAX_FEEDBACK_BODY_BYTES:
        raise PayloadTooLargeError(
            f"body: {sent} bytes exceed the feedback limit of {limits.MAX_FEEDBACK_BODY_BYTES}", field="body"
        )
    try:
        document = jsonio.loads(body)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BadRequestError("the request body is not valid JSON", field="body") from exc
    if isinstance(document, dict) and "feedback" in document:
        _refuse_unknown(document, frozenset({"feedback"}))
        items = document["feedback"]
        if not isinstance(items, list) or not items:
            raise BadRequestError("feedback: expected a non-empty list", field="feedback")
        if len(items) > limits.MAX_FEEDBACK:
            raise PayloadTooLargeError(
                f"feedback: {len(items)} items exceed the limit of {limits.MAX_FEEDBACK}", field="feedback"
            )
        return items, True
    return [document], False


_ITEM_MEMBERS = frozenset({"request_id", "row_index", "label"})


def _refuse_unknown(document: dict[str, Any], members: frozenset[str], prefix: str = "") -> None:
    """A 400 naming a member the body does not take: a misspelt `row_index` would otherwise label row 0."""
    unknown = sorted(set(document).difference(members))
    if unknown:
        name = prefix + unknown[0]
        raise BadRequestError(f"{name}: unknown member (expected {', '.join(sorted(members))})", field=name)


def _label(spec: ModelSpec, label: Any, where: str, classes: list[str] | None) -> Any:
    """A label as stored: a class (text) or a finite number; a 400 naming the item otherwise."""
    if spec.task == "classification":
        if isinstance(label, bool) or not isinstance(label, str | int):
            raise BadRequestError(f"{where}.label: expected a class label", field=f"{where}.label")
        label = str(label)
        if not is_text(label):
            raise BadRequestError(f"{where}.label: is not valid Unicode text", field=f"{where}.label")
        if classes and label not in classes:
            raise BadRequestError(f"{where}.label: {label!r} is not one of {classes}", field=f"{where}.label")
        return label
    number = _finite_number(label)
    if number is None:
        raise BadRequestError(f"{where}.label: expected a finite number", field=f"{where}.label")
    return number


def record_feedback(
    spec: ModelSpec,
    body: str | None,
    store: ObjectStore,
    classes: list[str] | None = None,
    issued: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    """Store ground truth for served predictions: `{"request_id", "label", "row_index"?}` or `{"feedback": [...]}`.

    Written at once as Parquet under `feedback/model=<name>/dt=<date>/`, joined with the capture by
    `request_id` and `row_index` when the monitor measures performance (the first label of a row wins).
    With `issued`, a request id it does not recognize (not issued by this API for this model) is refused.
    """
    items, batch = _feedback_items(body)
    request_ids, rows, labels = [], [], []
    for i, item in enumerate(items):
        where = f"feedback[{i}]" if batch else "body"
        if not isinstance(item, dict):
            raise BadRequestError(f"{where}: expected an object", field=where)
        _refuse_unknown(item, _ITEM_MEMBERS, f"{where}.")
        request_id, label, row = item.get("request_id"), item.get("label"), item.get("row_index", 0)
        if not isinstance(request_id, str) or not request_id or not is_text(request_id):
            raise BadRequestError(
                f"{where}.request_id: expected the request_id of a prediction", field=f"{where}.request_id"
            )
        row = jsonio.whole(row)
        if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < 2**31:
            raise BadRequestError(f"{where}.row_index: expected a row number >= 0", field=f"{where}.row_index")
        request_ids.append(request_id)
        rows.append(row)
        labels.append(_label(spec, label, where, classes))
    for i, (request_id, row) in enumerate(zip(request_ids, rows, strict=True)):  # once every item is well formed
        where = f"feedback[{i}]" if batch else "body"
        if issued is None:
            continue
        if not issued(request_id):
            raise BadRequestError(
                f"{where}.request_id: not a request id this API issued for a prediction of '{spec.name}' "
                "(send the request_id of the prediction's response)",
                field=f"{where}.request_id",
            )
        count = RequestIds.rows(request_id)
        if count is not None and row >= count:
            raise BadRequestError(
                f"{where}.row_index: {row} is not a row of the prediction, which had {count} (0 to {count - 1})",
                field=f"{where}.row_index",
            )
    now = datetime.now(UTC)
    received = [int(now.timestamp() * 1000)] * len(items)
    values: tuple[list[Any], ...] = (request_ids, rows, labels, received)
    data = write_parquet(
        [
            (name, label_kind(spec) if kind == LABEL else kind, column)
            for (name, kind), column in zip(FEEDBACK_COLUMNS, values, strict=True)
        ]
    )
    digest = hashlib.sha256(data).hexdigest()[:12]
    store.put(partition_file(FEEDBACK, spec.name, now.date(), now, digest), data, "application/vnd.apache.parquet")
    return {"accepted": len(items), "model": spec.name}
