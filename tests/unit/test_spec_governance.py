"""Which spec changes loosen a model's governance (they wait for an approver), and the diff the audit records."""

from __future__ import annotations

from typing import Any

import pytest

from infra.local.example_data import EXAMPLE_SPEC
from mlcore.spec import ModelSpec, load_spec, loosened_governance, parse_spec, spec_diff


@pytest.fixture
def churn() -> ModelSpec:
    return load_spec(EXAMPLE_SPEC.read_text())  # roc_auc >= 0.7, accuracy >= 0.65, tolerance 0, approval auto


def changed(spec: ModelSpec, **metrics: Any) -> ModelSpec:
    document = spec.model_dump(mode="json")
    top = {key: metrics.pop(key, document[key]) for key in ("approval", "retired")}  # the spec's, not its metrics'
    return parse_spec({**document, **top, "metrics": {**document["metrics"], **metrics}})


@pytest.mark.parametrize(
    ("minimum", "loosens"),
    [
        ({"roc_auc": 0.6999, "accuracy": 0.65}, ["metrics.minimum.roc_auc: 0.7 -> 0.6999"]),
        ({"roc_auc": 0.7, "accuracy": 0.65}, []),  # the same
        ({"roc_auc": 0.7001, "accuracy": 0.65}, []),  # stricter
        ({"roc_auc": 0.7}, ["metrics.minimum.accuracy: dropped"]),
        ({"roc_auc": 0.7, "accuracy": 0.65, "f1": 0.5}, []),  # one more
    ],
)
def test_a_minimum_lowered_or_dropped_loosens_the_gate(
    churn: ModelSpec, minimum: dict[str, float], loosens: list[str]
) -> None:
    assert loosened_governance(churn, changed(churn, minimum=minimum)) == loosens


def test_for_a_metric_where_lower_is_better_a_higher_minimum_is_the_laxer_one() -> None:
    document = load_spec(EXAMPLE_SPEC.read_text()).model_dump(mode="json")
    old = parse_spec({**document, "metrics": {"primary": "roc_auc", "minimum": {"log_loss": 0.5}}})
    laxer = parse_spec({**document, "metrics": {"primary": "roc_auc", "minimum": {"log_loss": 0.5001}}})
    stricter = parse_spec({**document, "metrics": {"primary": "roc_auc", "minimum": {"log_loss": 0.4999}}})
    assert loosened_governance(old, laxer) == ["metrics.minimum.log_loss: 0.5 -> 0.5001"]
    assert loosened_governance(old, stricter) == []


@pytest.mark.parametrize(
    ("before", "after", "loosens"),
    [
        ({"tolerance": 0.0}, {"tolerance": 0.0001}, ["metrics.tolerance: 0 -> 0.0001"]),
        ({"tolerance": 0.01}, {"tolerance": 0.01}, []),
        ({"tolerance": 0.01}, {"tolerance": 0.0}, []),
        ({"confidence": 0.95}, {"confidence": 0.9499}, ["metrics.confidence: 0.95 -> 0.9499"]),
        ({"confidence": 0.95}, {"confidence": None}, ["metrics.confidence: 0.95 -> none"]),
        ({"confidence": 0.95}, {"confidence": 0.95}, []),
        ({"confidence": None}, {"confidence": 0.9}, []),
        ({"primary": "roc_auc"}, {"primary": "accuracy"}, ["metrics.primary: roc_auc -> accuracy"]),
        ({"approval": "manual"}, {"approval": "auto"}, ["approval: manual -> auto"]),
        ({"approval": "auto"}, {"approval": "manual"}, []),
        ({"retired": True}, {"retired": False}, ["retired: true -> false (its champion serves again)"]),
        ({"retired": False}, {"retired": True}, []),  # retiring takes nothing through the gate (it is alerted)
    ],
)
def test_more_tolerance_less_confidence_another_primary_or_auto_approval_loosens(
    churn: ModelSpec, before: dict[str, Any], after: dict[str, Any], loosens: list[str]
) -> None:
    assert loosened_governance(changed(churn, **before), changed(churn, **after)) == loosens


@pytest.mark.parametrize(
    ("after", "loosens"),
    [
        ({"max_segment_gap": 0.1}, []),
        ({"max_segment_gap": 0.09}, []),  # stricter
        ({"max_segment_gap": 0.1001}, ["metrics.max_segment_gap: 0.1 -> 0.1001"]),
        ({"segments": ["region", "plan"], "max_segment_gap": None}, ["metrics.max_segment_gap: 0.1 -> none"]),
        ({"segments": ["region"], "max_segment_gap": 0.1}, ["metrics.segments: plan no longer gated"]),
        ({"min_segment_rows": 30}, []),
        ({"min_segment_rows": 31}, ["metrics.min_segment_rows: 30 -> 31"]),  # fewer segments judged
        ({"min_segment_rows": 29}, []),
    ],
)
def test_a_wider_or_dropped_segment_gap_loosens_the_gate(
    churn: ModelSpec, after: dict[str, Any], loosens: list[str]
) -> None:
    gated = changed(churn, segments=["region", "plan"], max_segment_gap=0.1)
    assert loosened_governance(gated, changed(gated, **after)) == loosens


