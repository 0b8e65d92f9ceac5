"""The model spec: parsing the YAML and every validation rule, with the offending field named."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from infra.local.example_data import EXAMPLE_SPEC
from mlcore.catalog import RESERVED_COLUMNS
from mlcore.errors import SpecError
from mlcore.spec import FeatureType, ModelSpec, Severity, Task, is_valid_name, load_spec, parse_spec


@pytest.fixture
def raw() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE_SPEC.read_text())


def invalid(raw: dict[str, Any]) -> SpecError:
    with pytest.raises(SpecError) as caught:
        parse_spec(raw)
    return caught.value


def test_example_spec_parses_with_its_values(churn_spec: ModelSpec) -> None:
    assert churn_spec.name == "churn"
    assert churn_spec.task is Task.CLASSIFICATION
    assert churn_spec.feature_names == [
        "tenure_months",
        "monthly_charges",
        "support_calls",
        "age",
        "data_usage_gb",
        "plan",
        "region",
    ]
    assert churn_spec.feature("tenure_months").type is FeatureType.INTEGER
    assert churn_spec.feature("data_usage_gb").nullable
    assert churn_spec.feature("region").allow_unseen
    assert churn_spec.feature("plan").severity is Severity.BLOCKING
    assert churn_spec.metrics.minimum == {"roc_auc": 0.70, "accuracy": 0.65}
    assert churn_spec.data.min_rows == 500
    assert churn_spec.drift.dataset_share == 0.25


def test_defaults_fill_optional_sections() -> None:
    spec = parse_spec(
        {
            "name": "house-prices",
            "task": "regression",
            "target": "price",
            "features": [{"name": "rooms", "type": "integer"}],
            "estimator": {"kind": "ridge"},
            "metrics": {"primary": "rmse"},
        }
    )
    assert spec.approval == "auto"
    assert spec.drift.threshold == 0.1
    assert spec.capture.sample_rate == 1.0
    assert spec.retrain.max_per_day == 2


def test_per_feature_drift_threshold_overrides_the_model_threshold(raw: dict[str, Any]) -> None:
    raw["features"][0]["drift_threshold"] = 0.3
    spec = parse_spec(raw)
    assert spec.drift_threshold(spec.features[0]) == 0.3
    assert spec.drift_threshold(spec.features[1]) == 0.1


def test_duplicate_feature_names_are_refused(raw: dict[str, Any]) -> None:
    raw["features"].append({"name": "plan", "type": "categorical"})
    error = invalid(raw)
    assert "duplicate feature names: ['plan']" in error.message
    assert error.status == 400
    assert error.code == "invalid_spec"


def test_target_listed_as_a_feature_is_refused(raw: dict[str, Any]) -> None:
    raw["features"].append({"name": "churned", "type": "categorical"})
    assert "target 'churned' is also listed as a feature" in invalid(raw).message


@pytest.mark.parametrize(
    ("task", "kind"),
    [("classification", "ridge"), ("regression", "logistic_regression"), ("regression", "random_forest_classifier")],
)
def test_estimator_must_fit_the_task(raw: dict[str, Any], task: str, kind: str) -> None:
    raw["task"] = task
    raw["estimator"] = {"kind": kind}
    raw["metrics"] = {"primary": "rmse" if task == "regression" else "accuracy"}
    assert f"estimator '{kind}' does not fit task '{task}'" in invalid(raw).message


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda raw: raw["features"].append({"name": "plan", "type": "numeric"}), "features", "duplicate feature"),
        (lambda raw: raw["features"].append({"name": "churned", "type": "numeric"}), "target", "also listed"),
        (lambda raw: raw["estimator"].update(kind="ridge"), "estimator.kind", "estimator 'ridge' does not fit task"),
        (lambda raw: raw["metrics"].update(primary="rmse"), "metrics.primary", "metric 'rmse' is not one of"),
        (lambda raw: raw["metrics"].update(minimum={"f2": 0.5}), "metrics.minimum", "metric 'f2' is not one of"),
        (lambda raw: raw["metrics"].update(primary="precision_at_recall@1.5"), "metrics.primary", "in (0, 1]"),
        (lambda raw: raw["metrics"].update(minimum={"f1@0.5": 0.5}), "metrics.minimum", "takes no parameter"),
        (lambda raw: raw.update(classes=["yes"]), "classes", "expected two or more distinct labels"),
        (lambda raw: raw.update(features_from=["card-activity.tx_count"]), "features_from.0", "is not resolved"),
    ],
)
def test_a_spec_wide_rule_names_the_field_it_is_about(
    raw: dict[str, Any], change: Callable[[dict[str, Any]], None], field: str, message: str
) -> None:
    """Checks that read several sections still name the one field to change, not the whole spec."""
    change(raw)
    error = invalid(raw)
    assert error.field == field
    assert error.message.startswith(f"{field}: ") and message in error.message


def test_unknown_estimator_names_the_field(raw: dict[str, Any]) -> None:
    raw["estimator"]["kind"] = "xgboost"
    assert invalid(raw).field == "estimator.kind"


@pytest.mark.parametrize(
    ("metrics", "bad"),
    [
        ({"primary": "rmse"}, "rmse"),
        ({"primary": "roc_auc", "minimum": {"r2": 0.5}}, "r2"),
        ({"primary": "auc"}, "auc"),
    ],
)
def test_metrics_must_belong_to_the_task(raw: dict[str, Any], metrics: dict[str, Any], bad: str) -> None:
    raw["metrics"] = metrics
    message = invalid(raw).message
    assert f"metric '{bad}' is not one of" in message
    assert "for task 'classification'" in message


def test_regression_refuses_classification_metrics() -> None:
    with pytest.raises(SpecError, match="metric 'f1' is not one of \\['mae', 'r2', 'rmse'\\]"):
        parse_spec(
            {
                "name": "prices",
                "task": "regression",
                "target": "y",
                "features": [{"name": "x", "type": "numeric"}],
                "estimator": {"kind": "linear_regression"},
                "metrics": {"primary": "f1"},
            }
        )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.update(name="Churn_Model"), "name"),
        (lambda r: r.update(name="c"), "name"),
        (lambda r: r.update(task="ranking"), "task"),
        (lambda r: r.update(features=[]), "features"),
        (lambda r: r.update(surprise=True), "surprise"),
        (lambda r: r["features"][0].update(name="tenure months"), "features.0.name"),
        (lambda r: r["features"][1].update(type="float"), "features.1.type"),
        (lambda r: r["features"][0].update(colour="red"), "features.0.colour"),
        (lambda r: r["drift"].update(threshold=0), "drift.threshold"),
        (lambda r: r["drift"].update(dataset_share=1.5), "drift.dataset_share"),
        (lambda r: r["capture"].update(sample_rate=2), "capture.sample_rate"),
        (lambda r: r["data"].update(holdout_fraction=1), "data.holdout_fraction"),
        (lambda r: r["metrics"].update(tolerance=-0.1), "metrics.tolerance"),
        (lambda r: r["monitor"].update(every_minutes=0), "monitor.every_minutes"),
        (lambda r: r.update(approval="sometimes"), "approval"),
        (lambda r: r.pop("target"), "target"),
    ],
)
def test_spec_error_names_the_offending_field(raw: dict[str, Any], change: Any, field: str) -> None:
    change(raw)
    error = invalid(raw)
    assert error.field == field
    assert error.message.startswith(f"{field}: ") or error.message.startswith(f"{field} (feature '")


TYPES = "Input should be 'numeric', 'integer' or 'categorical'"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: r.update(name="Churn_Model"),
            "name: String should match pattern '^[a-z][a-z0-9-]{{1,47}}$' (lowercase letters, digits and dashes, "
            "starting with a letter; 2 to 48 characters), got 'Churn_Model'",
        ),
        (
            lambda r: r.update(name="c" * 49),
            "name: String should match pattern '^[a-z][a-z0-9-]{{1,47}}$' (lowercase letters, digits and dashes, "
            f"starting with a letter; 2 to 48 characters), got '{'c' * 49}' (49 characters)",
        ),
        (lambda r: r["features"][1].update(type="float"), f"features.1.type (feature '{{1}}'): {TYPES}, got 'float'"),
        (
            lambda r: r["features"][0].update(colour="red"),
            "features.0.colour (feature '{0}'): not a field of the spec here",
        ),
        (
            lambda r: r["features"][5].update(categoris=r["features"][5].pop("categories")),
            "features.5.categoris (feature '{5}'): not a field of the spec here; did you mean 'categories'?",
        ),
        (
            lambda r: r["drift"].update(treshold=r["drift"].pop("threshold")),
            "drift.treshold: not a field of the spec here; did you mean 'threshold'?",
        ),
        (lambda r: r.update(treshold=0.1), "treshold: not a field of the spec here"),  # none at the top level
        (
            lambda r: r["features"][5].update(categories=[0, 1]),
            "features.5.categories.0 (feature '{5}'): Input should be a valid string, got 0 "
            "(quote it to make it text: '0')",
        ),
        (lambda r: r["drift"].update(threshold=0), "drift.threshold: Input should be greater than 0, got 0"),
        (lambda r: r.pop("target"), "target: Field required"),
        # a required field misspelt: the typo is named, not the field it left missing
        (lambda r: r.update(targte=r.pop("target")), "targte: not a field of the spec here; did you mean 'target'?"),
        (lambda r: r.update(tarmac=r.pop("target")), "target: Field required"),  # not spelled like it
        (
            lambda r: r["estimator"].update(kind="random_forest_clasifier"),
            "estimator.kind: unknown estimator (did you mean 'random_forest_classifier'?), "
            "got 'random_forest_clasifier'",
        ),
    ],
)
def test_a_spec_error_says_which_feature_and_what_value(raw: dict[str, Any], change: Any, message: str) -> None:
    names = [feature["name"] for feature in raw["features"]]
    change(raw)
    assert invalid(raw).message == message.format(*names)


@pytest.mark.parametrize(
    ("feature", "field", "message"),
    [
        ({"name": "x", "type": "numeric", "categories": ["a"]}, "categories", "categories are only for categorical"),
        ({"name": "x", "type": "categorical", "min": 0}, "min", "min/max are only for numeric features"),
        ({"name": "x", "type": "categorical", "max": 9}, "max", "min/max are only for numeric features"),
        ({"name": "x", "type": "integer", "min": 5, "max": 1}, "min", "min 5.0 is greater than max 1.0"),
    ],
)
def test_inconsistent_feature_is_refused_naming_it(
    raw: dict[str, Any], feature: dict[str, Any], field: str, message: str
) -> None:
    raw["features"].append(feature)
    error = invalid(raw)
    at = f"features.{len(raw['features']) - 1}.{field}"
    assert error.message.startswith(f"{at} (feature 'x'): {message}")
    assert error.field == at


def test_a_name_of_48_characters_is_the_longest_taken(raw: dict[str, Any]) -> None:
    assert parse_spec({**raw, "name": "c" * 48}).name == "c" * 48  # and 49 is refused, saying its length (above)


def test_spec_is_immutable(churn_spec: ModelSpec) -> None:
    with pytest.raises(ValueError, match="frozen"):
        churn_spec.name = "other"  # type: ignore[misc]


def test_load_spec_refuses_text_that_is_not_a_mapping() -> None:
    with pytest.raises(SpecError, match="must be a YAML mapping"):
        load_spec("- just\n- a list\n")
    with pytest.raises(SpecError) as caught:
        load_spec("name: churn\n  task: : classification\n")
    assert caught.value.message == "the spec is not valid YAML at line 2, column 7: mapping values are not allowed here"


def test_load_spec_accepts_json(raw: dict[str, Any]) -> None:
    import json

    assert load_spec(json.dumps(raw)).name == "churn"


def test_spec_round_trips_through_its_json_form(churn_spec: ModelSpec) -> None:
    assert parse_spec(copy.deepcopy(churn_spec.model_dump(mode="json"))) == churn_spec


@pytest.mark.parametrize(("name", "valid"), [("churn", True), ("churn-v2", True), ("c", False), ("2churn", False)])
def test_model_names(name: str, valid: bool) -> None:
    assert is_valid_name(name) is valid


@pytest.mark.parametrize("name", sorted(RESERVED_COLUMNS))
def test_a_feature_may_not_take_a_capture_column_name(raw: dict[str, Any], name: str) -> None:
    raw["features"].append({"name": name, "type": "numeric"})
    error = invalid(raw)
    assert error.message == f"features: column names ['{name}'] are reserved for the capture of served traffic"


# -- hyperparameter search -----------------------------------------------------------------------


def search_of(raw: dict[str, Any], **search: Any) -> Any:
    raw["estimator"]["search"] = search
    return parse_spec(raw).estimator.search


def test_a_grid_search_plans_its_first_trials_combinations(raw: dict[str, Any]) -> None:
    search = search_of(raw, params={"max_depth": [4, 8], "min_samples_leaf": [1, 5, 10]}, strategy="grid", trials=4)
    assert search.plan() == [
        {"max_depth": 4, "min_samples_leaf": 1},
        {"max_depth": 4, "min_samples_leaf": 5},
        {"max_depth": 4, "min_samples_leaf": 10},
        {"max_depth": 8, "min_samples_leaf": 1},
    ]


def test_a_random_search_is_seeded_and_keeps_integers_integers_inside_their_range(raw: dict[str, Any]) -> None:
    params = {"n_estimators": {"low": 50, "high": 400, "log": True}, "max_features": {"low": 0.2, "high": 0.9},
              "max_depth": [4, 8, 12]}  # fmt: skip
    search = search_of(raw, params=params, trials=40, seed=1)
    plan = search.plan()
    assert plan == search_of(raw, params=params, trials=40, seed=1).plan()  # a rerun plans the same
    assert plan != search_of(raw, params=params, trials=40, seed=2).plan()
    assert all(isinstance(p["n_estimators"], int) and 50 <= p["n_estimators"] <= 400 for p in plan)
    assert all(isinstance(p["max_features"], float) and 0.2 <= p["max_features"] <= 0.9 for p in plan)
    assert {p["max_depth"] for p in plan} == {4, 8, 12}
    # a log scale draws as many below the geometric middle (~141) as above it
    below = sum(p["n_estimators"] < 141 for p in plan)
    assert 10 <= below <= 30


@pytest.mark.parametrize(("trials", "planned"), [(5, 4), (4, 4), (3, 3)])
def test_a_random_search_never_plans_a_trial_twice_and_stops_when_its_space_is_smaller(
    raw: dict[str, Any], trials: int, planned: int
) -> None:
    plan = search_of(raw, params={"max_depth": [4, 8], "min_samples_leaf": [1, 5]}, trials=trials).plan()
    assert len(plan) == planned and len({repr(trial) for trial in plan}) == planned  # 2 x 2 combinations at most


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ({"params": {"max_depth": {"low": 2, "high": 8}}, "strategy": "grid"}, "a grid search lists every value"),
        ({"params": {"max_depth": []}}, "list no value"),
        ({"params": {"n_estimators": {"low": 400, "high": 50}}}, "low 400 is greater than high 50"),
        ({"params": {"learning_rate": {"low": 0, "high": 1, "log": True}}}, "a log range needs low > 0"),
        ({"params": {}}, "at least 1 item"),
        ({"params": {"max_depth": [4]}, "trials": 0}, "greater than or equal to 1"),
    ],
)
def test_a_search_that_cannot_run_is_refused_with_the_spec(
    raw: dict[str, Any], search: dict[str, Any], message: str
) -> None:
    raw["estimator"]["search"] = search
    assert message in invalid(raw).message


@pytest.mark.parametrize(
    ("metric", "valid"),
    [
        ("recall_at_precision@0.9", True),
        ("precision_at_recall@1", True),  # the bound itself
        ("precision_at_recall@1.0000001", False),  # a hair above
        ("recall_at_precision@0", False),
        ("recall_at_precision@1e-9", True),
        ("recall_at_precision@nan", False),
        ("recall_at_precision@high", False),
        ("recall_at_precision", False),  # the parameter is required
        ("roc_auc@0.5", False),  # and only parametric metrics take one
        ("average_precision", True),
        ("precision", True),
    ],
)
def test_parametric_metrics_need_a_parameter_in_zero_to_one(raw: dict[str, Any], metric: str, valid: bool) -> None:
    raw["metrics"] = {"primary": "roc_auc", "minimum": {metric: 0.5}}
    if valid:
        assert metric in parse_spec(raw).metrics.minimum
    else:
        assert metric in invalid(raw).message


def test_only_the_parametric_metrics_are_listed_for_runs_to_report(raw: dict[str, Any]) -> None:
    raw["metrics"] = {"primary": "recall_at_precision@0.9", "minimum": {"f1": 0.5, "precision_at_recall@0.5": 0.2}}
    assert parse_spec(raw).parametric_metrics == ["precision_at_recall@0.5", "recall_at_precision@0.9"]


@pytest.mark.parametrize(
    ("threshold", "message"),
    [
        ({"optimize": "recall_at_precision"}, "needs threshold.precision"),
        ({"optimize": "f1", "precision": 0.9}, "threshold.precision is for optimize 'recall_at_precision'"),
        ({"optimize": "recall_at_precision", "precision": 0}, "metrics.threshold.precision"),
        ({"optimize": "recall_at_precision", "precision": 1.01}, "metrics.threshold.precision"),
        ({"optimize": "accuracy"}, "metrics.threshold.optimize"),
    ],
)
def test_a_threshold_that_cannot_be_picked_is_refused(
    raw: dict[str, Any], threshold: dict[str, Any], message: str
) -> None:
    raw["metrics"]["threshold"] = threshold
    assert message in invalid(raw).message


def test_a_threshold_at_precision_one_is_allowed(raw: dict[str, Any]) -> None:
    raw["metrics"]["threshold"] = {"optimize": "recall_at_precision", "precision": 1}
    threshold = parse_spec(raw).metrics.threshold
    assert threshold is not None
    assert threshold.precision == 1


def regression(**changes: Any) -> dict[str, Any]:
    """A regressor's smallest spec, with `changes` to its top level."""
    return {
        "name": "prices",
        "task": "regression",
        "target": "y",
        "features": [{"name": "x", "type": "numeric"}],
        "estimator": {"kind": "lightgbm_regressor"},
        "metrics": {"primary": "rmse"},
        **changes,
    }


