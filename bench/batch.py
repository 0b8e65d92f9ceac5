"""Batch scoring throughput: the scoring job's per-file work against pandas + scikit-learn on the same rows.

The churn example (RandomForest, 60 trees, 5 numeric + 2 categorical features) scores N rows held in
Parquet files of 250,000 rows, in this process, from local files (no S3: both sides read the same
files from local disk and write their predictions to it):

  (b) batch:    `mlcore.batch.ChunkWriter` as the scoring job runs it: each file read a batch of rows at a
                time, the spec's types, the API's row checks (bulk, and the API's validator on doubted
                rows), onnxruntime, Parquet predictions with model, version and row id;
  (c) baseline: pandas `read_parquet` -> the fitted scikit-learn pipeline's `predict` and
                `predict_proba` -> `to_parquet` of the predictions with a row id.

Then the job's memory: the whole `score_chunk` (download, score, upload) in a fresh process per size, against
a moto server in another process (as the local target's Batch hook runs a job: the embedded AWS's own copies
of the objects are not counted), on one Parquet file of M rows: the resident memory the call adds at its
peak, against the size of the file's rows decoded (what reading the file whole would hold before scoring).

Run `.venv/bin/python bench/batch.py [--rows 10000000] [--runs 3] [--memory-rows 1000000 4000000]`
(`make bench-batch`). A report, not a test: it prints the median rows/s of each side, their spread, the
ratio b/c, and the memory figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
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


def write_file(path: str, rows: int, spec: object) -> None:
    """N rows of churn features as one Parquet file (a table of up to FILE_ROWS rows, repeated)."""
    table = churn_table(min(rows, FILE_ROWS), seed=11).select(spec.feature_names)  # type: ignore[attr-defined]
    with pq.ParquetWriter(path, table.schema) as writer:
        for start in range(0, rows, FILE_ROWS):
            writer.write_table(table.slice(0, min(FILE_ROWS, rows - start)))


def files(rows: int, folder: str) -> list[str]:
    """N rows of churn features as Parquet files of FILE_ROWS rows, on local disk."""
    spec = load_spec(EXAMPLE_SPEC.read_text())
    paths = []
    for i, start in enumerate(range(0, rows, FILE_ROWS)):
        paths.append(os.path.join(folder, f"part-{i}.parquet"))
        write_file(paths[-1], min(FILE_ROWS, rows - start), spec)
    return paths


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


def batch_side(spec: object, onnx: bytes, signature: object, classes: object, paths: list[str]) -> float:
    from mlcore.batch import ChunkWriter
    from mlcore.catalog import limits
    from mlcore.data import iter_file
    from mlcore.serving import OnnxModel

    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        model = OnnxModel(onnx, signature, classes, threads=CORES)  # type: ignore[arg-type]
        writer = ChunkWriter(spec, pa.schema([]), model, 1, out)  # type: ignore[arg-type]
        scored = 0
        for path in paths:
            relative, first_row = os.path.basename(path), 0
            for table in iter_file(path, path, relative, spec, limits.READ_BATCH_ROWS):  # type: ignore[arg-type]
                scored += writer.score(table, relative, first_row)
                first_row += table.num_rows
        writer.close()
        elapsed = time.perf_counter() - started
    assert scored == sum(pq.ParquetFile(path).metadata.num_rows for path in paths)
    return elapsed


def baseline_side(pipeline: object, paths: list[str]) -> float:
    import pandas as pd

    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        for path in paths:
            frame = pd.read_parquet(path)
            labels = pipeline.predict(frame)  # type: ignore[attr-defined]
            scores = pipeline.predict_proba(frame)[:, 1]  # type: ignore[attr-defined]
            name = os.path.basename(path)
            out_frame = pd.DataFrame(
                {"row_id": [f"{name}:{n}" for n in range(len(frame))], "prediction": labels, "score": scores}
            )
            out_frame.to_parquet(os.path.join(out, name))
        return time.perf_counter() - started


# -- the job's memory ------------------------------------------------------------------------------------------


def resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


class PeakSampler(threading.Thread):
    """The highest resident memory seen, sampled every 2 ms while a call runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.done = resident_mib(), threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.002):
            self.peak = max(self.peak, resident_mib())


