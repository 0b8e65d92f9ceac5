"""The retrain execution name: deterministic per model, trigger and event, valid for Step Functions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from mlcore.monitoring import retrain_execution_name
from mlcore.spec import NAME_PATTERN

STEP_FUNCTIONS_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
model_names = st.from_regex(NAME_PATTERN, fullmatch=True)
check_ids = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda at: f"{at:%Y%m%dT%H%M%S}"
)


triggers = st.sampled_from(["schedule", "new_data", "drift", "degradation"])
event_ids = check_ids | st.uuids().map(str) | st.text(min_size=1, max_size=200)


@given(name=model_names, trigger=triggers, event_id=event_ids)
def test_name_is_deterministic_and_fits_step_functions(name: str, trigger: str, event_id: str) -> None:
    first = retrain_execution_name(name, trigger, event_id)
    assert first == retrain_execution_name(name, trigger, event_id)
    assert STEP_FUNCTIONS_NAME.fullmatch(first), first
    assert first.startswith(f"{name}-{trigger.replace('_', '-')}-")  # the run's id names its model, whole


def test_the_same_event_id_of_two_triggers_gets_two_names() -> None:
    assert retrain_execution_name("churn", "drift", "c1") != retrain_execution_name("churn", "degradation", "c1")


def test_different_checks_get_different_names() -> None:
    at = datetime(2025, 3, 1, 12, tzinfo=UTC)
    names = {retrain_execution_name("churn", "drift", f"{at + timedelta(seconds=s):%Y%m%dT%H%M%S}") for s in range(100)}
    assert len(names) == 100
    assert retrain_execution_name("churn", "new_data", "20250301T120000").startswith("churn-new-data-20250301T120000-")


def test_long_model_names_that_share_a_prefix_stay_distinct() -> None:
    base = "a" * 45
    assert retrain_execution_name(base + "-one", "drift", "20250301T120000") != retrain_execution_name(
        base + "-two", "drift", "20250301T120000"
    )


def test_name_stays_within_80_characters_for_any_check_id() -> None:
    name = retrain_execution_name("a" * 48, "degradation", "manual-2025-03-01-after-pricing-change")
    assert len(name) <= 80


def test_the_name_is_the_model_the_trigger_the_readable_event_and_a_digest() -> None:
    import hashlib

    digest = hashlib.sha256(b"churn/new_data/s3:event id/with+chars").hexdigest()[:8]
    assert (
        retrain_execution_name("churn", "new_data", "s3:event id/with+chars")
        == f"churn-new-data-s3-event-id-with-{digest}"
    )
    long = retrain_execution_name("m" * 48, "drift", "e" * 30)
    assert long.startswith("m" * 48 + "-drift-" + "e" * 16 + "-") and len(long.rsplit("-", 1)[1]) == 8
    # the longest name and trigger leave the event id 10 characters: the name is 80 exactly, not 81
    longest = retrain_execution_name("m" * 48, "degradation", "e" * 30)
    assert longest.startswith("m" * 48 + "-degradation-" + "e" * 10 + "-") and len(longest) == 80
    assert retrain_execution_name("churn", "drift", "AbC").startswith("churn-drift-AbC-")