@pytest.mark.parametrize("section", ["threshold", "class_weight"])
def test_thresholds_and_class_weights_are_for_classifiers(section: str) -> None:
    raw = regression()
    if section == "threshold":
        raw["metrics"]["threshold"] = {"optimize": "f1"}
    else:
        raw["estimator"]["class_weight"] = "balanced"
    error = invalid(raw)
    field = "metrics.threshold" if section == "threshold" else "estimator.class_weight"
    assert (error.field, error.message) == (field, f"{field}: {field} is for classifiers")


def test_classes_are_labels_as_text(raw: dict[str, Any]) -> None:
    assert parse_spec({**raw, "classes": ["no", "yes"]}).classes == ["no", "yes"]
    assert parse_spec({**raw, "classes": [0, 1]}).classes == ["0", "1"]  # as the contract reads a number label
    assert parse_spec({**raw, "classes": [0.0, 1.0]}).classes == ["0", "1"]
    assert parse_spec(raw).classes is None  # not listed: any label


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        ([False, True], "quote it (YAML reads yes, no, on, off unquoted as booleans)"),
        (["yes"], "classes: expected two or more distinct labels, got ['yes']"),
        (["no", "yes", "no"], "classes: expected two or more distinct labels, got ['no', 'yes', 'no']"),
    ],
)
def test_classes_that_cannot_be_a_classifiers_are_refused(raw: dict[str, Any], classes: Any, message: str) -> None:
    assert message in invalid({**raw, "classes": classes}).message


