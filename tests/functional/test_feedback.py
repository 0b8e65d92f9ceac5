"""Ground truth for served predictions: validated, then stored as Parquet beside the capture (on moto)."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcore.catalog.limits import MAX_FEEDBACK
from mlcore.errors import BadRequestError, PayloadTooLargeError
from mlcore.serving import record_feedback
from mlcore.spec import ModelSpec, parse_spec
from mlcore.storage import ObjectStore

CLASSES = ["no", "yes"]


@pytest.fixture
def house_prices() -> ModelSpec:
    return parse_spec(
        {
            "name": "house-prices",
            "task": "regression",
            "target": "price",
            "features": [{"name": "rooms", "type": "integer"}],
            "estimator": {"kind": "ridge"},
            "metrics": {"primary": "rmse"},
        }
    )


def stored(capture: ObjectStore, model: str = "churn") -> pa.Table:
    keys = sorted(capture.list_keys(f"feedback/model={model}/"))
    return pa.concat_tables([pq.read_table(io.BytesIO(capture.get(key))) for key in keys])


def refused(spec: ModelSpec, body: str | None, capture: ObjectStore) -> BadRequestError:
    with pytest.raises(BadRequestError) as caught:
        record_feedback(spec, body, capture, CLASSES)
    assert capture.list_keys("feedback/") == []
    return caught.value


def test_one_label_is_stored_under_todays_partition(churn_spec: ModelSpec, capture: ObjectStore) -> None:
    before = datetime.now(UTC)
    result = record_feedback(churn_spec, json.dumps({"request_id": "req-1", "label": "yes"}), capture, CLASSES)
    assert result == {"accepted": 1, "model": "churn"}
    after = datetime.now(UTC)
    [key] = capture.list_keys("feedback/")
    match = re.fullmatch(r"feedback/model=churn/dt=(\d{4}-\d{2}-\d{2})/\d{12}-[0-9a-f]{12}\.parquet", key)
    assert match and match.group(1) in {f"{before:%Y-%m-%d}", f"{after:%Y-%m-%d}"}
    [row] = stored(capture).to_pylist()
    assert (row["request_id"], row["row_index"], row["label"]) == ("req-1", 0, "yes")
    assert before - timedelta(milliseconds=1) <= row["received_at"] <= after


def test_a_batch_is_stored_in_one_file(churn_spec: ModelSpec, capture: ObjectStore) -> None:
    items = [{"request_id": "req-1", "row_index": i, "label": label} for i, label in enumerate(["no", "yes", "no"])]
    assert record_feedback(churn_spec, json.dumps({"feedback": items}), capture, CLASSES)["accepted"] == 3
    assert len(capture.list_keys("feedback/")) == 1
    table = stored(capture)
    assert table.select(["request_id", "row_index", "label"]).to_pylist() == items


def test_a_row_index_written_as_a_whole_float_is_that_row(churn_spec: ModelSpec, capture: ObjectStore) -> None:
    # (JSON Schema's integer takes 1.0; 1.5 is refused: see the bad requests above)
    body = json.dumps({"request_id": "req-1", "row_index": 1.0, "label": "yes"})
    assert record_feedback(churn_spec, body, capture, CLASSES)["accepted"] == 1
    assert stored(capture).column("row_index").to_pylist() == [1]


def test_a_regression_label_is_stored_as_a_number(house_prices: ModelSpec, capture: ObjectStore) -> None:
    body = json.dumps({"feedback": [{"request_id": "r", "label": 250000}, {"request_id": "r", "label": 1.5}]})
    record_feedback(house_prices, body, capture, None)
    table = stored(capture, "house-prices")
    assert table.schema.field("label").type == pa.float64()
    assert table.column("label").to_pylist() == [250000.0, 1.5]


def test_an_integer_class_label_is_compared_as_text(capture: ObjectStore, churn_spec: ModelSpec) -> None:
    record_feedback(churn_spec, json.dumps({"request_id": "r", "label": 1}), capture, ["0", "1"])
    assert stored(capture).column("label").to_pylist() == ["1"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (None, "body"),
        ("", "body"),
        ("{not json", "body"),
        ('"just a string"', "body"),
        ("{}", "body.request_id"),
        ('{"request_id": "", "label": "yes"}', "body.request_id"),
        ('{"request_id": 7, "label": "yes"}', "body.request_id"),
        ('{"request_id": "r", "label": "maybe"}', "body.label"),
        ('{"request_id": "r"}', "body.label"),
        ('{"request_id": "r", "label": true}', "body.label"),
        ('{"request_id": "r", "label": ["yes"]}', "body.label"),
        ('{"request_id": "r", "label": "yes", "row_index": -1}', "body.row_index"),
        ('{"request_id": "r", "label": "yes", "row_index": 1.5}', "body.row_index"),
        ('{"request_id": "r", "label": "yes", "row_index": true}', "body.row_index"),
        ('{"request_id": "r", "label": "yes", "row": 1}', "body.row"),
        ('{"feedback": [{"request_id": "r", "label": "yes", "rowIndex": 1}]}', "feedback[0].rowIndex"),
        ('{"feedback": [{"request_id": "r", "label": "yes"}], "model": "churn"}', "model"),
        ('{"feedback": []}', "feedback"),
        ('{"feedback": {"request_id": "r"}}', "feedback"),
        ('{"feedback": [{"request_id": "r", "label": "yes"}, "no"]}', "feedback[1]"),
        ('{"feedback": [{"request_id": "r", "label": "yes"}, {"request_id": "r", "label": "maybe"}]}',
         "feedback[1].label"),
    ],
)  # fmt: skip
def test_malformed_feedback_is_refused_naming_the_field(
    churn_spec: ModelSpec, capture: ObjectStore, body: str | None, field: str
) -> None:
    error = refused(churn_spec, body, capture)
    assert (error.status, error.field) == (400, field)


def test_a_misspelt_row_index_is_refused_not_taken_as_row_0(churn_spec: ModelSpec, capture: ObjectStore) -> None:
    error = refused(churn_spec, json.dumps({"request_id": "r", "label": "yes", "row": 3}), capture)
    assert error.message == "body.row: unknown member (expected label, request_id, row_index)"


def test_an_unknown_class_names_the_item_and_the_classes(churn_spec: ModelSpec, capture: ObjectStore) -> None:
    items = [{"request_id": "r", "label": "yes"}, {"request_id": "r", "label": "no"}, {"request_id": "r", "label": "Y"}]
    error = refused(churn_spec, json.dumps({"feedback": items}), capture)
    assert error.message == "feedback[2].label: 'Y' is not one of ['no', 'yes']"


@pytest.mark.parametrize("label", ['"250000"', "NaN", "Infinity", "-Infinity", "true", "null"])
def test_a_regression_label_must_be_a_finite_number(house_prices: ModelSpec, capture: ObjectStore, label: str) -> None:
    body = '{"feedback": [{"request_id": "r", "label": 1.0}, {"request_id": "r", "label": ' + label + "}]}"
    error = refused(house_prices, body, capture)
    assert (error.field, error.message) == ("feedback[1].label", "feedback[1].label: expected a finite number")


def test_a_regression_label_that_is_a_huge_integer_is_handled(house_prices: ModelSpec, capture: ObjectStore) -> None:
    record_feedback(house_prices, json.dumps({"request_id": "r", "label": 2**70}), capture, None)
    assert stored(capture, "house-prices").column("label").to_pylist() == [float(2**70)]


def test_a_row_index_beyond_int64_is_a_bad_request(churn_spec: ModelSpec, capture: ObjectStore) -> None:
    error = refused(churn_spec, json.dumps({"request_id": "r", "label": "yes", "row_index": 2**63}), capture)
    assert error.field == "body.row_index"


def test_too_many_items_are_payload_too_large(churn_spec: ModelSpec, capture: ObjectStore) -> None:
    items: list[dict[str, Any]] = [{"request_id": "r", "label": "no"}] * (MAX_FEEDBACK + 1)
    with pytest.raises(PayloadTooLargeError) as caught:
        record_feedback(churn_spec, json.dumps({"feedback": items}), capture, CLASSES)
    assert (caught.value.status, caught.value.field) == (413, "feedback")
    assert capture.list_keys("feedback/") == []


def test_the_first_label_of_a_row_wins_over_a_later_one(
    churn_spec: ModelSpec, capture: ObjectStore, capture_request: Any
) -> None:
    from infra.local.example_data import churn_instances
    from mlcore.data import capture_window, labelled_window

    now = datetime.now(UTC)
    capture_request(capture, churn_spec, churn_instances(2, seed=3), ["no", "no"], at=now, request_id="served-1")
    # GIVEN a row labelled "yes", then relabelled "no" by a later request (and again inside one batch)
    record_feedback(churn_spec, json.dumps({"request_id": "served-1", "label": "yes"}), capture, CLASSES)
    later = [{"request_id": "served-1", "label": "no"}, {"request_id": "served-1", "row_index": 1, "label": "yes"},
             {"request_id": "served-1", "row_index": 1, "label": "no"}]  # fmt: skip
    record_feedback(churn_spec, json.dumps({"feedback": later}), capture, CLASSES)
    # WHEN the monitor joins the labels with the served rows
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    window = capture_window(capture, "churn", start, end)
    labels = labelled_window(capture, "churn", window, start, end).column("label").to_pylist()
    # THEN each row keeps its first label: what was recorded cannot be rewritten to fake or hide a degradation
    assert labels == ["yes", "yes"]


@pytest.mark.parametrize(("extra", "accepted"), [(0, True), (1, False)])
def test_a_feedback_body_is_taken_up_to_its_limit(
    churn_spec: ModelSpec, capture: ObjectStore, extra: int, accepted: bool
) -> None:
    from mlcore.catalog.limits import MAX_FEEDBACK_BODY_BYTES

    body = json.dumps({"request_id": "req-1", "label": "yes"})
    body += " " * (MAX_FEEDBACK_BODY_BYTES - len(body) + extra)  # whitespace: still one valid JSON document
    if accepted:
        assert record_feedback(churn_spec, body, capture, CLASSES)["accepted"] == 1
        return
    with pytest.raises(PayloadTooLargeError, match="exceed the feedback limit") as caught:
        record_feedback(churn_spec, body, capture, CLASSES)
    assert caught.value.status == 413
    assert capture.list_keys("feedback/") == []
