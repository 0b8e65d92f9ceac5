"""Datasets at scale: the data contract checked by streaming many files, at 1M, 5M and 10M rows.

The data is bench/validation.py's (23 feature columns and a target, with a known number of violations
per rule in every file), written as Parquet files of 50,000 rows each (20, 100 and 200 files). For each
size, a fresh process runs what a Distributed Map's child runs on its part (`mlcore.data.SplitCounter`
over `iter_file`'s record batches: count every batch, write its clean rows to the training or the holdout
side), here over every file of the dataset in one process, with local files instead of S3; its time and
peak memory are printed with the rows per second. Memory should stay flat as the data grows (target:
peak <= 1 GB at 10M rows), time grow linearly.

Then, at 1M rows: the one-pass check of the same rows read as one table (`check_contract`, what Validate
does for small datasets), pandera's lazy validation of the same rules (bench/.venv-baselines), and the
parts path end to end on the embedded AWS (plan, every part's child in turn, merge), with the counts of
all three compared. Run `make bench-scale` (`--sizes 1000000 5000000 10000000`, `--runs 3`). A report,
not a test: it exits 0 unless it crashed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(ROOT / "layers" / "core" / "python"), str(ROOT)]

from memory import METHOD, measure, run_child, verdict  # noqa: E402
from validation import BASELINE_PYTHON, OURS_PYTHON, SEED, contract_spec, generate  # noqa: E402

FILE_ROWS = 50_000
BATCH_ROWS = 65_536
MAX_PEAK_MIB = 1024


def write_files(folder: Path, rows: int) -> list[Path]:
    """`rows` rows as files of FILE_ROWS, each generated apart (the parent never holds the dataset)."""
    paths = []
    for i in range(-(-rows // FILE_ROWS)):
        path = folder / f"part-{i:05d}.parquet"
        pq.write_table(generate(min(FILE_ROWS, rows - i * FILE_ROWS), SEED + i), path)
        paths.append(path)
    return paths


def failure_counts(report: Any) -> dict[str, int]:
    return {f"{f.column}|{f.check}|{f.message.split(' ', 1)[1]}": f.failed_rows for f in report.failures}


# ---------------------------------------------------------------- children (each in a fresh process)


def child_stream(data: Path) -> dict[str, Any]:
    """Every file, a batch at a time: counted and split, as a part's child does."""
    from mlcore.data import SplitCounter, contract_report, iter_file

    spec = contract_spec()
    paths = sorted(data.glob("part-*.parquet"))

    def stream() -> Any:
        with tempfile.TemporaryDirectory() as out:
            split = SplitCounter(spec, f"{out}/train.parquet", f"{out}/holdout.parquet")
            for path in paths:
                for batch in iter_file(str(path), path.name, path.name, spec, BATCH_ROWS):
                    split.add(path.name, batch)
            counts, train, holdout = split.close()
            return contract_report(counts, spec, table_checks=False), train.rows + holdout.rows

    (report, written), elapsed, peak, how = measure(stream)
    return {"seconds": elapsed, "peak_mib": peak, "peak_method": how, "rows": report.rows, "written": written,
            "counts": failure_counts(report)}  # fmt: skip


def child_one_pass(data: Path) -> dict[str, Any]:
    """The files read as one table and checked at once (Validate's path for small datasets)."""
    import pyarrow as pa

    from mlcore.data import check_contract

    spec = contract_spec()

    def one_pass() -> Any:
        table = pa.concat_tables([pq.read_table(path) for path in sorted(data.glob("part-*.parquet"))])
        return check_contract(table, spec, table_checks=False)[1]

    report, elapsed, peak, how = measure(one_pass)
    return {"seconds": elapsed, "peak_mib": peak, "peak_method": how, "counts": failure_counts(report)}


def child_parts_on_moto(data: Path) -> dict[str, Any]:
    """The parts path end to end on the embedded AWS: plan, each part's child in turn, merge."""
    import boto3
    from moto import mock_aws

    from mlcore.catalog import CountPartRequest, PartsPlan, PipelineInput, ValidateRequest
    from mlcore.data import count_part, validate_step
    from mlcore.errors import DataValidationError
    from mlcore.registry import Registry, create_registry_table
    from mlcore.spec import parse_spec
    from mlcore.storage import ObjectStore

    spec = contract_spec().model_copy(update={"name": "scale"})
    with mock_aws():
        s3, dynamodb = boto3.client("s3", region_name="us-east-1"), boto3.client("dynamodb", region_name="us-east-1")
        for bucket in ("data", "artifacts"):
            s3.create_bucket(Bucket=bucket)
        create_registry_table(dynamodb, "registry")
        registry = Registry("registry", dynamodb)
        raw = spec.model_dump(mode="json")
        raw["data"] = {**raw["data"], "distributed": "always", "min_rows": 1}
        registry.put_spec(parse_spec(raw), actor="bench")
        store, artifacts = ObjectStore("data", s3), ObjectStore("artifacts", s3)
        for path in sorted(data.glob("part-*.parquet")):
            store.put(f"datasets/scale/folder/{path.name}", path.read_bytes())
        folder = PipelineInput(model_name="scale", dataset_uri=store.uri("datasets/scale/folder/"))
        request = ValidateRequest(request=folder, run_id="bench")
        stores: dict[str, Any] = {"registry": registry, "data": store, "artifacts": artifacts, "capture": artifacts}
        start = time.perf_counter()
        plan = validate_step(request, **stores, part_bytes=16 * 1024 * 1024)
        assert isinstance(plan, PartsPlan)
        for item in json.loads(artifacts.get(plan.items_key)):
            count_part(CountPartRequest(model_name="scale", run_id="bench", part=item["part"]), registry=registry,
                       data=store, artifacts=artifacts, batch_rows=BATCH_ROWS)  # fmt: skip
        message = "passed"
        try:
            validate_step(request.model_copy(update={"merge": True}), **stores)
        except DataValidationError as exc:  # the data breaks its contract on purpose: the report is written
            message = str(exc)
        elapsed = time.perf_counter() - start
        document = json.loads(artifacts.get("runs/scale/bench/validation.json"))
    counts = {
        f"{f['column']}|{f['check']}|{f['message'].split(' ', 1)[1]}": f["failed_rows"]
        for f in document["failures"]
        if f["check"] != "row_count"
    }
    return {"seconds": elapsed, "parts": plan.parts, "counts": counts, "message": message[:200]}