def test_a_threshold_needs_two_declared_classes(raw: dict[str, Any]) -> None:
    raw["metrics"]["threshold"] = {"optimize": "f1"}
    assert parse_spec({**raw, "classes": ["no", "yes"]}).metrics.threshold is not None
    message = invalid({**raw, "classes": ["no", "yes", "maybe"]}).message
    assert "metrics.threshold is for binary classifiers; classes lists 3" in message


def test_classes_are_for_classifiers() -> None:
    assert "classes are for classifiers" in invalid(regression(classes=["a", "b"])).message


@pytest.mark.parametrize(
    ("weights", "error"),
    [
        ("balanced", None),
        ({"yes": 3.0, "no": 0.001}, None),
        ({"yes": 0}, "estimator.class_weight.yes: a weight is a number above 0, got 0 ('balanced' or a weight per "
                     'label, e.g. {"yes": 3})'),
        ({"yes": True}, "estimator.class_weight.yes: a weight is a number above 0, got True ('balanced' or a weight "
                        'per label, e.g. {"yes": 3})'),
        ("inverse", "estimator.class_weight: expected 'balanced' or a weight per label, e.g. {\"yes\": 3}, "
                    "got 'inverse'"),
        (["yes"], "estimator.class_weight: expected 'balanced' or a weight per label, e.g. {\"yes\": 3}"),
        # YAML's unquoted yes is true: the label the author meant is lost, so the message says to quote it
        ({True: 3}, 'estimator.class_weight: a label read as true/false: quote it, e.g. {"yes": 3} (YAML reads yes, '
                    "no, on, off unquoted as booleans)"),
    ],
)  # fmt: skip
def test_class_weights_are_balanced_or_positive_per_label_and_a_mistake_names_both_forms(
    raw: dict[str, Any], weights: Any, error: str | None
) -> None:
    raw["estimator"]["class_weight"] = weights
    if error is None:
        assert parse_spec(raw).estimator.class_weight == weights
    else:
        assert invalid(raw).message == error


