"""The bundled example: a synthetic churn dataset whose distribution can be shifted on purpose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

EXAMPLE = Path(__file__).resolve().parent / "example"
EXAMPLE_SPEC = EXAMPLE / "churn.yaml"
FRAUD_SPEC, CARD_VIEW = EXAMPLE / "fraud.yaml", EXAMPLE / "card-activity.yaml"
MERCHANTS = np.array(["grocery", "travel", "electronics", "online"])
PLANS = np.array(["basic", "standard", "premium"])
REGIONS = np.array(["north", "south", "east", "west"])


def churn_features(rows: int, seed: int, *, drifted: bool = False) -> dict[str, np.ndarray]:
    """Feature columns; `drifted` raises prices, shortens tenure and moves customers to the basic plan."""
    rng = np.random.default_rng(seed)
    plan_p = [0.65, 0.25, 0.10] if drifted else [0.35, 0.40, 0.25]
    plan = rng.choice(PLANS, size=rows, p=plan_p)
    tenure = rng.gamma(2.0, 6.0 if drifted else 12.0, rows).clip(0, 120).round()
    charges = (rng.normal(95.0 if drifted else 65.0, 18.0, rows) + (plan == "premium") * 20).clip(5, 480)
    usage = rng.lognormal(2.5, 0.6, rows)
    usage[rng.random(rows) < 0.03] = np.nan
    return {
        "tenure_months": tenure,
        "monthly_charges": charges.round(2),
        "support_calls": rng.poisson(1.5, rows).clip(0, 50).astype(float),
        "age": rng.integers(18, 90, rows).astype(float),
        "data_usage_gb": usage.round(2),
        "plan": plan,
        "region": rng.choice(REGIONS, size=rows),
    }


def churn_labels(features: dict[str, np.ndarray], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    logit = (
        -1.0
        - 0.06 * features["tenure_months"]
        + 0.035 * (features["monthly_charges"] - 65)
        + 0.45 * features["support_calls"]
        + 0.6 * (features["plan"] == "basic")
        - 0.4 * (features["plan"] == "premium")
    )
    return np.where(rng.random(len(logit)) < 1 / (1 + np.exp(-logit)), "yes", "no")


def churn_table(rows: int, seed: int, *, drifted: bool = False) -> pa.Table:
    """A labelled dataset as an Arrow table (the target column is `churned`)."""
    features = churn_features(rows, seed, drifted=drifted)
    return pa.table({**features, "churned": churn_labels(features, seed)})


def churn_instances(rows: int, seed: int, *, drifted: bool = False) -> list[dict[str, object]]:
    """Prediction request records (JSON-ready: NaN becomes null)."""
    features = churn_features(rows, seed, drifted=drifted)
    names = list(features)
    records = []
    for i in range(rows):
        record: dict[str, object] = {}
        for name in names:
            value = features[name][i]
            if isinstance(value, str | np.str_):
                record[name] = str(value)
            else:
                record[name] = None if np.isnan(value) else float(value)
        records.append(record)
    return records


def card_activity(cards: int, days: int, end: datetime, seed: int) -> tuple[pa.Table, np.ndarray]:
    """The card-activity view's rows: every card's aggregates every 6 hours until `end`, and each card's risk.

    A risky card transacts more and spends more, more so over time; the view is what was known at each moment.
    """
    rng = np.random.default_rng(seed)
    risk = rng.beta(1.2, 5.0, cards)
    steps = days * 4
    end = end.astimezone(UTC).replace(tzinfo=None)  # numpy keeps no zone: UTC by convention
    times = np.array([end - timedelta(hours=6 * (steps - 1 - i)) for i in range(steps)], dtype="datetime64[us]")
    card = np.repeat(np.array([f"c{i:05d}" for i in range(cards)]), steps)
    level = np.repeat(risk, steps) * (0.5 + np.tile(np.linspace(0, 1, steps), cards))
    count = rng.poisson(1.0 + 9.0 * level)
    mean = rng.lognormal(3.2 + 1.2 * level, 0.3)
    mean[rng.random(mean.size) < 0.02] = np.nan
    table = pa.table(
        {
            "card_id": card,
            "event_time": pa.array(np.tile(times, cards), pa.timestamp("us", tz="UTC")),
            "tx_count_24h": count.astype(float),
            "amount_mean_7d": pa.array(mean.round(2), from_pandas=True),
        }
    )
    return table, risk


def card_transactions(view: pa.Table, rows: int, seed: int) -> pa.Table:
    """Labelled transactions between the view's first and last times: fraud follows what the view knew then."""
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.integers(0, view.num_rows, rows))
    known = view.take(pa.array(picks))
    times = known.column("event_time").to_numpy() + rng.integers(0, 6 * 3600 * 10**6, rows).astype("timedelta64[us]")
    count = known.column("tx_count_24h").to_numpy()
    mean = np.nan_to_num(known.column("amount_mean_7d").to_numpy(zero_copy_only=False), nan=30.0)
    amount = rng.lognormal(3.3, 0.8, rows).round(2)
    merchant = rng.choice(MERCHANTS, size=rows, p=[0.4, 0.2, 0.2, 0.2])
    logit = -4.0 + 0.35 * count + 0.02 * (mean - 30) + 0.004 * amount + 0.8 * (merchant == "online")
    fraud = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pa.table(
        {
            "card_id": known.column("card_id"),
            "event_time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "amount": amount,
            "merchant_category": merchant,
            "is_fraud": np.where(fraud, "yes", "no"),
        }
    )
