"""Schedule expressions: parsed as EventBridge does, and due exactly when they fire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlcore.schedules import ScheduleError, parse_schedule

NOW = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("expression", "fired"),
    [
        ("cron(0 3 * * ? *)", datetime(2026, 12, 2, 3, 0, tzinfo=UTC)),
        ("cron(30 10 * * ? *)", datetime(2026, 12, 2, 10, 30, tzinfo=UTC)),  # at `now` itself
        ("cron(31 10 * * ? *)", datetime(2026, 12, 1, 10, 31, tzinfo=UTC)),  # a minute later: yesterday's
        ("cron(0/15 * * * ? *)", datetime(2026, 12, 2, 10, 30, tzinfo=UTC)),
        ("cron(0 9 ? * MON *)", datetime(2026, 11, 30, 9, 0, tzinfo=UTC)),
        ("cron(0 9 ? * MON-FRI *)", datetime(2026, 12, 2, 9, 0, tzinfo=UTC)),
        ("cron(0 0 1 JAN ? *)", datetime(2026, 1, 1, 0, 0, tzinfo=UTC)),
        ("cron(0 12 15 * ? 2025)", datetime(2025, 12, 15, 12, 0, tzinfo=UTC)),
    ],
)
def test_a_cron_last_fired_at(expression: str, fired: datetime) -> None:
    assert parse_schedule(expression).previous_fire(NOW) == fired


def test_a_cron_is_due_once_it_fired_after_the_last_run() -> None:
    daily = parse_schedule("cron(0 3 * * ? *)")
    fired = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    assert daily.due(since=fired - timedelta(seconds=1), now=NOW)  # just before the fire: due
    assert not daily.due(since=fired, now=NOW)  # served at the fire itself: not again


def test_a_rate_is_due_a_period_after_the_last_run() -> None:
    weekly = parse_schedule("rate(7 days)")
    assert weekly.due(since=NOW - timedelta(days=7), now=NOW)
    assert not weekly.due(since=NOW - timedelta(days=7) + timedelta(seconds=1), now=NOW)
    assert parse_schedule("rate(1 hour)").period == timedelta(hours=1)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("every day", "a schedule is rate(N unit) or cron(6 fields)"),
        ("rate(1 days)", "say `rate(1 day)`"),
        ("rate(2 week)", "a schedule is rate(N unit)"),
        ("cron(0 3 * * *)", "cron takes 6 fields"),
        ("cron(0 3 * * MON *)", "one of day-of-month and day-of-week must be `?`"),
        ("cron(0 25 * * ? *)", "cron hours '25': values lie in 0-23"),
        ("cron(0 3 L * ? *)", "L, W and # are not supported here"),
        ("cron(0 3 ? * FUNDAY *)", "cron day-of-week 'FUNDAY' is not a number or one of"),
    ],
)
def test_an_expression_eventbridge_would_refuse_is_named(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        parse_schedule(expression)