def test_class_weights_for_labels_outside_the_declared_classes_are_refused_at_registration(
    raw: dict[str, Any],
) -> None:
    from mlcore.spec import check_at_registration

    raw["classes"] = ["no", "yes"]
    raw["estimator"]["class_weight"] = {"yes": 3.0, "no": 1.0}
    check_at_registration(parse_spec(raw))
    raw["estimator"]["class_weight"] = {"yes": 3.0, "Yes": 2.0}  # found a run later, by the training job, before
    stored = parse_spec(raw)  # a spec stored before the rule still reads (the registry's, every tick's)
    with pytest.raises(SpecError) as caught:
        check_at_registration(stored)
    assert (caught.value.field, caught.value.message) == (
        "estimator.class_weight",
        "estimator.class_weight: names labels not in classes ['no', 'yes']: ['Yes']",
    )
    del raw["classes"]  # no classes declared: left to the training job, which knows the data's labels
    check_at_registration(parse_spec(raw))


def test_a_numeric_label_of_class_weights_is_the_label_as_text(raw: dict[str, Any]) -> None:
    # YAML reads {1: 3} unquoted as a number: the classes of 0/1 labels are "0" and "1"
    raw["estimator"]["class_weight"] = yaml.safe_load("{1: 3, '0': 1, 2.0: 1}")
    assert parse_spec(raw).estimator.class_weight == {"1": 3.0, "0": 1.0, "2": 1.0}


