"""A clean request body is decoded and checked in one pass, and gives exactly what parsing it and validating
value by value gives; any body that pass does not take as it is goes the value-by-value way, which names the
mistake. The one-pass path never accepts what the other refuses."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlcore.catalog import SignatureField
from mlcore.errors import BadRequestError
from mlcore.serving import parse_body, signature_of
from mlcore.serving.inputs import FLOAT32_MAX, Inputs, InputValidator
from mlcore.spec import parse_spec

MAX_ROWS = 50


def signature(*features: dict[str, Any]) -> list[SignatureField]:
    spec = parse_spec({"name": "decoded", "task": "regression", "target": "y", "estimator": {"kind": "ridge"},
                       "metrics": {"primary": "rmse"}, "features": list(features)})  # fmt: skip
    return signature_of(spec.features)


# every kind of feature: bounded and unbounded numbers, nullable or not, fixed categories, free text, and names
# that are no Python identifiers' names (a keyword; the decoder's own positional names)
SIGNATURE = signature(
    {"name": "age", "type": "numeric", "min": 18, "max": 100},
    {"name": "amount", "type": "numeric", "nullable": True},
    {"name": "plan", "type": "categorical", "categories": ["basic", "premium"]},
    {"name": "region", "type": "categorical", "categories": ["north", "south"], "nullable": True},
    {"name": "comment", "type": "categorical", "categories": ["a"], "allow_unseen": True, "nullable": True},
    {"name": "class", "type": "numeric"},
    {"name": "f0", "type": "numeric", "nullable": True},
    {"name": "visits", "type": "integer", "min": 0, "nullable": True},
)
CLEAN = {
    "age": 30, "amount": 12.5, "plan": "basic", "region": "north", "comment": "hi", "class": -1.5, "f0": 0, "visits": 3,
}  # fmt: skip


def value_by_value(validator: InputValidator, body: str) -> Inputs | BadRequestError:
    try:
        return validator(parse_body(body), MAX_ROWS)
    except BadRequestError as exc:
        return exc


def same_inputs(one: Inputs, other: Inputs) -> None:
    assert one.rows == other.rows
    assert list(one.tensors) == list(other.tensors) == [f.name for f in SIGNATURE]
    for name, tensor in one.tensors.items():
        assert tensor.dtype == other.tensors[name].dtype and tensor.shape == other.tensors[name].shape, name
        if tensor.dtype == np.float32:
            np.testing.assert_array_equal(tensor, other.tensors[name])
        else:
            assert tensor.ravel().tolist() == other.tensors[name].ravel().tolist(), name
    for name, column in one.values.items():  # capture's: numbers as float64 (NaN or None for null), text as is
        expected = other.values[name]
        if isinstance(column, np.ndarray):
            numbers = [math.nan if v is None else float(v) for v in expected]
            np.testing.assert_array_equal(column, np.asarray(numbers, dtype=np.float64), err_msg=name)
        else:
            assert column == list(expected), name


def numbers() -> st.SearchStrategy[Any]:
    edges = [18, 17.999, 100, 100.001, FLOAT32_MAX, -FLOAT32_MAX, 3.5e38, 10**400, 0, -0.0, 2**53 + 1]
    return st.one_of(
        st.integers(-200, 200), st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(edges),
        st.booleans(), st.none(), st.just("12"),
    )  # fmt: skip


def texts() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(["basic", "premium", "north", "south", "a", "hi", "", "Zürich", "\ud800", "BASIC"]),
        st.text(max_size=3), st.none(), st.integers(0, 3),
    )  # fmt: skip


def rows() -> st.SearchStrategy[dict[str, Any]]:
    """Rows near a clean one: features changed, left out, and now and then an unknown one."""
    changed = st.fixed_dictionaries(
        {},
        optional={**{f.name: numbers() if f.type == "float" else texts() for f in SIGNATURE}, "unknown": st.integers()},
    )
    left_out = st.sets(st.sampled_from(sorted(CLEAN)), max_size=2)
    return st.tuples(changed, left_out).map(
        lambda parts: {k: v for k, v in {**CLEAN, **parts[0]}.items() if k not in parts[1]}
    )


def bodies() -> st.SearchStrategy[str]:
    """A batch of clean rows (at most a few over the row limit) or of rows near clean, with other members."""
    clean = st.integers(1, MAX_ROWS + 2).map(lambda n: [CLEAN] * n)
    batch = st.one_of(clean, st.lists(rows(), max_size=4))
    extra = st.sampled_from([{}, {"note": 1}, {"dataframe_split": None}])
    return st.tuples(batch, extra).map(lambda parts: json.dumps({"instances": parts[0], **parts[1]}))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_one_pass_gives_what_value_by_value_gives_and_never_accepts_what_it_refuses(body: str) -> None:
    validator = InputValidator(SIGNATURE)
    decoded, expected = validator.decode(body, MAX_ROWS), value_by_value(validator, body)
    if decoded is None:
        return  # the caller takes the value-by-value path: the expected answer, whatever it is
    assert isinstance(expected, Inputs), f"one pass accepted what is refused: {expected}"
    same_inputs(decoded, expected)


def body(*batch: dict[str, Any], **members: Any) -> str:
    return json.dumps({"instances": list(batch), **members})


def nested(depth: int) -> str:
    """A clean body with a member of `depth` nested lists besides its rows."""
    return body(CLEAN)[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}"


def with_comment(text: str) -> str:
    """A body whose free-text feature is `text` as written in the JSON (escapes kept)."""
    return '{"instances": [' + json.dumps(CLEAN)[:-1] + ', "comment": "' + text + '"}]}'


def test_a_clean_batch_is_taken_in_one_pass_with_nulls_and_left_out_nullable_features() -> None:
    validator = InputValidator(SIGNATURE)
    left_out = {k: v for k, v in CLEAN.items() if k not in ("amount", "region", "comment", "f0")}
    nulls = {**CLEAN, "amount": None, "region": None, "comment": None, "f0": None}
    text = body(CLEAN, left_out, nulls)
    decoded = validator.decode(text, MAX_ROWS)
    assert decoded is not None
    same_inputs(decoded, validator(parse_body(text), MAX_ROWS))
    assert decoded.tensors["region"].ravel().tolist() == ["north", "", ""]  # missing text is "" for the model
    assert decoded.values["region"] == ["north", None, None]  # and null for capture
    assert np.isnan(decoded.tensors["amount"].ravel()[1:]).all()
    assert decoded.values["class"].tolist() == [-1.5] * 3 and decoded.values["f0"][0] == 0.0


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"age": 17.999}, "just below the minimum"),
        ({"age": 100.001}, "just above the maximum"),
        ({"class": 3.5e38}, "beyond float32"),
        ({"class": True}, "a boolean is no number"),
        ({"visits": 2.5}, "a fraction of an integer feature"),
        ({"class": "1.5"}, "text is no number"),
        ({"age": None}, "null where the feature is required"),
        ({"plan": "gold"}, "a category the model does not know"),
        ({"comment": "Zürich"}, "free text outside ASCII: checked value by value"),
        ({"extra": 1}, "a feature the model does not have"),
    ],
)
def test_a_row_that_is_not_clean_goes_value_by_value(change: dict[str, Any], why: str) -> None:
    validator = InputValidator(SIGNATURE)
    assert validator.decode(body(CLEAN, {**CLEAN, **change}), MAX_ROWS) is None, why


@pytest.mark.parametrize(("age", "taken"), [(18, True), (100, True), (18.0, True), (17.999, False)])
def test_the_bounds_are_inclusive_as_value_by_value(age: float, taken: bool) -> None:
    assert (InputValidator(SIGNATURE).decode(body({**CLEAN, "age": age}), MAX_ROWS) is not None) is taken


@pytest.mark.parametrize(("visits", "taken"), [(3, True), (3.0, True), (None, True), (3.5, False), (3.000001, False)])
def test_an_integer_feature_takes_whole_numbers_as_value_by_value(visits: float | None, taken: bool) -> None:
    validator = InputValidator(SIGNATURE)
    text = body(CLEAN, {**CLEAN, "visits": visits})
    assert (validator.decode(text, MAX_ROWS) is not None) is taken
    assert isinstance(value_by_value(validator, text), Inputs) is taken


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (body(), "no rows"),
        (body(*[CLEAN] * (MAX_ROWS + 1)), "more rows than the limit"),
        (body(CLEAN, dataframe_split={"columns": [], "data": []}), "both formats"),
        (json.dumps({"dataframe_split": {"columns": ["age"], "data": [[30]]}}), "MLflow's format"),
        ('{"instances": [' + json.dumps({**CLEAN, "amount": 0})[:-4] + "NaN}]}", "a NaN token"),
        (body(CLEAN, note=1), "a member besides the rows: refused value by value, naming it"),
        ("[]", "not an object"),
        ("{", "not JSON"),
        (nested(1100), "a member nested deeper than parsing goes"),
        (with_comment("\\ud800"), "an escaped lone surrogate"),
        (with_comment("\ud800"), "a lone surrogate in the text itself"),
    ],
)
def test_a_body_the_one_pass_does_not_take_goes_value_by_value(text: str, why: str) -> None:
    assert InputValidator(SIGNATURE).decode(text, MAX_ROWS) is None, why


def test_the_limit_of_rows_is_inclusive() -> None:
    assert InputValidator(SIGNATURE).decode(body(*[CLEAN] * MAX_ROWS), MAX_ROWS) is not None


def test_a_repeated_feature_counts_once_its_last_value_as_in_parsing() -> None:
    validator = InputValidator(SIGNATURE)
    text = '{"instances": [' + json.dumps(CLEAN)[:-1] + ', "age": 40}]}'  # age twice: 30, then 40
    decoded = validator.decode(text, MAX_ROWS)
    assert decoded is not None and decoded.values["age"].tolist() == [40.0]
    same_inputs(decoded, validator(parse_body(text), MAX_ROWS))


def test_a_feature_that_accepts_no_value_leaves_every_body_to_value_by_value() -> None:
    closed = signature({"name": "kind", "type": "categorical", "categories": []}, {"name": "x", "type": "numeric"})
    validator = InputValidator(closed)
    text = body({"kind": "anything", "x": 1})
    assert validator.decode(text, MAX_ROWS) is None
    with pytest.raises(BadRequestError, match="is not one of the model's categories"):
        validator(parse_body(text), MAX_ROWS)


@pytest.mark.parametrize("depth", [900, 1000, 1100])
def test_a_deeply_nested_member_never_raises_and_never_differs(depth: int) -> None:
    validator = InputValidator(SIGNATURE)
    decoded, expected = validator.decode(nested(depth), MAX_ROWS), value_by_value(validator, nested(depth))
    if decoded is not None:
        assert isinstance(expected, Inputs)
        same_inputs(decoded, expected)
