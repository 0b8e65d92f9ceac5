"""Drift check against a stored profile vs Evidently's DataDriftPreset, on the same data in the same run.

200k reference rows and 200k current rows of 20 numeric and 3 categorical features, generated with fixed seeds;
shifts of known size are injected into known columns (one of 0.3 standard deviations, which plain decile PSI
misses). Each side runs in its own fresh process on parquet files written once:

  ours:      `mlcore.data.build_profile` on the reference (training time: timed and sized apart), then
             `check_drift` of the current rows against that profile (the check), in .venv;
  Evidently: `Report([DataDriftPreset()]).run(current, reference)` with the matching data definition and its
             default tests (normed Wasserstein / Jensen-Shannon, threshold 0.1, above 1000 rows), in
             bench/.venv-baselines (evidently needs pandas < 3).

Then `check_drift` on a 1M-row window (ours only, median of 3). Targets from the issue: the same drifted columns,
>= 100x less time for the check, <= half the peak memory, a 1M-row window in < 1 s. Data loading is excluded
from the check's time and reported apart.

Run `make bench-drift`, or `.venv/bin/python bench/drift.py [--rows N] [--window N] [--profile]`.
A report, not a test: it exits 0 unless it crashed.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from functools import partial
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
MIN_SPEEDUP, MAX_MEMORY_SHARE, MAX_WINDOW_S, PSI_THRESHOLD = 100.0, 0.5, 1.0, 0.1
CHECK_RUNS, WINDOW_RUNS = 5, 3
SEEDS = {"reference": 1, "current": 2, "window": 3}


# name -> (type, injected shift in the current data, or "" for none)
FEATURES: dict[str, tuple[str, str]] = {
    "n00_normal": ("numeric", ""),
    "n01_normal": ("numeric", "mean +0.3 sd"),
    "n02_lognormal": ("numeric", ""),
    "n03_uniform": ("numeric", ""),
    "n04_normal": ("numeric", "mean +1 sd"),
    "n05_exponential": ("numeric", ""),
    "n06_gamma": ("numeric", ""),
    "n07_uniform": ("numeric", "spread x1.5"),
    "n08_normal_nan": ("numeric", ""),
    "n09_beta": ("numeric", ""),
    "n10_lognormal": ("numeric", ""),
    "n11_student_t": ("numeric", ""),
    "n12_poisson": ("integer", "lambda 4 -> 5"),
    "n13_poisson": ("integer", ""),
    "n14_rating": ("integer", ""),
    "n15_binomial": ("integer", ""),
    "n16_bimodal": ("numeric", ""),
    "n17_weibull": ("numeric", ""),
    "n18_uniform_nan": ("numeric", ""),
    "n19_normal": ("numeric", ""),
    "c0_channel": ("categorical", ""),
    "c1_plan": ("categorical", "top level 35% -> 15%"),
    "c2_region": ("categorical", ""),
}
C0 = (["web", "app", "store", "phone", "partner"], [0.3, 0.25, 0.2, 0.15, 0.1])
C1_LEVELS = [f"plan_{i}" for i in range(8)]
C1_REFERENCE = np.array([0.35, 0.2, 0.12, 0.1, 0.08, 0.06, 0.05, 0.04])
C2_LEVELS = [f"region_{i:02d}" for i in range(30)]
C2 = 1 / np.arange(1, 31) ** 1.1


def _with_missing(rng: np.random.Generator, values: np.ndarray, share: float) -> np.ndarray:
    values = values.astype(np.float64)
    values[rng.random(values.size) < share] = np.nan
    return values


def _c1_current() -> np.ndarray:
    rest = C1_REFERENCE[1:] * (1 - 0.15) / C1_REFERENCE[1:].sum()
    return np.concatenate([[0.15], rest])


def generate(rows: int, seed: int, shifted: bool) -> pa.Table:
    """`rows` rows of the 23 features (and a prediction); `shifted` injects the known shifts."""
    rng = np.random.default_rng(seed)
    s = 1.0 if shifted else 0.0
    n = rows
    numeric = {
        "n00_normal": rng.normal(50, 10, n),
        "n01_normal": rng.normal(0 + 0.3 * s, 1, n),
        "n02_lognormal": rng.lognormal(3, 0.5, n),
        "n03_uniform": rng.uniform(0, 100, n),
        "n04_normal": rng.normal(100 + 15 * s, 15, n),
        "n05_exponential": rng.exponential(2, n),
        "n06_gamma": rng.gamma(2, 3, n),
        "n07_uniform": 5 + (rng.uniform(0, 10, n) - 5) * (1.5 if shifted else 1.0),
        "n08_normal_nan": _with_missing(rng, rng.normal(-5, 2, n), 0.01),
        "n09_beta": rng.beta(2, 5, n),
        "n10_lognormal": rng.lognormal(0, 1, n),
        "n11_student_t": rng.standard_t(5, n),
        "n12_poisson": rng.poisson(5 if shifted else 4, n).astype(np.float64),
        "n13_poisson": rng.poisson(20, n).astype(np.float64),
        "n14_rating": rng.choice(np.arange(1, 6), n, p=[0.1, 0.15, 0.3, 0.3, 0.15]).astype(np.float64),
        "n15_binomial": rng.binomial(30, 0.3, n).astype(np.float64),
        "n16_bimodal": np.where(rng.random(n) < 0.4, rng.normal(-2, 0.5, n), rng.normal(3, 1, n)),
        "n17_weibull": rng.weibull(1.5, n),
        "n18_uniform_nan": _with_missing(rng, rng.uniform(-1, 1, n), 0.01),
        "n19_normal": rng.normal(1000, 250, n),
    }
    c0 = np.asarray(C0[0], dtype=object)[rng.choice(len(C0[0]), n, p=C0[1])]
    c0[rng.random(n) < 0.005] = None
    c1 = np.asarray(C1_LEVELS, dtype=object)[rng.choice(8, n, p=_c1_current() if shifted else C1_REFERENCE)]
    c2 = np.asarray(C2_LEVELS, dtype=object)[rng.choice(30, n, p=C2 / C2.sum())]
    score = (numeric["n00_normal"] - 50) / 10 + (numeric["n19_normal"] - 1000) / 250 + rng.normal(0, 1, n)
    prediction = np.where(score > 0.5, "yes", "no").astype(object)
    arrays = {name: pa.array(values) for name, values in numeric.items()}
    arrays |= {"c0_channel": pa.array(c0, pa.string()), "c1_plan": pa.array(c1, pa.string())}
    arrays |= {"c2_region": pa.array(c2, pa.string()), "prediction": pa.array(prediction, pa.string())}
    return pa.table(arrays)


def drift_spec() -> Any:
    from mlcore.spec import parse_spec

    return parse_spec({
        "name": "drift-bench",
        "task": "classification",
        "target": "label",
        "features": [{"name": name, "type": kind} for name, (kind, _) in FEATURES.items()],
        "estimator": {"kind": "logistic_regression"},
        "metrics": {"primary": "accuracy"},
    })  # fmt: skip


def numpy_columns(table: pa.Table) -> tuple[dict[str, Any], Any]:
    """The columns as the monitor's drift check passes them (mlcore.monitoring.check._column): float64 with
    NaN for numbers, the Arrow string columns themselves for categories and predictions."""
    columns: dict[str, Any] = {}
    for name, (kind, _) in FEATURES.items():
        column = table.column(name)
        columns[name] = column if kind == "categorical" else column.to_numpy().astype(np.float64)
    return columns, table.column("prediction")


# ---------------------------------------------------------------- children (each in a fresh process)


def child_ours(data: Path) -> dict[str, Any]:
    from mlcore.data import build_profile
    from mlcore.monitoring import check_drift

    spec = drift_spec()
    start = time.perf_counter()
    reference, ref_predictions = numpy_columns(pq.read_table(data / "reference.parquet"))
    load_reference = time.perf_counter() - start
    profile, profile_s, profile_mib, _ = measure(partial(build_profile, spec, reference, ref_predictions))
    encoded = json.dumps(profile).encode()
    (data / "profile.json").write_bytes(encoded)
    del reference, ref_predictions
    start = time.perf_counter()
    current, predictions = numpy_columns(pq.read_table(data / "current.parquet"))
    load = time.perf_counter() - start
    profile = json.loads(encoded)
    base = rss_mib()
    report, first, peak, how = measure(lambda: check_drift(spec, 1, profile, current, predictions))
    times = [first] + [
        measure(lambda: check_drift(spec, 1, profile, current, predictions))[1] for _ in range(1, CHECK_RUNS)
    ]
    return {
        "load_s": load,
        "load_reference_s": load_reference,
        "profile_s": profile_s,
        "profile_peak_mib": profile_mib,
        "profile_kb": len(encoded) / 1000,
        "check_s": statistics.median(times),
        "check_runs": times,
        "peak_mib": peak,
        "peak_method": how,
        "base_mib": base,
        "features": {
            f.feature: {"method": f.method, "score": f.score, "drifted": f.drifted, "psi": f.psi}
            for f in report.features
        },
        "prediction": {"method": report.prediction.method, "score": report.prediction.score}
        if report.prediction
        else {},
        "versions": {"numpy": np.__version__, "pyarrow": pa.__version__},
    }


def child_evidently(data: Path) -> dict[str, Any]:
    import evidently
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    features = list(FEATURES)
    definition = DataDefinition(
        numerical_columns=[n for n, (kind, _) in FEATURES.items() if kind != "categorical"],
        categorical_columns=[n for n, (kind, _) in FEATURES.items() if kind == "categorical"],
    )
    start = time.perf_counter()
    reference = pd.read_parquet(data / "reference.parquet", columns=features)
    current = pd.read_parquet(data / "current.parquet", columns=features)
    reference_ds = Dataset.from_pandas(reference, data_definition=definition)
    current_ds = Dataset.from_pandas(current, data_definition=definition)
    load = time.perf_counter() - start
    base = rss_mib()
    snapshot, elapsed, peak, how = measure(lambda: Report([DataDriftPreset()]).run(current_ds, reference_ds))
    results = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not config["type"].endswith(":ValueDrift"):
            continue
        score, threshold = float(metric["value"]), float(config["threshold"])
        # p-value tests flag below the threshold, distances at or above it (evidently.legacy.calculations.stattests)
        drifted = score < threshold if "p_value" in config["method"] else score >= threshold
        results[config["column"]] = {"method": config["method"], "score": score, "drifted": drifted}
    return {
        "load_s": load,
        "check_s": elapsed,
        "peak_mib": peak,
        "peak_method": how,
        "base_mib": base,
        "features": results,
        "versions": {"evidently": evidently.__version__, "pandas": pd.__version__, "numpy": np.__version__},
    }


def child_window(data: Path, profile_top: int) -> dict[str, Any]:
    from mlcore.monitoring import check_drift

    spec = drift_spec()
    profile = json.loads((data / "profile.json").read_bytes())
    start = time.perf_counter()
    table = pq.read_table(data / "window.parquet")
    columns, predictions = numpy_columns(table)
    load = time.perf_counter() - start
    report, first, peak, how = measure(lambda: check_drift(spec, 1, profile, columns, predictions))
    times = [first] + [
        measure(lambda: check_drift(spec, 1, profile, columns, predictions))[1] for _ in range(1, WINDOW_RUNS)
    ]
    result: dict[str, Any] = {
        "rows": table.num_rows,
        "load_s": load,
        "check_s": statistics.median(times),
        "check_runs": times,
        "peak_mib": peak,
        "peak_method": how,
        "drifted": report.drifted_features,
    }
    if profile_top:
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(check_drift, spec, 1, profile, columns, predictions)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(profile_top)
        result["profile"] = out.getvalue()
    return result


# ---------------------------------------------------------------- parent


def flag(drifted: bool) -> str:
    return "DRIFT" if drifted else "-"


def report(rows: int, ours: dict[str, Any], theirs: dict[str, Any], window: dict[str, Any], generate_s: float) -> None:
    expected = {name for name, (_, shift) in FEATURES.items() if shift}
    print(f"drift check: {rows:,} reference vs {rows:,} current rows, 20 numeric + 3 categorical features")
    print(f"python {platform.python_version()}, {ours['versions']} | baseline {theirs['versions']}")
    print(f"data generated and written to parquet once in {generate_s:.1f} s\n")
    head = f"{'column':<16}{'injected':<22}{'ours method':<20}{'score':>8} {'flag':<6}"
    head += f"{'Evidently method':<32}{'score':>8} {'flag':<6}{'PSI':>8} {'PSI>0.1':<7}"
    print(head)
    print("-" * len(head))
    for name, (_, shift) in FEATURES.items():
        o, t = (
            ours["features"][name],
            theirs["features"].get(name, {"method": "(absent)", "score": float("nan"), "drifted": False}),
        )
        line = f"{name:<16}{shift or '-':<22}{o['method']:<20}{o['score']:>8.4f} {flag(o['drifted']):<6}"
        line += f"{t['method']:<32}{t['score']:>8.4f} {flag(t['drifted']):<6}"
        line += f"{o['psi']:>8.4f} {flag(o['psi'] > PSI_THRESHOLD):<7}"
        print(line)
    if ours["prediction"]:
        print(
            f"{'(prediction)':<16}{'-':<22}{ours['prediction']['method']:<20}"
            f"{ours['prediction']['score']:>8.4f}  (ours only)"
        )
    flagged_ours = {n for n, f in ours["features"].items() if f["drifted"]}
    flagged_theirs = {n for n, f in theirs["features"].items() if f["drifted"]}
    flagged_psi = {n for n, f in ours["features"].items() if f["psi"] > PSI_THRESHOLD}
    print()
    for who, flagged in (("ours", flagged_ours), ("Evidently", flagged_theirs), ("plain PSI > 0.1", flagged_psi)):
        missed, false = sorted(expected - flagged), sorted(flagged - expected)
        print(f"{who:<16} missed {missed or 'none'}, false positives {false or 'none'}")
    same = flagged_ours == flagged_theirs == expected
    print(f"{'same drifted columns as Evidently and as injected (no miss, no false positive)':<84}{verdict(same)}")

    speedup = theirs["check_s"] / ours["check_s"]
    share = ours["peak_mib"] / theirs["peak_mib"] if theirs["peak_mib"] else float("inf")
    print(f"\n{'':<36}{'ours':>12}{'Evidently':>12}{'ratio':>10}  target")
    print(f"{'load parquet (excluded)':<36}{ours['load_s']:>11.2f}s{theirs['load_s']:>11.2f}s")
    runs = f"median of {len(ours['check_runs'])}"
    print(f"{'check (' + runs + ' / 1 run)':<36}{ours['check_s']:>11.3f}s{theirs['check_s']:>11.2f}s{speedup:>9.0f}x"
          f"  >= {MIN_SPEEDUP:.0f}x  {verdict(speedup >= MIN_SPEEDUP)}")  # fmt: skip
    print(f"{'peak memory of the check':<36}{ours['peak_mib']:>9.0f}MiB{theirs['peak_mib']:>9.0f}MiB{share:>10.3f}"
          f"  <= {MAX_MEMORY_SHARE}  {verdict(share <= MAX_MEMORY_SHARE)}")  # fmt: skip
    print(f"{'RSS before the check (data loaded)':<36}{ours['base_mib']:>9.0f}MiB{theirs['base_mib']:>9.0f}MiB")
    print(f"memory: {METHOD} (read with {ours['peak_method']} / {theirs['peak_method']})")
    print(f"profile (training time, ours): built in {ours['profile_s']:.2f} s from {rows:,} rows "
          f"(+{ours['profile_peak_mib']:.0f} MiB peak), {ours['profile_kb']:.1f} KB as JSON")  # fmt: skip

    runs = ", ".join(f"{t:.3f}" for t in window["check_runs"])
    print(f"\n1M-row window (ours): {window['rows']:,} rows, check_drift median of {len(window['check_runs'])} "
          f"{window['check_s']:.3f} s ({runs}), +{window['peak_mib']:.0f} MiB peak, load {window['load_s']:.2f} s "
          f"excluded  target < {MAX_WINDOW_S:.0f} s  {verdict(window['check_s'] < MAX_WINDOW_S)}")  # fmt: skip
    print(f"  drifted in the window: {window['drifted']}")
    if "profile" in window:
        print(window["profile"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="reference rows and current rows")
    parser.add_argument("--window", type=int, default=1_000_000, help="rows of the window checked alone")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile the window check, top N")
    parser.add_argument("--child", choices=["ours", "evidently", "window"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        children = {"ours": child_ours, "evidently": child_evidently}
        result = child_window(args.data, args.profile) if args.child == "window" else children[args.child](args.data)
        print(json.dumps(result))
        return 0
    if not BASELINE_PYTHON.exists():
        print("bench/.venv-baselines is missing: run `make bench-venv`", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        data = Path(tmp)
        start = time.perf_counter()
        pq.write_table(generate(args.rows, SEEDS["reference"], shifted=False), data / "reference.parquet")
        pq.write_table(generate(args.rows, SEEDS["current"], shifted=True), data / "current.parquet")
        pq.write_table(generate(args.window, SEEDS["window"], shifted=True), data / "window.parquet")
        generate_s = time.perf_counter() - start
        ours = run_child(__file__, OURS_PYTHON, "ours", data)
        theirs = run_child(__file__, BASELINE_PYTHON, "evidently", data)
        window = run_child(__file__, OURS_PYTHON, "window", data, ["--profile", str(args.profile)])
    report(args.rows, ours, theirs, window, generate_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