def test_a_category_yaml_read_as_a_boolean_says_to_quote_it(raw: dict[str, Any]) -> None:
    raw["features"][5]["categories"] = yaml.safe_load("[yes, no]")
    assert invalid(raw).message == (
        "features.5.categories.0 (feature 'plan'): Input should be a valid string, got True (read as true/false: "
        "quote it; YAML reads yes, no, on, off unquoted as booleans)"
    )


@pytest.mark.parametrize(
    ("resources", "problem"),
    [
        ({"vcpus": 2, "memory_gb": 4}, None),  # Fargate's smallest memory for 2 vCPUs
        ({"vcpus": 2, "memory_gb": 16}, None),  # and its largest
        ({"vcpus": 2, "memory_gb": 3}, "memory_gb 3 does not go with 2 vCPUs on Fargate"),
        ({"vcpus": 2, "memory_gb": 17}, "memory_gb 17 does not go with 2 vCPUs on Fargate"),
        ({"vcpus": 8, "memory_gb": 20}, None),
        ({"vcpus": 8, "memory_gb": 18}, "one of 16, 20, 24"),  # 8 vCPUs take memory in steps of 4 GB
        ({"vcpus": 0.25, "memory_gb": 0.5}, None),
        ({"vcpus": 3, "memory_gb": 8}, "vcpus 3 is not one of Fargate's 0.25, 0.5, 1, 2, 4, 8, 16"),
        # GPU jobs run on EC2: whole vCPUs, any memory, on demand, at most the biggest instance's GPUs
        ({"vcpus": 3, "memory_gb": 10, "gpu": 1}, None),
        ({"vcpus": 1, "memory_gb": 10, "gpu": 4}, None),
        ({"vcpus": 8, "memory_gb": 31, "gpu": 1}, None),  # g4dn.2xlarge, less the agent's GB
        ({"vcpus": 8, "memory_gb": 32, "gpu": 1}, None),  # then only g4dn.12xlarge
        ({"vcpus": 48, "memory_gb": 191, "gpu": 4}, None),
        ({"vcpus": 49, "memory_gb": 10, "gpu": 1}, "fit no instance of the GPU queue"),
        ({"vcpus": 48, "memory_gb": 192, "gpu": 1}, "1 GPU, 48 vCPUs and 192 GB fit no instance"),
        ({"vcpus": 1, "memory_gb": 10, "gpu": 5}, "less than or equal to 4"),
        ({"vcpus": 0.5, "memory_gb": 10, "gpu": 1}, "vcpus 0.5: a GPU job gets whole vCPUs"),
        ({"vcpus": 4, "memory_gb": 16, "gpu": 1, "spot": True}, "the GPU queue runs on-demand instances"),
    ],
)
def test_training_resources_are_sizes_fargate_runs(
    raw: dict[str, Any], resources: dict[str, Any], problem: str | None
) -> None:
    raw["training"] = {"resources": resources}
    if problem is None:
        assert parse_spec(raw).training.resources.vcpus == resources["vcpus"]
    else:
        error = invalid(raw)
        assert problem in error.message
        assert error.field is not None and error.field.startswith("training.resources")


