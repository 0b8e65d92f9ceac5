"""EventBridge schedule expressions, `rate(...)` and `cron(...)`: parsed, and when one last fired.

A model's `retrain.schedule` is one of these. One platform rule ticks every few minutes; at each tick
a model is due when its expression fired since the model's schedule was last served. Cron fields
are EventBridge's six (minutes, hours, day of month, month, day of week, year), in UTC, with `*`,
`?`, values, ranges, lists, steps and names; `L`, `W` and `#` are refused, naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
# Field name, lowest and highest value, the names that stand for values.
_FIELDS: tuple[tuple[str, int, int, list[str]], ...] = (
    ("minutes", 0, 59, []),
    ("hours", 0, 23, []),
    ("day-of-month", 1, 31, []),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 1, 7, _DAYS),
    ("year", 1970, 2199, []),
)
LOOKBACK_DAYS = 4 * 366  # how far back `previous_fire` looks (a cron that fires once in four years)


class ScheduleError(ValueError):
    """A schedule expression EventBridge would refuse, or one this platform does not evaluate."""


@dataclass(frozen=True)
class Schedule:
    """A parsed expression: a fixed period, or the allowed values of each cron field."""

    expression: str
    period: timedelta | None = None
    fields: tuple[frozenset[int] | None, ...] = ()  # None: any value (`*` or `?`)

    def previous_fire(self, now: datetime) -> datetime | None:
        """The latest time at or before `now` when a cron expression fires (None for a rate)."""
        if self.period is not None:
            return None
        minutes, hours, days, months, weekdays, years = self.fields
        moment = now.astimezone(UTC).replace(second=0, microsecond=0)
        for back in range(LOOKBACK_DAYS):
            day = (moment - timedelta(days=back)).date()
            weekday = (day.isoweekday() % 7) + 1  # SUN=1 .. SAT=7
            if not all(
                allowed is None or value in allowed
                for allowed, value in ((days, day.day), (months, day.month), (weekdays, weekday), (years, day.year))
            ):
                continue
            for hour in range(23 if back else moment.hour, -1, -1):
                if hours is not None and hour not in hours:
                    continue
                last_minute = moment.minute if back == 0 and hour == moment.hour else 59
                for minute in range(last_minute, -1, -1):
                    if minutes is None or minute in minutes:
                        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
        return None

    def due(self, since: datetime, now: datetime) -> bool:
        """Whether the expression fired after `since` and at or before `now`."""
        if self.period is not None:
            return now - since >= self.period
        fired = self.previous_fire(now)
        return fired is not None and fired > since


def _values(text: str, name: str, low: int, high: int, names: list[str]) -> frozenset[int] | None:
    if text in ("*", "?"):
        return None
    values: set[int] = set()
    for part in text.split(","):
        if any(mark in part for mark in ("L", "W", "#")) and part.upper() not in names:
            raise ScheduleError(f"cron {name} {part!r}: L, W and # are not supported here")
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span in ("*", "?"):
            first, last = low, high
        else:
            start, _, end = span.partition("-")
            first = _number(start, name, low, names)
            # `5/15` is every 15 from 5 on; `5` alone is just 5.
            last = _number(end, name, low, names) if end else (high if step_text else first)
        if not low <= first <= high or not low <= last <= high or step < 1:
            raise ScheduleError(f"cron {name} {part!r}: values lie in {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _number(text: str, name: str, low: int, names: list[str]) -> int:
    if text.upper() in names:
        return names.index(text.upper()) + low
    if not text.isdigit():
        raise ScheduleError(f"cron {name} {text!r} is not a number" + (f" or one of {names}" if names else ""))
    return int(text)


def parse_schedule(expression: str) -> Schedule:
    """Parse `rate(N unit)` or `cron(minutes hours day-of-month month day-of-week year)`.

    Raises
    ------
    ScheduleError
        Naming what is wrong: the form, a field, a value out of range, both day fields set.
    """
    rate = _RATE.match(expression)
    if rate:
        amount, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if amount < 1 or (amount == 1) != (rate.group(2) == unit):
            raise ScheduleError(f"{expression!r}: say `rate(1 {unit})` or `rate(N {unit}s)` with N > 1")
        return Schedule(expression, period=timedelta(seconds=amount * _UNITS[unit]))
    if not (expression.startswith("cron(") and expression.endswith(")")):
        raise ScheduleError(f"{expression!r}: a schedule is rate(N unit) or cron(6 fields)")
    parts = expression[5:-1].split()
    if len(parts) != len(_FIELDS):
        raise ScheduleError(f"{expression!r}: cron takes 6 fields (minutes hours day-of-month month day-of-week year)")
    if (parts[2] == "?") == (parts[4] == "?"):
        raise ScheduleError(f"{expression!r}: one of day-of-month and day-of-week must be `?`")
    fields = tuple(
        _values(text, name, low, high, names) for text, (name, low, high, names) in zip(parts, _FIELDS, strict=True)
    )
    return Schedule(expression, fields=fields)
