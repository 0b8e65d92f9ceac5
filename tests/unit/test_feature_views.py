"""Feature views: their format, a model spec's `features_from` resolved against them, and the point-in-time join."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
import yaml

from infra.local.example_data import EXAMPLE_SPEC
from mlcore.catalog import ViewBinding
from mlcore.data import as_of_join
from mlcore.errors import SpecError
from mlcore.spec import FeatureView, load_view, parse_spec

VIEW = """
name: card-activity
description: Per-card aggregates of recent transactions
owner: fraud-team
entities: [card_id]
timestamp: event_time
ttl_hours: 48
online: true
features:
  - {name: tx_count_24h, type: numeric, min: 0}
  - {name: amount_mean_7d, type: numeric, min: 0, nullable: true}
"""
T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


@pytest.fixture
def view() -> FeatureView:
    return load_view(VIEW)


@pytest.fixture
def raw() -> dict[str, Any]:
    spec = yaml.safe_load(EXAMPLE_SPEC.read_text())
    spec["features_from"] = ["card-activity.tx_count_24h"]
    spec["data"]["timestamp_column"] = "label_time"
    return spec


def test_a_view_parses_with_its_values(view: FeatureView) -> None:
    assert view.entities == ["card_id"]
    assert view.ttl_hours == 48
    assert view.feature_names == ["tx_count_24h", "amount_mean_7d"]
    contract = view.contract_spec()
    # THEN its contract is the features', with the entity key a required text
    assert contract.feature_names == ["card_id", "tx_count_24h", "amount_mean_7d"]
    assert not contract.feature("card_id").nullable


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"owner": ""}, "owner", "at least 1 character"),
        ({"ttl_hours": 0}, "ttl_hours", "greater than 0"),
        ({"entities": []}, "entities", "at least 1 item"),
        ({"timestamp": "tx_count_24h"}, "spec", "named twice"),
        ({"source": {"s3": "s3://bucket/x/", "glue_table": "db.t"}}, "source", "one of s3, glue_table"),
        ({"source": {"glue_table": "no-dot"}}, "source.glue_table", "should match pattern"),
        ({"name": "Card"}, "name", "should match pattern"),
        ({"ttl_hour": 24}, "ttl_hour", "not a field of the spec here; did you mean 'ttl_hours'?"),  # the view's field
    ],
)
def test_an_invalid_view_names_the_field(change: dict[str, Any], field: str, message: str) -> None:
    document = {**yaml.safe_load(VIEW), **change}
    with pytest.raises(SpecError) as caught:
        load_view(yaml.safe_dump(document))
    assert caught.value.field == field
    assert message in caught.value.message


def test_a_misspelt_required_field_of_a_view_is_named_as_the_typo() -> None:
    document = yaml.safe_load(VIEW)
    document["ttl_hour"] = document.pop("ttl_hours")
    with pytest.raises(SpecError) as caught:
        load_view(yaml.safe_dump(document))
    assert (caught.value.field, caught.value.message) == (
        "ttl_hour", "ttl_hour: not a field of the spec here; did you mean 'ttl_hours'?"
    )  # fmt: skip


def test_features_from_add_the_views_features_and_binding(raw: dict[str, Any], view: FeatureView) -> None:
    spec = parse_spec(raw, views={"card-activity": view}.get)
    assert spec.feature_names[-1] == "tx_count_24h"
    assert spec.feature("tx_count_24h").min == 0  # the view's contract, not a copy typed by hand
    assert spec.views == {
        "card-activity": ViewBinding(
            entities=["card_id"], timestamp="event_time", ttl_hours=48, features=["tx_count_24h"]
        )
    }
    # AND the stored spec parses again as it is (what the registry reads back)
    assert parse_spec(spec.model_dump(mode="json")) == spec


@pytest.mark.parametrize(
    ("features_from", "message"),
    [
        (["clicks.count"], "no feature view 'clicks'"),
        (["card-activity.nothing"], "view 'card-activity' has no feature 'nothing'"),
        (
            ["card-activity"],
            "'card-activity' names a view, not one of its features: write VIEW.FEATURE, one entry per "
            "feature (e.g. card-activity.tx_count_24h)",
        ),
        (["card-activity."], "names a view, not one of its features"),
        (["card-activity.tx_count_24h", "card-activity.tx_count_24h"], "'tx_count_24h' is taken already"),
    ],
)
def test_a_features_from_that_does_not_resolve_names_its_entry(
    raw: dict[str, Any], view: FeatureView, features_from: list[str], message: str
) -> None:
    raw["features_from"] = features_from
    with pytest.raises(SpecError) as caught:
        parse_spec(raw, views={"card-activity": view}.get)
    assert caught.value.field.startswith("features_from.")
    assert message in caught.value.message


def test_a_feature_of_the_spec_may_not_take_a_views_name(raw: dict[str, Any], view: FeatureView) -> None:
    raw["features"].append({"name": "tx_count_24h", "type": "numeric"})
    with pytest.raises(SpecError, match="taken already"):
        parse_spec(raw, views={"card-activity": view}.get)


def test_features_from_without_the_registry_is_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(SpecError, match="not resolved; register the spec"):
        parse_spec(raw)


def test_a_spec_may_not_write_its_views_itself(raw: dict[str, Any], view: FeatureView) -> None:
    raw["views"] = {"card-activity": view.binding(["tx_count_24h"]).model_dump()}
    with pytest.raises(SpecError):
        parse_spec(raw, views={"card-activity": view}.get)


def test_features_from_need_the_labels_time(raw: dict[str, Any], view: FeatureView) -> None:
    del raw["data"]["timestamp_column"]
    with pytest.raises(SpecError, match=r"needs data\.timestamp_column"):
        parse_spec(raw, views={"card-activity": view}.get)


# -- the point-in-time join ----------------------------------------------------------------------


def _times(*values: datetime) -> pa.ChunkedArray:
    return pa.chunked_array([pa.array(values, pa.timestamp("us", tz="UTC"))])


def _join(label_times: list[datetime], cards: list[str], rows: dict[str, list[Any]], ttl_hours: float = 48) -> list:
    binding = ViewBinding(entities=["card_id"], timestamp="event_time", ttl_hours=ttl_hours, features=["f"])
    labels = pa.table({"card_id": cards})
    table = pa.table(
        {
            "card_id": rows["card_id"],
            "event_time": pa.array(rows["event_time"], pa.timestamp("us", tz="UTC")),
            "f": pa.array(rows["f"], pa.float64()),
        }
    )
    return as_of_join(labels, _times(*label_times), binding, table).column("f").to_pylist()


def test_the_leakage_trap_a_value_from_the_labels_future_is_never_used() -> None:
    # GIVEN a card whose value changes one microsecond after the label (to the answer, 999)
    rows = {"card_id": ["a", "a"], "event_time": [T0 - timedelta(hours=1), T0 + MICROSECOND], "f": [1.0, 999.0]}
    # WHEN the label at T0 is joined
    # THEN it gets the value it could have known, never the future one
    assert _join([T0], ["a"], rows) == [1.0]


def test_a_value_recorded_at_the_labels_very_time_is_known_then() -> None:
    rows = {"card_id": ["a", "a"], "event_time": [T0 - timedelta(hours=1), T0], "f": [1.0, 2.0]}
    assert _join([T0], ["a"], rows) == [2.0]


@pytest.mark.parametrize(("age", "expected"), [(timedelta(hours=48), 7.0), (timedelta(hours=48) + MICROSECOND, None)])
def test_a_value_is_used_up_to_its_ttl_and_not_beyond(age: timedelta, expected: float | None) -> None:
    rows = {"card_id": ["a"], "event_time": [T0 - age], "f": [7.0]}
    assert _join([T0], ["a"], rows) == [expected]


def test_each_label_row_gets_its_own_entitys_newest_value_in_its_order() -> None:
    rows = {
        "card_id": ["a", "b", "a", "b"],
        "event_time": [T0 - timedelta(hours=5), T0 - timedelta(hours=4), T0 - timedelta(hours=2), T0 + MICROSECOND],
        "f": [1.0, 10.0, 2.0, 20.0],
    }
    labels = [T0, T0 - timedelta(hours=3), T0, T0 - timedelta(hours=6)]
    # a@T0 -> 2; a@T0-3h -> 1; b@T0 -> 10 (20 is its future); c has no rows; a@T0-6h knew nothing yet
    assert _join(labels, ["a", "a", "b", "c"], rows) == [2.0, 1.0, 10.0, None]
    assert _join(labels[3:], ["a"], rows) == [None]


# -- the per-model OpenAPI document ------------------------------------------------------------------


def test_the_model_document_takes_a_row_by_entity_keys_or_in_full(raw: dict[str, Any], view: FeatureView) -> None:
    import jsonschema

    from mlcore.serving import model_document, signature_of

    spec = parse_spec(raw, views={"card-activity": view}.get)
    document = model_document(spec.name, 1, signature_of(spec.features), ["no", "yes"], 100, views=spec.views)
    schema = {**document["components"]["schemas"][f"{spec.name}-instance"], "$defs": {}}
    validator = jsonschema.Draft202012Validator(schema)
    full = {f.name: (f.min or 1.0) if f.is_numeric else (f.categories or ["x"])[0] for f in spec.features}
    own = {name: value for name, value in full.items() if name != "tx_count_24h"}
    assert validator.is_valid(full)
    assert validator.is_valid({**own, "card_id": "c00042"})
    assert validator.is_valid({**own, "card_id": 42})
    assert not validator.is_valid(own)  # neither the view's feature nor the card to read it by
    assert not validator.is_valid({**own, "card_id": ""})
    assert not validator.is_valid({"card_id": "c00042"})  # the model's own features are still needed


def test_a_views_source_is_the_sha256_of_its_files_keys_and_sha256s_oldest_ingest_first() -> None:
    # The format every recorded view source (and so every fingerprint of a model with features_from) is built in.
    from mlcore.data.point_in_time import offline_source
    from mlcore.storage import ObjectStore

    day1, day2 = "features/card-activity/date=2026-03-01/", "features/card-activity/date=2026-03-02/"
    files = [
        (f"{day2}i-0002.parquet", "b" * 64, 5),
        (f"{day1}i-0001.parquet", "a" * 64, 3),
        (f"{day2}i-0001.parquet", "c" * 64, 2),
    ]
    lines = f"{day1}i-0001.parquet\0{'a' * 64}\n{day2}i-0001.parquet\0{'c' * 64}\n{day2}i-0002.parquet\0{'b' * 64}\n"
    source = offline_source("card-activity", [*files, files[0]], ObjectStore("mlops-data", None))  # one read twice
    assert source.sha256 == hashlib.sha256(lines.encode()).hexdigest()
    assert (source.rows, source.uri, source.source) == (10, "s3://mlops-data/features/card-activity/", "view")


@pytest.mark.parametrize("challenger_kept", [True, False])
def test_a_rollouts_versions_read_their_views_as_trained_or_as_the_spec_binds_them_if_they_predate_that(
    challenger_kept: bool,
) -> None:
    from infra.local.example_data import CARD_VIEW, FRAUD_SPEC
    from mlcore.serving.service import LoadedModel, Serving
    from mlcore.spec import load_spec

    card = load_view(CARD_VIEW.read_text())
    spec = load_spec(FRAUD_SPEC.read_text(), views=lambda name: card)  # takes the count and the mean
    count_only = {"card-activity": spec.views["card-activity"].model_copy(update={"features": ["tx_count_24h"]})}
    # GIVEN a champion trained on the count only, and a challenger on both (its record kept them, or predates that)
    champion = LoadedModel(1, model=None, views=count_only)  # type: ignore[arg-type]
    challenger = LoadedModel(2, model=None, views=dict(spec.views) if challenger_kept else None)  # type: ignore[arg-type]
    serving = Serving(spec, champion, challenger)
    # THEN the mean is looked up for the challenger either way, under the champion's binding of the view
    assert serving.views is not None
    assert serving.views["card-activity"].features == ["tx_count_24h", "amount_mean_7d"]
    # AND without a rollout, the champion's own
    assert Serving(spec, champion).views == count_only