def child_pandera(data: Path) -> dict[str, Any]:
    """pandera's lazy validation of the same rules on the files read as one frame (bench/validation.py's)."""
    import pandas as pd
    from validation import child_pandera as on_one_file

    frame = pd.concat([pd.read_parquet(path) for path in sorted(data.glob("part-*.parquet"))], ignore_index=True)
    frame.to_parquet(data / "data.parquet")
    return on_one_file(data)


# ---------------------------------------------------------------- parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 10_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=["stream", "one_pass", "parts", "pandera"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child = {"stream": child_stream, "one_pass": child_one_pass, "parts": child_parts_on_moto,
                 "pandera": child_pandera}[args.child]  # fmt: skip
        print(json.dumps(child(args.data)))
        return 0
    print(f"datasets at scale: {FILE_ROWS:,}-row Parquet files of 23 feature columns + target, batches of "
          f"{BATCH_ROWS:,} rows; median of {args.runs} runs (min-max)\nmemory: {METHOD}\n")  # fmt: skip
    head = f"{'rows':>12}{'files':>7}{'stream s':>18}{'rows/s':>12}{'peak MiB':>18}  peak <= {MAX_PEAK_MIB} MiB"
    print(head)
    print("-" * len(head))
    smallest: dict[str, Any] = {}
    for rows in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            data = Path(tmp)
            files = write_files(data, rows)
            runs = [run_child(__file__, OURS_PYTHON, "stream", data) for _ in range(args.runs)]
            seconds = [r["seconds"] for r in runs]
            peaks = [r["peak_mib"] for r in runs]
            assert all(r["rows"] == r["written"] == rows for r in runs)
            median, peak = statistics.median(seconds), statistics.median(peaks)
            print(f"{rows:>12,}{len(files):>7}{median:>8.2f} ({min(seconds):.2f}-{max(seconds):.2f})"
                  f"{rows / median:>12,.0f}{peak:>8.0f} ({min(peaks):.0f}-{max(peaks):.0f})"
                  f"  {verdict(peak <= MAX_PEAK_MIB)}")  # fmt: skip
            if rows == min(args.sizes):
                smallest = {"rows": rows, "stream": runs[0],
                            "one_pass": run_child(__file__, OURS_PYTHON, "one_pass", data),
                            "parts": run_child(__file__, OURS_PYTHON, "parts", data)}  # fmt: skip
                if BASELINE_PYTHON.exists():
                    smallest["pandera"] = run_child(__file__, BASELINE_PYTHON, "pandera", data)
    compare(smallest)
    return 0


def compare(smallest: dict[str, Any]) -> None:
    rows = smallest["rows"]
    stream, one, parts = smallest["stream"], smallest["one_pass"], smallest["parts"]
    print(f"\nat {rows:,} rows (one run each):")
    print(f"  streamed, batch by batch          {stream['seconds']:>7.2f} s  peak {stream['peak_mib']:>5.0f} MiB")
    print(f"  one pass over one table           {one['seconds']:>7.2f} s  peak {one['peak_mib']:>5.0f} MiB")
    print(
        f"  parts path on the embedded AWS    {parts['seconds']:>7.2f} s  ({parts['parts']} parts, children in "
        "turn, S3 in this process: the wall time of the path's code, not of a Distributed Map's 16 at once)"
    )
    if "pandera" in smallest:
        theirs = smallest["pandera"]
        print(f"  pandera lazy validation           {theirs['check_s']:>7.2f} s  peak {theirs['peak_mib']:>5.0f} MiB"
              f"  (+ {theirs['load_s']:.1f} s to load its frame)")  # fmt: skip
        total = theirs["check_s"] + theirs["load_s"]
        print(f"  pandera (load + check) / one pass (read + check): {total / one['seconds']:.1f}x;"
              f" / streamed (read + check + split written): {total / stream['seconds']:.1f}x")  # fmt: skip
    else:
        print("  pandera: bench/.venv-baselines is missing (`make bench-venv`)")
    same = stream["counts"] == one["counts"] == parts["counts"]
    print(f"\n  identical failure counts: streamed / one pass / parts      {verdict(same)}"
          f"  ({sum(one['counts'].values()):,} failed values in {len(one['counts'])} checks)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
