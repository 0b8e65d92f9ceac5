"""The model card from the registry: intended use, training data, metrics, lineage and who decided what, when."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from mlcore.catalog import DataSource, SegmentMetrics, TrainedModel
from mlcore.registry import (
    ModelVersion,
    Registry,
    RunRecord,
    RunStatus,
    VersionStatus,
    model_card,
    render_model_card,
    utc_now,
)
from mlcore.spec import parse_spec
from mlcore.storage import ObjectStore


def test_the_card_tells_the_use_the_data_the_lineage_and_each_decision_with_its_principal(
    registry: Registry,
    artifacts: ObjectStore,
    trained_churn: TrainedModel,
    register_model: Callable[..., ModelVersion],
) -> None:
    spec = parse_spec(
        {
            **trained_churn.spec.model_dump(mode="json"),
            "description": "Churn <risk> of subscribers",
            "intended_use": "Rank subscribers for retention offers; not for pricing.",
            "limitations": "Trained on one year of the north region; `plan` values outside the three are refused.",
        }
    )
    registry.put_spec(spec, actor="alice")
    first = register_model(registry, artifacts, trained_churn, run_id="run-1")
    second = register_model(registry, artifacts, trained_churn, run_id="run-2", promote=False,
                            status=VersionStatus.PENDING)  # fmt: skip
    registry.set_status("churn", second.version, VersionStatus.APPROVED, "arn:aws:iam::123456789012:user/rita", "ok")
    registry.set_alias("churn", "champion", second.version, "arn:aws:iam::123456789012:user/paula", "better auc")
    run = RunRecord(
        run_id="run-2", model_name="churn", status=RunStatus.REGISTERED, outcome="registered v2",
        started_at=utc_now(), ended_at=utc_now(), spec_sha256="ab" * 32, code_version="c0ffee",
        datasets=[DataSource(source="dataset", uri="s3://data/datasets/churn/x.parquet", sha256="cd" * 32, rows=1000)],
        version=second.version, trigger="manual", reason="new data",
    )  # fmt: skip
    version = registry.get_version("churn", second.version)
    card = render_model_card(spec, version, registry.audit_trail("churn"), run)
    assert card.startswith(f"# Model card: churn v{second.version}\n")
    assert "## Intended use\nRank subscribers for retention offers; not for pricing." in card
    assert "## Limitations\nTrained on one year of the north region" in card
    assert "\n\n\n" not in card  # one blank line between blocks
    assert "| dataset | `s3://data/datasets/churn/x.parquet` | 1000 | `" + "cd" * 32 + "` |" in card
    assert "- Code commit: `c0ffee`" in card and f"- Spec SHA-256: `{'ab' * 32}`" in card
    # each decision about this version, with its principal; none about another version
    assert (
        "| status_changed | arn:aws:iam::123456789012:user/rita | version: 2, from: pending_approval, to: approved"
        in card
    )
    assert (
        "| alias_moved | arn:aws:iam::123456789012:user/paula | alias: champion, from: 1, to: 2, reason: better auc"
        in card
    )
    assert f"version: {first.version}, status: approved" not in card
    # the input signature as the spec's author wrote it
    assert "| tenure_months | integer | no | 0 .. 120 |" in card
    assert "| data_usage_gb | numeric | yes | a number ≥ 0 |" in card
    assert "| plan | categorical | no | basic, standard, premium |" in card
    assert "| region | categorical | no | north, south, east, west, or another (allow_unseen) |" in card
    # the HTML card: the same sections, its text escaped
    html = render_model_card(spec, version, registry.audit_trail("churn"), run, form="html")
    assert html.startswith("<!doctype html>") and "<h2>Intended use</h2>" in html
    assert "Churn &lt;risk&gt; of subscribers" in html and "<risk>" not in html
    assert "<code>c0ffee</code>" in html
    # the JSON card: the same sections as data
    document = json.loads(render_model_card(spec, version, registry.audit_trail("churn"), run, form="json"))
    assert document["title"] == f"Model card: churn v{version.version}"
    sections = {section["title"]: section for section in document["sections"]}
    assert list(sections) == [line[3:] for line in card.splitlines() if line.startswith("## ")]
    signature = sections["Input signature"]
    assert signature["header"] == ["feature", "type", "nullable", "allowed"]
    assert ["plan", "categorical", "no", "basic, standard, premium"] in signature["rows"]
    assert sections["Intended use"]["text"] == [spec.intended_use]


def test_a_card_without_a_run_record_or_a_stated_use_says_so(
    registry: Registry, artifacts: ObjectStore, trained_churn: TrainedModel, register_model: Callable[..., ModelVersion]
) -> None:
    silent = parse_spec({**trained_churn.spec.model_dump(mode="json"), "intended_use": "", "limitations": ""})
    registry.put_spec(silent, actor="alice")
    version = register_model(registry, artifacts, trained_churn)
    card = model_card(registry, version)  # from the registry, where no run of it was recorded
    assert "## Intended use\nNot stated in the spec (`intended_use`)." in card
    assert "## Training data" not in card
    assert "| version_registered | test |" in card


def test_segments_below_min_segment_rows_are_marked_and_a_lower_is_better_best_is_the_lowest(
    registry: Registry, artifacts: ObjectStore, trained_churn: TrainedModel, register_model: Callable[..., ModelVersion]
) -> None:
    raw = trained_churn.spec.model_dump(mode="json")
    spec = parse_spec({**raw, "metrics": {"primary": "log_loss", "segments": ["plan"], "max_segment_gap": 0.2}})
    registry.put_spec(spec, actor="alice")
    version = register_model(registry, artifacts, trained_churn).model_copy(
        update={
            "segments": [
                SegmentMetrics(column="plan", value="basic", rows=30, metrics={"log_loss": 0.5}),
                SegmentMetrics(column="plan", value="premium", rows=29, metrics={"log_loss": 0.25}),
                SegmentMetrics(column="plan", value="standard", rows=40, metrics={"log_loss": 0.375}),
            ]
        }
    )
    card = render_model_card(spec, version, [])
    assert "The gate allows a gap in log_loss of at most 0.2 between segments of at least 30 rows." in card
    # premium is the best (lowest) but, with 29 rows, is not gated: the gap judged is basic's to standard's
    assert "| plan = premium | 29 | 0.2500 | 0.0000 | too few rows to gate |" in card
    assert "| plan = basic | 30 | 0.5000 | 0.2500 |  |" in card
    assert "| segment | rows | log_loss | behind the best | note |" in card
    assert "log_loss differs by 0.1250 across the segments of plan (standard 0.3750, basic 0.5000)." in card
    # with every segment large enough to gate, the note column goes: it would be blank
    enough = version.model_copy(update={"segments": [s.model_copy(update={"rows": 30}) for s in version.segments]})
    card = render_model_card(spec, enough, [])
    assert "| segment | rows | log_loss | behind the best |\n" in card
    assert "| plan = basic | 30 | 0.5000 | 0.2500 |\n" in card


def test_a_searched_versions_card_says_what_its_search_picked(
    registry: Registry, artifacts: ObjectStore, trained_churn: TrainedModel, register_model: Callable[..., ModelVersion]
) -> None:
    raw = trained_churn.spec.model_dump(mode="json")
    raw["estimator"]["search"] = {
        "params": {"max_depth": [4, 8], "min_samples_leaf": {"low": 1, "high": 9}},
        "trials": 4,
    }
    registry.put_spec(parse_spec(raw), actor="alice")
    version = register_model(registry, artifacts, trained_churn)
    picked = {**version.params, "max_depth": 4, "min_samples_leaf": 7}  # as the search's refit recorded them
    card = model_card(registry, version.model_copy(update={"params": picked}))
    # the spec's parameters, and what this version's search chose in place of them
    assert "its random search of 4 trials picked {'max_depth': 4, 'min_samples_leaf': 7}" in card
    # a grid of 3 combinations runs 3 trials, whatever `trials` allows
    raw["estimator"]["search"] = {"params": {"max_depth": [4, 8, 12]}, "strategy": "grid", "trials": 10}
    registry.put_spec(parse_spec(raw), actor="alice")
    assert "its grid search of 3 trials picked" in model_card(registry, version.model_copy(update={"params": picked}))


@pytest.mark.parametrize(
    ("feature", "allowed"),
    [
        ({"type": "numeric"}, "any number"),
        ({"type": "integer", "max": 5}, "a whole number ≤ 5"),
        ({"type": "numeric", "min": 0.5, "max": 2}, "0.5 .. 2"),
        ({"type": "categorical"}, "any text"),
    ],
)
def test_the_signature_says_what_a_feature_takes_in_words(feature: dict[str, Any], allowed: str) -> None:
    from mlcore.registry.card import _allowed
    from mlcore.spec import Feature

    assert _allowed(Feature.model_validate({"name": "x", **feature})) == allowed