def test_training_defaults_to_the_job_definitions_size_on_demand(raw: dict[str, Any]) -> None:
    from mlcore.catalog import TRAINING_JOB

    resources = parse_spec(raw).training.resources
    assert (resources.vcpus, resources.memory_gb, resources.spot) == (
        TRAINING_JOB.vcpus,
        TRAINING_JOB.memory_gib,
        False,
    )


def test_a_batch_section_names_the_defaults_of_batch_predict(raw: dict[str, Any]) -> None:
    raw["batch"] = {"input": "s3://data-bucket/in/", "output": "s3://data-bucket/out/", "keep_columns": ["id"]}
    spec = parse_spec(raw)
    assert (spec.batch.input, spec.batch.output, spec.batch.keep_columns) == (
        "s3://data-bucket/in/",
        "s3://data-bucket/out/",
        ["id"],
    )


def test_a_batch_schedule_with_its_input_and_output_is_kept(raw: dict[str, Any]) -> None:
    raw["batch"] = {"schedule": "cron(0 2 * * ? *)", "input": "s3://d-b/in/", "output": "s3://d-b/out/"}
    assert parse_spec(raw).batch.schedule == "cron(0 2 * * ? *)"


@pytest.mark.parametrize(
    ("batch", "field", "words"),
    [
        ({"input": "s3://data-bucket/in"}, "batch.input", "is not an S3 prefix"),
        ({"output": "data-bucket/out/"}, "batch.output", "is not an S3 prefix"),
        ({"keep_columns": ["row_id"]}, "batch.keep_columns", "['row_id'] are columns the predictions already have"),
        ({"keep_columns": ["batch_id"]}, "batch.keep_columns", "['batch_id'] are columns the predictions already"),
        ({"schedule": "daily", "input": "s3://d-b/in/", "output": "s3://d-b/out/"}, "batch.schedule", "rate(N unit)"),
        (
            {"schedule": "rate(1 day)", "input": "s3://d-b/in/"},
            "batch.schedule",
            "a scheduled batch needs batch.output",
        ),
        ({"schedule": "rate(1 day)"}, "batch.schedule", "a scheduled batch needs batch.input and batch.output"),
    ],
)
def test_a_batch_section_refuses_what_it_cannot_do(
    raw: dict[str, Any], batch: dict[str, Any], field: str, words: str
) -> None:
    raw["batch"] = batch
    with pytest.raises(SpecError) as error:
        parse_spec(raw)
    assert error.value.field == field and words in error.value.message


