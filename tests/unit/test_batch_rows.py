"""A batch accepts exactly the rows the API accepts, and refuses the others with the API's own reason."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlcore.batch import check_rows
from mlcore.errors import BadRequestError
from mlcore.serving import InputValidator, signature_of
from mlcore.spec import ModelSpec

# Per feature of the churn example: values the API accepts and values it refuses, as a file may hold them.
NUMBERS = st.one_of(
    st.floats(min_value=-10, max_value=200, allow_nan=False),
    st.sampled_from([None, math.nan, math.inf, -math.inf, 0.0, 18.0, 100.0, 100.0000001, 17.999999, 3.4e39]),
)
TEXTS = st.sampled_from([None, "basic", "standard", "premium", "gold", "", "north", "west", "nörth", "Basic"])


def table_of(rows: list[dict[str, Any]], spec: ModelSpec) -> pa.Table:
    types = {f.name: pa.float64() if f.is_numeric else pa.string() for f in spec.features}
    return pa.table({name: pa.array([row[name] for row in rows], kind) for name, kind in types.items()})


def api_verdict(validator: InputValidator, record: dict[str, Any]) -> tuple[bool, str | None, Any]:
    try:
        accepted = validator([record], 1)
    except BadRequestError as error:
        return False, str(error).removeprefix("instances[0]."), None
    return True, None, accepted.tensors


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # a spec, never changed
@given(data=st.data())
def test_the_batch_and_the_api_agree_on_every_row(churn_spec: ModelSpec, data: st.DataObject) -> None:
    # GIVEN rows mixing clean values, nulls, NaN, infinities, values just outside the bounds and unknown categories
    rows = data.draw(
        st.lists(
            st.fixed_dictionaries({f.name: NUMBERS if f.is_numeric else TEXTS for f in churn_spec.features}),
            min_size=1,
            max_size=30,
        )
    )
    validator = InputValidator(signature_of(churn_spec.features))
    # WHEN the batch checks them column by column
    checked = check_rows(table_of(rows, churn_spec), validator)
    # THEN each row is accepted exactly when the API accepts it alone, refused with the API's message,
    # and scored with the inputs the API would give the model
    kept = 0
    for row, record in enumerate(rows):
        ok, reason, tensors = api_verdict(validator, record)
        assert bool(checked.valid[row]) == ok, (record, reason)
        if not ok:
            assert checked.rejects[row].reason == reason
            continue
        for name, tensor in tensors.items():
            batch_value = checked.tensors[name][kept, 0]
            if tensor.dtype == np.float32:
                assert np.isnan(batch_value) if np.isnan(tensor[0, 0]) else batch_value == tensor[0, 0]
            else:
                assert batch_value == tensor[0, 0]
        kept += 1
    assert kept == int(checked.valid.sum())


def test_a_column_of_the_wrong_type_refuses_each_row_with_the_apis_reason(churn_spec: ModelSpec) -> None:
    # GIVEN a file whose plan column holds numbers (a categorical feature)
    rows = [{f.name: (1 if f.name == "plan" else ("north" if not f.is_numeric else 30.0)) for f in churn_spec.features}]
    table = pa.Table.from_pylist(rows * 3)
    checked = check_rows(table, InputValidator(signature_of(churn_spec.features)))
    # THEN every row is refused, naming the field and the type the API expected
    assert not checked.valid.any()
    assert {r.reason for r in checked.rejects.values()} == {"plan: expected a string, got int"}
    assert {r.field for r in checked.rejects.values()} == {"plan"}


@pytest.mark.parametrize(("nullable", "accepted"), [(True, True), (False, False)])
def test_a_missing_column_is_null_in_every_row(churn_spec: ModelSpec, nullable: bool, accepted: bool) -> None:
    # GIVEN a file without the data_usage_gb column (nullable in the spec) or without age (not nullable)
    missing = "data_usage_gb" if nullable else "age"
    row = {
        f.name: ("basic" if f.name == "plan" else "north") if not f.is_numeric else 30.0 for f in churn_spec.features
    }
    del row[missing]
    checked = check_rows(pa.Table.from_pylist([row, row]), InputValidator(signature_of(churn_spec.features)))
    # THEN the rows are scored with the feature missing where it may be, else refused as missing
    assert checked.valid.tolist() == [accepted, accepted]
    if accepted:
        assert np.isnan(checked.tensors[missing]).all()
    else:
        assert checked.rejects[0].reason == "age: is missing"


def test_a_missing_text_is_the_empty_string_the_api_gives_the_model() -> None:
    # GIVEN a nullable categorical feature with a null in a file
    from mlcore.catalog import SignatureField

    signature = [SignatureField(name="city", type="string", nullable=True)]
    checked = check_rows(pa.table({"city": pa.array(["paris", None], pa.string())}), InputValidator(signature))
    # THEN both rows are scored, the null as "" (as the API's tensors have it), the text unchanged
    assert checked.valid.tolist() == [True, True]
    assert checked.tensors["city"].tolist() == [["paris"], [""]]
    assert checked.tensors["city"].dtype == object


def test_a_fraction_of_an_integer_feature_is_refused_with_the_apis_reason(churn_spec: ModelSpec) -> None:
    # GIVEN a file whose age (an integer feature) is whole in two rows and a fraction in the third
    row = {
        f.name: ("basic" if f.name == "plan" else "north") if not f.is_numeric else 30.0 for f in churn_spec.features
    }
    table = pa.Table.from_pylist([{**row, "age": age} for age in (30.0, 31, 30.5)])
    checked = check_rows(table, InputValidator(signature_of(churn_spec.features)))
    # THEN the whole ages are scored and the fraction is refused, as the API refuses it
    assert checked.valid.tolist() == [True, True, False]
    assert checked.rejects[2].reason == "age: expected a whole number (an integer feature), got 30.5"
    assert checked.tensors["age"].ravel().tolist() == [30.0, 31.0]


def test_a_batch_reads_a_version_as_it_was_trained_whatever_the_spec_became() -> None:
    from infra.local.example_data import CARD_VIEW, FRAUD_SPEC
    from mlcore.serving import version_spec
    from mlcore.spec import load_spec, load_view, parse_spec

    view = load_view(CARD_VIEW.read_text())
    fraud = load_spec(FRAUD_SPEC.read_text(), views=lambda name: view)
    # GIVEN a version trained before the spec took amount_mean_7d from the view, and with region's NA a category
    raw = fraud.model_dump(mode="json", exclude_none=True)
    region = {"name": "region", "type": "categorical", "categories": ["NA", "EU"], "allow_unseen": True}
    trained = parse_spec({**raw, "features": [*raw["features"], region]})
    signature = [f for f in signature_of(trained.features) if f.name != "amount_mean_7d"]
    # WHEN a batch reads it under today's spec (region dropped since)
    read = version_spec(fraud, signature)
    # THEN it reads the version's inputs, the view's feature it does not read left out of the view's binding
    assert [f.name for f in read.features] == [f.name for f in signature]
    assert read.views["card-activity"].features == ["tx_count_24h"]
    # AND a feature the spec still declares as the version read it keeps its declaration, one it dropped is read
    # from the signature (an allow_unseen feature's categories, which a CSV's NA is one of, are the spec's only)
    assert read.feature("tx_count_24h") == fraud.feature("tx_count_24h")
    assert read.feature("region").allow_unseen and signature_of([read.feature("region")]) == [signature[-1]]
    assert version_spec(trained, signature_of(trained.features)).feature("region").categories == ["NA", "EU"]