@pytest.mark.parametrize(
    ("before", "after", "loosens"),
    [
        ({}, {"max_champion_drop": 0.2}, []),  # roc_auc's default, named
        ({}, {"max_champion_drop": 0.1999}, []),
        ({}, {"max_champion_drop": 0.2001}, ["metrics.max_champion_drop: 0.2 -> 0.2001"]),
        ({"max_champion_drop": 0.1}, {}, ["metrics.max_champion_drop: 0.1 -> 0.2"]),  # back to the default
        # an error metric has no default: choosing one drops the watch (and changes the primary metric)
        (
            {},
            {"primary": "log_loss"},
            ["metrics.primary: roc_auc -> log_loss", "metrics.max_champion_drop: 0.2 -> none"],
        ),
        ({"primary": "log_loss"}, {"primary": "log_loss", "max_champion_drop": 0.3}, []),
    ],
)
def test_a_larger_champion_drop_before_a_candidate_is_held_loosens_the_gate(
    churn: ModelSpec, before: dict[str, Any], after: dict[str, Any], loosens: list[str]
) -> None:
    assert loosened_governance(changed(churn, **before), changed(churn, **after)) == loosens


def test_a_first_registration_loosens_nothing_and_its_diff_is_every_value(churn: ModelSpec) -> None:
    assert loosened_governance(None, churn) == []
    diff = spec_diff(None, churn)
    assert {"path": "metrics.minimum.roc_auc", "from": None, "to": 0.7} in diff
    assert all(change["from"] is None for change in diff)


def test_the_diff_names_each_changed_value_and_nothing_else(churn: ModelSpec) -> None:
    assert spec_diff(churn, churn) == []
    assert spec_diff(churn, changed(churn, minimum={"roc_auc": 0.8}, approval="manual")) == [
        {"path": "approval", "from": "auto", "to": "manual"},
        {"path": "metrics.minimum.accuracy", "from": 0.65, "to": None},
        {"path": "metrics.minimum.roc_auc", "from": 0.7, "to": 0.8},
    ]


def test_the_diff_names_a_feature_added_or_dropped_once_and_a_changed_one_by_its_values(churn: ModelSpec) -> None:
    document = churn.model_dump(mode="json")
    features = [f for f in document["features"] if f["name"] != "data_usage_gb"]
    features = [{**f, "max": 120} if f["name"] == "age" else f for f in features]
    features.append({"name": "late_payments", "type": "integer", "min": 0})
    diff = spec_diff(churn, parse_spec({**document, "features": features}))
    [usage] = [f for f in document["features"] if f["name"] == "data_usage_gb"]
    added = parse_spec({**document, "features": features}).model_dump(mode="json")["features"][-1]
    assert diff == [
        {"path": "features[age].max", "from": 100.0, "to": 120.0},
        {"path": "features[data_usage_gb]", "from": usage, "to": None},
        {"path": "features[late_payments]", "from": None, "to": added},
    ]
    # a first registration: each feature once, whole
    first = {change["path"]: change["to"] for change in spec_diff(None, churn)}
    assert first["features[age]"] == next(f for f in document["features"] if f["name"] == "age")
    assert not [path for path in first if path.startswith("features[age].")]


def with_contract(spec: ModelSpec, data: dict[str, Any] | None = None, age: str | None = None) -> ModelSpec:
    document = spec.model_dump(mode="json")
    document["data"] = {**document["data"], **(data or {})}
    if age is not None:
        document["features"] = [{**f, "severity": age} if f["name"] == "age" else f for f in document["features"]]
    return parse_spec(document)


@pytest.mark.parametrize(
    ("data", "age", "loosens"),
    [
        ({"severity": "warning"}, None, ["data.severity: blocking -> warning"]),
        ({"min_rows": 99}, None, ["data.min_rows: 100 -> 99"]),  # just below: fewer rows asked
        ({"min_rows": 100}, None, []),
        ({"min_rows": 101}, None, []),
        (None, "warning", ["features.age.severity: blocking -> warning"]),
        (None, "blocking", []),
    ],
)
def test_a_data_contract_check_made_a_warning_or_fewer_rows_loosens(
    churn: ModelSpec, data: dict[str, Any] | None, age: str | None, loosens: list[str]
) -> None:
    # the contract keeps bad data out of training: turning it off is a governance change, as a lower minimum is
    strict = with_contract(churn, {"min_rows": 100, "severity": "blocking"}, "blocking")
    assert loosened_governance(strict, with_contract(strict, data, age)) == loosens
    if loosens:  # and back is stricter
        assert loosened_governance(with_contract(strict, data, age), strict) == []
