"""The retrain execution name: deterministic per model and check, valid for Step Functions."""

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


@given(name=model_names, check_id=check_ids)
def test_name_is_deterministic_and_fits_step_functions(name: str, check_id: str) -> None:
    first = retrain_execution_name(name, check_id)
    assert first == retrain_execution_name(name, check_id)
    assert STEP_FUNCTIONS_NAME.fullmatch(first), first


def test_different_checks_get_different_names() -> None:
    at = datetime(2025, 3, 1, 12, tzinfo=UTC)
    names = {retrain_execution_name("churn", f"{at + timedelta(seconds=s):%Y%m%dT%H%M%S}") for s in range(100)}
    assert len(names) == 100
    assert retrain_execution_name("churn", "20250301T120000").startswith("churn-retrain-20250301T120000-")


def test_long_model_names_that_share_a_prefix_stay_distinct() -> None:
    base = "a" * 45
    assert retrain_execution_name(base + "-one", "20250301T120000") != retrain_execution_name(
        base + "-two", "20250301T120000"
    )


def test_name_stays_within_80_characters_for_any_check_id() -> None:
    name = retrain_execution_name("a" * 48, "manual-2025-03-01-after-pricing-change")
    assert len(name) <= 80
