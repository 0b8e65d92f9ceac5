"""Batch scoring throughput: the scoring job's per-file work against pandas + scikit-learn on the same rows.

The churn example (RandomForest, 60 trees, 5 numeric + 2 categorical features) scores N rows held in
Parquet files of 250,000 rows, in this process, from local files (no S3: both sides read the same
bytes from memory):

  (b) batch:    `mlcore.batch.ChunkWriter` as the scoring job runs it: the spec's types, the API's row
                checks (bulk, and the API's validator on doubted rows), onnxruntime, Parquet predictions
                with model, version and row id;
  (c) baseline: pandas `read_parquet` -> the fitted scikit-learn pipeline's `predict` and
                `predict_proba` -> `to_parquet` of the predictions with a row id.

Run `.venv/bin/python bench/batch.py [--rows 10000000] [--runs 3]` (`make bench-batch`). A report, not
a test: it prints the median rows/s of each side, their spread, and the ratio b/c.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python")]

from infra.local.example_data import EXAMPLE_SPEC, churn_table  # noqa: E402
from mlcore.spec import load_spec  # noqa: E402

FILE_ROWS = 250_000
CORES = os.cpu_count() or 1  # both sides use every core: onnxruntime's threads, scikit-learn's n_jobs
TRAIN_ROWS = 5_000


def files(rows: int) -> list[bytes]:
    """N rows of churn features as Parquet files of FILE_ROWS rows (one file made, repeated: same bytes to both)."""
    spec = load_spec(EXAMPLE_SPEC.read_text())
    table = churn_table(min(rows, FILE_ROWS), seed=11).select(spec.feature_names)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    whole, rest = divmod(rows, FILE_ROWS)
    blobs = [sink.getvalue()] * whole
    if rest:
        sink = io.BytesIO()
        pq.write_table(table.slice(0, rest), sink)
        blobs.append(sink.getvalue())
    return blobs


def train() -> tuple[object, bytes, object]:
    from mlcore.data import enforce_contract, split_holdout
    from mlcore.serving import signature_of
    from mlcore.training import export_onnx, fit

    spec = load_spec(EXAMPLE_SPEC.read_text())
    clean, _ = enforce_contract(churn_table(TRAIN_ROWS, seed=3), spec)
    train_rows, _ = split_holdout(clean, spec)
    pipeline, classes = fit(spec, train_rows)
    pipeline.steps[-1][1].set_params(n_jobs=CORES)  # type: ignore[attr-defined]
    return spec, export_onnx(pipeline, spec), (pipeline, classes, signature_of(spec.features))


def batch_side(spec: object, onnx: bytes, signature: object, classes: object, blobs: list[bytes]) -> float:
    from mlcore.batch import ChunkWriter
    from mlcore.data import read_table
    from mlcore.serving import OnnxModel

    started = time.perf_counter()
    model = OnnxModel(onnx, signature, classes, threads=CORES)  # type: ignore[arg-type]
    writer = ChunkWriter(spec, pa.schema([]), model, 1)  # type: ignore[arg-type]
    scored = 0
    for i, blob in enumerate(blobs):
        scored += writer.score(read_table(blob, "f.parquet", spec), f"part-{i}.parquet")  # type: ignore[arg-type]
    writer.close()
    assert scored == sum(pq.ParquetFile(io.BytesIO(b)).metadata.num_rows for b in blobs)
    return time.perf_counter() - started


def baseline_side(pipeline: object, blobs: list[bytes]) -> float:
    import pandas as pd

    started = time.perf_counter()
    for i, blob in enumerate(blobs):
        frame = pd.read_parquet(io.BytesIO(blob))
        labels = pipeline.predict(frame)  # type: ignore[attr-defined]
        scores = pipeline.predict_proba(frame)[:, 1]  # type: ignore[attr-defined]
        out = pd.DataFrame(
            {"row_id": [f"part-{i}.parquet:{n}" for n in range(len(frame))], "prediction": labels, "score": scores}
        )
        out.to_parquet(io.BytesIO())
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"training the churn example on {TRAIN_ROWS} rows ...", file=sys.stderr, flush=True)
    spec, onnx, (pipeline, classes, signature) = train()
    blobs = files(args.rows)
    load = os.getloadavg()[0]
    times: dict[str, list[float]] = {"b": [], "c": []}
    for run in range(args.runs):
        times["b"].append(batch_side(spec, onnx, signature, classes, blobs))
        times["c"].append(baseline_side(pipeline, blobs))
        print(f"  run {run + 1}: b {times['b'][-1]:.2f} s, c {times['c'][-1]:.2f} s", file=sys.stderr, flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"batch scoring benchmark: {args.rows:,} rows in {len(blobs)} Parquet files, {args.runs} runs, {CORES} cores; "
        f"load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at end; peak RSS {peak:,.0f} MiB"
    )
    print(f"  {'path':<44} {'median s':>9} {'rows/s':>12} {'spread (min-max s)':>20}")
    rates = {}
    for key, label in (("b", "(b) batch scoring job (ChunkWriter)"), ("c", "(c) pandas + scikit-learn")):
        median = statistics.median(times[key])
        rates[key] = args.rows / median
        spread = f"{min(times[key]):.2f}-{max(times[key]):.2f}"
        print(f"  {label:<44} {median:>9.2f} {rates[key]:>12,.0f} {spread:>20}")
    ratios = sorted(c / b for b, c in zip(times["b"], times["c"], strict=True))
    print(f"  rows/s b/c: {rates['b'] / rates['c']:.2f}x (per run: {', '.join(f'{r:.2f}' for r in ratios)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
