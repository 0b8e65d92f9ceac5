"""Data contract check vs pandera's lazy validation of the same rules, on the same data in the same run.

1M rows x 23 feature columns (20 numeric with min/max, four of them integer, three nullable; 3 categorical with
category lists) and a target, generated with fixed seeds, with a known number of violations injected per rule:
nulls in non-nullable columns, values below min and above max, non-integers, unknown categories. Each side runs
in its own fresh process on one parquet file written once:

  ours:    `mlcore.contract.check_contract(table, spec)` on the Arrow table, in .venv;
  pandera: a `DataFrameSchema` with the same rules (Check.ge / Check.le, an integer check, Check.isin,
           nullable) and `schema.validate(df, lazy=True)`, counting `SchemaErrors.failure_cases` per column
           and check, in bench/.venv-baselines.

Targets from the issue: >= 10x faster, identical counts. Loading is excluded from the time and shown apart.
Run `make bench-validation`, or `.venv/bin/python bench/validation.py [--rows N]`. A report, not a test: it
exits 0 unless it crashed.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(ROOT / "layers" / "core" / "python")]

from memory import METHOD, measure, rss_mib, run_child, verdict  # noqa: E402

OURS_PYTHON = ROOT / ".venv" / "bin" / "python"
BASELINE_PYTHON = BENCH / ".venv-baselines" / "bin" / "python"
MIN_SPEEDUP, OURS_RUNS, SEED = 10.0, 3, 7

# The contract: name -> type, nullable, min, max, categories.
NUMERIC: dict[str, tuple[str, bool, float, float]] = {
    **{f"v{i:02d}": ("numeric", False, -1e6, 1e6) for i in range(20)},
    "v00": ("numeric", False, 0, 100),
    "v01": ("numeric", False, 0, 1),
    "v02": ("numeric", False, 0, 1000),
    "v03": ("numeric", False, -10, 10),
    "v08": ("numeric", True, -50, 50),
    "v09": ("numeric", True, 0, 10),
    "v12": ("integer", False, 0, 50),
    "v13": ("integer", False, 0, 100),
    "v14": ("integer", True, 0, 1000),
    "v15": ("integer", False, 0, 20),
}
CATEGORICAL: dict[str, tuple[bool, list[str]]] = {
    "c0": (False, ["web", "app", "store", "phone", "partner"]),
    "c1": (False, [f"plan_{i}" for i in range(8)]),
    "c2": (True, [f"region_{i:02d}" for i in range(30)]),
}
# Injected violations: (column, rule) -> rows. Nullable columns also get nulls, which break no rule.
INJECTED: dict[tuple[str, str], int] = {
    ("v00", "not_null"): 1000,
    ("v01", "min"): 700,
    ("v02", "max"): 300,
    ("v03", "min"): 200,
    ("v03", "max"): 250,
    ("v09", "max"): 120,
    ("v12", "integer"): 400,
    ("v13", "integer"): 150,
    ("v13", "max"): 100,
    ("v15", "min"): 60,
    ("c0", "not_null"): 500,
    ("c1", "categories"): 800,
    ("c2", "categories"): 90,
}
NULL_SHARE = {"v08": 0.05, "v09": 0.02, "v14": 0.01, "c2": 0.02}
RULES = ("not_null", "min", "max", "integer", "categories")


def contract_spec() -> Any:
    from mlcore.spec import parse_spec

    features = [
        {"name": name, "type": kind, "nullable": nullable, "min": low, "max": high}
        for name, (kind, nullable, low, high) in NUMERIC.items()
    ] + [
        {"name": name, "type": "categorical", "nullable": nullable, "categories": categories}
        for name, (nullable, categories) in CATEGORICAL.items()
    ]
    return parse_spec({
        "name": "validation-bench",
        "task": "classification",
        "target": "label",
        "features": features,
        "estimator": {"kind": "logistic_regression"},
        "metrics": {"primary": "accuracy"},
    })  # fmt: skip


def _clean_numeric(rng: np.random.Generator, kind: str, low: float, high: float, n: int) -> np.ndarray:
    if kind == "integer":
        return np.minimum(rng.poisson(min(high, 1000) / 3, n), high).astype(np.float64)
    span = min(high - low, 1e4)
    middle = (low + high) / 2
    return np.clip(rng.normal(middle, span / 6, n), low, high)


def _numeric_column(rng: np.random.Generator, name: str, rows: int) -> pa.Array:
    kind, _, low, high = NUMERIC[name]
    values = _clean_numeric(rng, kind, low, high, rows)
    wanted = {rule: n for (column, rule), n in INJECTED.items() if column == name}
    chosen = rng.choice(rows, sum(wanted.values()), replace=False)
    nulls = np.zeros(rows, dtype=bool)
    for rule, where in zip(wanted, np.split(chosen, np.cumsum(list(wanted.values())))[:-1], strict=True):
        if rule == "not_null":
            nulls[where] = True
        elif rule == "min":
            values[where] = low - 1 - rng.integers(0, 5, where.size)
        elif rule == "max":
            values[where] = high + 1 + rng.integers(0, 5, where.size)
        elif rule == "integer":
            values[where] = np.floor(values[where]) + 0.5
    if name in NULL_SHARE:
        nulls[np.setdiff1d(np.flatnonzero(rng.random(rows) < NULL_SHARE[name]), chosen)] = True
    return pa.array(values, mask=nulls)


def _categorical_column(rng: np.random.Generator, name: str, rows: int) -> pa.Array:
    categories = CATEGORICAL[name][1]
    values = np.asarray(categories, dtype=object)[rng.integers(0, len(categories), rows)]
    wanted = {rule: n for (column, rule), n in INJECTED.items() if column == name}
    chosen = rng.choice(rows, sum(wanted.values()), replace=False)
    for rule, where in zip(wanted, np.split(chosen, np.cumsum(list(wanted.values())))[:-1], strict=True):
        values[where] = None if rule == "not_null" else "unknown_value"
    if name in NULL_SHARE:
        values[np.setdiff1d(np.flatnonzero(rng.random(rows) < NULL_SHARE[name]), chosen)] = None
    return pa.array(values, pa.string())


def generate(rows: int, seed: int) -> pa.Table:
    """The dataset, with exactly INJECTED violations (distinct rows per column) and NULL_SHARE harmless nulls."""
    rng = np.random.default_rng(seed)
    arrays = {name: _numeric_column(rng, name, rows) for name in NUMERIC}
    arrays |= {name: _categorical_column(rng, name, rows) for name in CATEGORICAL}
    arrays["label"] = pa.array(np.where(rng.random(rows) < 0.3, "yes", "no"), pa.string())
    return pa.table(arrays)


# ---------------------------------------------------------------- children (each in a fresh process)


def child_ours(data: Path) -> dict[str, Any]:
    from mlcore.data import check_contract

    spec = contract_spec()
    start = time.perf_counter()
    table = pq.read_table(data / "data.parquet")
    load = time.perf_counter() - start
    base = rss_mib()
    (_, report), first, peak, how = measure(lambda: check_contract(table, spec))
    times = [first] + [measure(lambda: check_contract(table, spec))[1] for _ in range(1, OURS_RUNS)]
    counts: dict[str, int] = {}
    for failure in report.failures:
        rule = failure.check
        if rule == "range":
            rule = "min" if "below min" in failure.message else "max"
        key = f"{failure.column}|{rule}"
        counts[key] = counts.get(key, 0) + failure.failed_rows
    return {
        "load_s": load,
        "check_s": statistics.median(times),
        "check_runs": times,
        "peak_mib": peak,
        "peak_method": how,
        "base_mib": base,
        "counts": counts,
        "versions": {"pyarrow": pa.__version__},
    }


def pandera_schema() -> Any:
    import pandera.pandas as pda

    def integer(series: Any) -> Any:
        return series == np.floor(series)

    columns = {}
    for name, (kind, nullable, low, high) in NUMERIC.items():
        checks = [pda.Check.ge(low), pda.Check.le(high)]
        if kind == "integer":
            checks.insert(0, pda.Check(integer, name="integer"))
        columns[name] = pda.Column(float, checks=checks, nullable=nullable)
    for name, (nullable, categories) in CATEGORICAL.items():
        columns[name] = pda.Column(str, checks=pda.Check.isin(categories), nullable=nullable)
    columns["label"] = pda.Column(str, nullable=False)
    return pda.DataFrameSchema(columns)


def _pandera_rule(check: str) -> str:
    for prefix, rule in (
        ("not_nullable", "not_null"),
        ("greater_than_or_equal_to", "min"),
        ("less_than_or_equal_to", "max"),
        ("isin", "categories"),
        ("integer", "integer"),
    ):
        if check.startswith(prefix):
            return rule
    return check


def child_pandera(data: Path) -> dict[str, Any]:
    import pandas as pd
    import pandera
    from pandera.errors import SchemaErrors

    schema = pandera_schema()
    start = time.perf_counter()
    frame = pd.read_parquet(data / "data.parquet")
    load = time.perf_counter() - start
    base = rss_mib()

    def validate() -> Any:
        try:
            schema.validate(frame, lazy=True)
        except SchemaErrors as errors:
            return errors.failure_cases
        return None

    cases, elapsed, peak, how = measure(validate)
    counts: dict[str, int] = {}
    if cases is not None:
        for (column, check), size in cases.groupby(["column", "check"]).size().items():
            key = f"{column}|{_pandera_rule(str(check))}"
            counts[key] = counts.get(key, 0) + int(size)
    return {
        "load_s": load,
        "check_s": elapsed,
        "peak_mib": peak,
        "peak_method": how,
        "base_mib": base,
        "counts": counts,
        "versions": {"pandera": pandera.__version__, "pandas": pd.__version__},
    }


# ---------------------------------------------------------------- parent


def report(rows: int, ours: dict[str, Any], theirs: dict[str, Any], generate_s: float) -> None:
    print(f"data contract: {rows:,} rows x 23 feature columns + target, one parquet file written once")
    print(f"python {platform.python_version()}, {ours['versions']} | baseline {theirs['versions']}")
    print(f"data generated in {generate_s:.1f} s\n")
    injected = {f"{column}|{rule}": n for (column, rule), n in INJECTED.items()}
    keys = sorted(set(injected) | set(ours["counts"]) | set(theirs["counts"]))
    head = f"{'column':<8}{'check':<12}{'injected':>10}{'ours':>10}{'pandera':>10}  "
    print(head)
    print("-" * len(head))
    for key in keys:
        column, rule = key.split("|")
        n, o, t = injected.get(key, 0), ours["counts"].get(key, 0), theirs["counts"].get(key, 0)
        mark = "" if n == o == t else "  <- differs"
        print(f"{column:<8}{rule:<12}{n:>10,}{o:>10,}{t:>10,}{mark}")
    total = [sum(d.values()) for d in (injected, ours["counts"], theirs["counts"])]
    print(f"{'total':<20}{total[0]:>10,}{total[1]:>10,}{total[2]:>10,}")
    same = ours["counts"] == theirs["counts"]
    print(f"\n{'identical counts per (column, check), ours vs pandera':<60}{verdict(same)}")
    print(f"{'counts equal to the injected violations (ours / pandera)':<60}"
          f"{verdict(ours['counts'] == injected)} / {verdict(theirs['counts'] == injected)}")  # fmt: skip

    speedup = theirs["check_s"] / ours["check_s"]
    print(f"\n{'':<36}{'ours':>12}{'pandera':>12}{'ratio':>10}  target")
    print(f"{'load parquet (excluded)':<36}{ours['load_s']:>11.2f}s{theirs['load_s']:>11.2f}s")
    label = f"check (median of {len(ours['check_runs'])} / 1 run)"
    print(f"{label:<36}{ours['check_s']:>11.3f}s{theirs['check_s']:>11.2f}s{speedup:>9.1f}x"
          f"  >= {MIN_SPEEDUP:.0f}x  {verdict(speedup >= MIN_SPEEDUP)}")  # fmt: skip
    share = ours["peak_mib"] / theirs["peak_mib"] if theirs["peak_mib"] else float("inf")
    print(f"{'peak memory of the check':<36}{ours['peak_mib']:>9.0f}MiB{theirs['peak_mib']:>9.0f}MiB{share:>10.3f}")
    print(f"{'RSS before the check (data loaded)':<36}{ours['base_mib']:>9.0f}MiB{theirs['base_mib']:>9.0f}MiB")
    print(f"memory: {METHOD} (read with {ours['peak_method']} / {theirs['peak_method']})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", choices=["ours", "pandera"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = child_ours(args.data) if args.child == "ours" else child_pandera(args.data)
        print(json.dumps(result))
        return 0
    if not BASELINE_PYTHON.exists():
        print("bench/.venv-baselines is missing: run `make bench-venv`", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-validation-") as tmp:
        data = Path(tmp)
        start = time.perf_counter()
        pq.write_table(generate(args.rows, SEED), data / "data.parquet")
        generate_s = time.perf_counter() - start
        ours = run_child(__file__, OURS_PYTHON, "ours", data)
        theirs = run_child(__file__, BASELINE_PYTHON, "pandera", data)
    report(args.rows, ours, theirs, generate_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