def memory_child(rows: int) -> dict[str, float]:
    """In this (fresh) process: the churn champion on the moto server at AWS_ENDPOINT_URL, one input file of
    `rows` rows, one chunk scored."""
    import boto3
    import serving  # the serving bench's registration of a champion on moto

    from mlcore.batch import plan_batch, score_chunk
    from mlcore.catalog import BatchRequest, PlanBatchRequest
    from mlcore.registry import Registry
    from mlcore.storage import ObjectStore

    spec, onnx, (pipeline, classes, _) = train()
    with tempfile.TemporaryDirectory() as folder:
        dynamodb, s3 = boto3.client("dynamodb", region_name="us-east-1"), boto3.client("s3", region_name="us-east-1")
        serving.create_resources(dynamodb, s3)
        model = serving.Model("churn", "", spec, pipeline, onnx, classes, [])  # type: ignore[arg-type]
        serving.register(dynamodb, s3, model, "churn", 0.0)
        s3.create_bucket(Bucket="mlops-data")
        data, registry = ObjectStore("mlops-data", s3), Registry(serving.TABLE, dynamodb)
        path = os.path.join(folder, "in.parquet")
        write_file(path, rows, spec)
        data.upload("in/part-0.parquet", path)
        # the rows as Arrow would hold them read whole: a FILE_ROWS table's size, scaled (not read: freed pages
        # would stay resident and hide what the job adds)
        decoded = churn_table(FILE_ROWS, seed=11).select(spec.feature_names).nbytes * rows / FILE_ROWS / 2**20
        request = BatchRequest(model_name="churn", input=data.uri("in/"), output=data.uri("out/"))
        plan = plan_batch(PlanBatchRequest(request=request, batch_id="bench"), registry=registry, data=data)
        artifacts = ObjectStore(serving.ARTIFACTS_BUCKET, s3)
        sampler = PeakSampler()
        before = sampler.peak
        sampler.start()
        started = time.perf_counter()
        result = score_chunk(plan.plan_key, "00000", registry=registry, artifacts=artifacts, data=data)
        elapsed = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
    assert result.scored == rows, result
    return {"rows": rows, "added_mib": sampler.peak - before, "decoded_mib": decoded, "seconds": elapsed}


def wait_for_port(port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def memory_report(sizes: list[int]) -> None:
    print("  the scoring job's memory: score_chunk on the embedded AWS, one Parquet file, a fresh process per size")
    print(f"  {'rows':>12} {'peak added MiB':>15} {'rows decoded MiB':>17} {'seconds':>8} {'rows/s':>10}")
    import serving

    for rows in sizes:
        print(f"  memory: {rows:,} rows ...", file=sys.stderr, flush=True)
        port = serving.free_port()
        server = subprocess.Popen(  # a fresh embedded AWS per size
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        env = {**os.environ, **serving.FAKE_AWS, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
        try:
            wait_for_port(port)
            done = subprocess.run(
                [sys.executable, __file__, "--memory-child", str(rows)],
                capture_output=True,
                text=True,
                check=False,
                env=env,
            )
        finally:
            server.terminate()
            server.wait()
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"the memory child failed ({done.returncode}):\n{done.stderr[-3000:]}")
        figures = json.loads(lines[-1])
        print(
            f"  {rows:>12,} {figures['added_mib']:>15,.0f} {figures['decoded_mib']:>17,.0f} "
            f"{figures['seconds']:>8.1f} {rows / figures['seconds']:>10,.0f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--memory-rows", type=int, nargs="*", default=[1_000_000, 4_000_000])
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child)))
        return 0
    print(f"training the churn example on {TRAIN_ROWS} rows ...", file=sys.stderr, flush=True)
    spec, onnx, (pipeline, classes, signature) = train()
    folder = tempfile.TemporaryDirectory()
    blobs = files(args.rows, folder.name)
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
    folder.cleanup()
    if args.memory_rows:
        memory_report(args.memory_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