OWN_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/fraud-net"


@pytest.mark.parametrize("image", [f"{OWN_IMAGE}:2026-12-01", f"{OWN_IMAGE}@sha256:{'0' * 64}"])
def test_an_own_image_is_named_by_tag_or_digest(raw: dict[str, Any], image: str) -> None:
    raw.update(estimator={"kind": "own_image", "params": {"layers": 3}}, training={"image": image})
    spec = parse_spec(raw)
    assert (spec.estimator.kind, spec.training.image) == ("own_image", image)


@pytest.mark.parametrize(
    ("estimator", "training", "field", "words"),
    [
        ({"kind": "own_image"}, {}, "training.image", "required for estimator kind 'own_image'"),
        ({"kind": "logistic_regression"}, {"image": f"{OWN_IMAGE}:1"}, "training.image", "and only for it"),
        ({"kind": "own_image"}, {"image": "docker.io/team/fraud-net:1"}, "training.image", "is not an ECR image"),
        ({"kind": "own_image"}, {"image": f"{OWN_IMAGE}@sha256:abc"}, "training.image", "is not an ECR image"),
        (
            {"kind": "own_image", "search": {"params": {"layers": [2, 3]}}},
            {"image": f"{OWN_IMAGE}:1"},
            "estimator.search",
            "estimator.search: an image trains by itself; pass what it needs in estimator.params",
        ),
        (
            {"kind": "own_image"},
            {"image": f"{OWN_IMAGE}:1", "resources": {"vcpus": 4, "memory_gb": 16, "gpu": 1}},
            "training.resources.gpu",
            "a model's own image runs on Fargate, which has no GPUs",
        ),
    ],
)
def test_an_own_image_spec_refuses_what_the_image_cannot_get(
    raw: dict[str, Any], estimator: dict[str, Any], training: dict[str, Any], field: str, words: str
) -> None:
    raw.update(estimator=estimator, training=training)
    with pytest.raises(SpecError) as error:
        parse_spec(raw)
    assert error.value.field == field and words in error.value.message


