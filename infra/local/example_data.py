"""The bundled example: a synthetic churn dataset whose distribution can be shifted on purpose."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

EXAMPLE_SPEC = Path(__file__).resolve().parent / "example" / "churn.yaml"
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