def test_an_own_image_reads_one_file_each_so_its_data_is_never_split_in_parts(raw: dict[str, Any]) -> None:
    raw.update(estimator={"kind": "own_image"}, training={"image": f"{OWN_IMAGE}:1"})
    raw["data"] = {**raw.get("data", {}), "distributed": "always"}
    with pytest.raises(SpecError, match="a model's own image reads one train and one holdout file"):
        parse_spec(raw)


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        (["monthly_charges"], "metrics.segments: 'monthly_charges' is not a categorical or integer feature"),
        (["customer_id"], "metrics.segments: 'customer_id' is not a categorical or integer feature"),
        ([], "metrics.max_segment_gap: needs metrics.segments"),
    ],
)
def test_segments_are_categorical_or_integer_features_and_a_gap_needs_them(
    raw: dict[str, Any], segments: list[str], message: str
) -> None:
    raw["metrics"].update(segments=segments, max_segment_gap=0.1)
    assert message in invalid(raw).message


def test_segments_by_a_categorical_and_an_integer_feature_are_accepted(raw: dict[str, Any]) -> None:
    raw["metrics"].update(segments=["plan", "support_calls"], max_segment_gap=0.1, min_segment_rows=50)
    metrics = parse_spec(raw).metrics
    assert (metrics.segments, metrics.max_segment_gap, metrics.min_segment_rows) == (
        ["plan", "support_calls"], 0.1, 50
    )  # fmt: skip
    raw["metrics"]["max_segment_gap"] = 0
    assert "metrics.max_segment_gap" in invalid(raw).message


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"athena_sql": "DELETE FROM x"}, "the query must be one SELECT statement (got DELETE)"),
        ({"athena_sql": "SELECT * FROM x; DROP TABLE x"}, "the query must be one SELECT statement (got SELECT, DROP)"),
        ({"athena_sql": "SELECT * FROM other_catalog.db.x"}, "from the catalog 'other_catalog'"),
        ({"athena_sql": ""}, "String should have at least 1 character"),
        ({}, "data.source names one of glue_table (database.table) or athena_sql (a SELECT)"),
        ({"glue_table": "db.t", "athena_sql": "SELECT * FROM t"}, "data.source names one of glue_table"),
        ({"glue_table": "no_database"}, "String should match pattern"),
        ({"glue_table": "db.t", "s3": "s3://b/k"}, "not a field of the spec here"),
    ],
)
def test_a_dataset_source_is_a_glue_table_named_with_its_database_or_one_select(
    raw: dict[str, Any], source: dict[str, Any], message: str
) -> None:
    raw["data"] = {**raw.get("data", {}), "source": source}
    assert message in invalid(raw).message
    raw["data"]["source"] = {"glue_table": "mlops_datasets.churn_labels"}
    assert parse_spec(raw).data.source.glue_table == "mlops_datasets.churn_labels"  # type: ignore[union-attr]
    raw["data"]["source"] = {"athena_sql": "WITH recent AS (SELECT * FROM labels) SELECT * FROM recent;"}
    assert parse_spec(raw).data.query == raw["data"]["source"]["athena_sql"]


def test_a_specs_sha256_is_what_it_was_before_retired_was_a_field_and_retiring_leaves_it() -> None:
    from infra.local.example_data import EXAMPLE_SPEC
    from mlcore.spec import spec_sha256

    spec = load_spec(EXAMPLE_SPEC.read_text())
    # the example spec's hash as the platform computed it before `retired` (62065a7): versions trained then still
    # match the spec they were trained under, and a run that finds nothing new does not say the spec changed
    known = "fdf9ba6d6f3690ef70cee8f1668e53eb4b212f516f791f0369aee7d7fe838f44"
    assert spec_sha256(spec) == known
    assert spec_sha256(spec.model_copy(update={"retired": True})) == known
    assert spec_sha256(spec.model_copy(update={"description": "another"})) != known  # what it hashes still counts
