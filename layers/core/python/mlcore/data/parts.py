"""A dataset checked in parts: the plan, each part counted, copied and split (a Distributed Map's child),
and the merge of the parts' counts into the report one pass would make.

The validate step plans: the folder's files, in key order, grouped into parts of about `part_mb`
megabytes (a file is never split). Each child streams its files from the data bucket to local disk (hashing
them), copies them into the run's snapshot, reads them a record batch at a time, counts the
contract on each batch (`counts`), and writes its rows to the training or the holdout side: each
row's side is drawn from a generator seeded by the spec's seed and the file's path, so a rerun
splits the same way. Its memory is a batch's, whatever the dataset's size. The validate step then
merges the parts in order; a part that failed, or never ran, is named.

For a model with feature views (`features_from`), the files are labels: the plan lists the views' files (and
their bindings) once, each child joins its batches with them point in time, and the merge records the view
files one pass would read.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlcore.catalog import (
    Artifact,
    CountPartRequest,
    DataSource,
    PartResult,
    PartsPlan,
    PipelineInput,
    RunFile,
    part_key,
    run_key,
    snapshot_folder_key,
    split_part_key,
)
from mlcore.data.contract import file_failures
from mlcore.data.counts import ContractCounts, count_contract, merge_counts
from mlcore.data.datasets import DatasetFiles, folder_artifact, iter_file
from mlcore.data.point_in_time import (
    OfflineFile,
    label_range,
    label_times,
    offline_file_facts,
    offline_files,
    offline_source,
    training_set,
    window_days,
)
from mlcore.errors import DataValidationError, NotFoundError
from mlcore.registry import Registry
from mlcore.spec import ModelSpec
from mlcore.storage import ObjectStore

COUNTS, RESULT, FAILURE = "counts.json", "result.json", "failure.json"


def in_parts(files: DatasetFiles, spec: ModelSpec, data: ObjectStore, min_bytes: float) -> bool:
    """Whether a dataset is checked in parts: a folder, as the spec says (`data.distributed`), or when large.

    A time split needs every row's time at once, and a model's own image reads one train and one holdout
    file (its contract): `auto` keeps such datasets in one pass. Labels joined with feature views
    (`features_from`) are joined in each part, a batch at a time.
    """
    mode = spec.data.distributed
    one_pass = spec.data.split == "time" or spec.training.image is not None
    if not files.is_folder or mode == "never" or (mode == "auto" and one_pass):
        return False
    return mode == "always" or sum(item.size for item in data.list_objects(files.root)) >= min_bytes


def plan_parts(
    files: DatasetFiles,
    request: PipelineInput,
    run_id: str,
    *,
    spec: ModelSpec,
    data: ObjectStore,
    artifacts: ObjectStore,
    part_bytes: float,
) -> PartsPlan:
    """Group the folder's files, in key order, into parts of about `part_bytes` (at least a file each), and
    write the plan and the Distributed Map's items. The plan lists the spec's feature views' files once: every
    part joins its labels with those (an ingest that completes while the parts run is the next run's)."""
    name = request.model_name
    sizes = {item.key: item.size for item in data.list_objects(files.root)}
    parts: list[list[str]] = []
    size = 0
    for key in files.keys:
        if not parts or size + sizes[key] > part_bytes:
            parts.append([])
            size = 0
        parts[-1].append(key)
        size += sizes[key]
    names = [f"{i:05d}" for i in range(len(parts))]
    views = {
        view: {
            **binding.model_dump(mode="json"),
            "files": [[f.key, f.day.isoformat(), f.ingest] for f in offline_files(view, data)],
        }
        for view, binding in spec.views.items()
    }
    plan = {"root": files.root, "parts": dict(zip(names, parts, strict=True)), "views": views}
    artifacts.put(run_key(name, run_id, RunFile.PARTS_PLAN), json.dumps(plan).encode(), "application/json")
    items = [{"part": part} for part in names]
    items_key = run_key(name, run_id, RunFile.PARTS_ITEMS)
    artifacts.put(items_key, json.dumps(items).encode(), "application/json")
    return PartsPlan(
        model_name=name,
        run_id=run_id,
        request=request,
        bucket=artifacts.bucket,
        items_key=items_key,
        parts=len(names),
        files=len(files.keys),
        input_bytes=sum(sizes[key] for key in files.keys),
    )


@dataclass(frozen=True)
class _Plan:
    files: DatasetFiles
    parts: dict[str, list[str]]  # a part's files' keys, by part
    views: dict[str, list[OfflineFile]]  # the feature views' files as listed for the run


def _plan(artifacts: ObjectStore, spec: ModelSpec, run_id: str) -> _Plan:
    """The run's plan, for the spec it was made with.

    Raises
    ------
    DataValidationError
        When the spec's feature views (`features_from`) are not those the plan was made for: its parts would
        join with other features or another TTL than the plan listed files for.
    """
    plan = json.loads(artifacts.get(run_key(spec.name, run_id, RunFile.PARTS_PLAN)))
    keys = tuple(key for part in plan["parts"].values() for key in part)
    planned = plan.get("views", {})
    bindings = {view: {k: v for k, v in planned_view.items() if k != "files"} for view, planned_view in planned.items()}
    if bindings != {view: binding.model_dump(mode="json") for view, binding in spec.views.items()}:
        raise DataValidationError(
            f"the model's features_from changed since run {run_id} was planned: start a new run", field="features_from"
        )
    views = {
        view: [OfflineFile(key, date.fromisoformat(day), ingest) for key, day, ingest in planned_view["files"]]
        for view, planned_view in planned.items()
    }
    return _Plan(DatasetFiles(plan["root"], keys), plan["parts"], views)


def holdout_draw(spec: ModelSpec, relative: str) -> np.random.Generator:
    """The generator of a file's rows' sides: seeded by the spec's seed and the file's path in the dataset."""
    digest = hashlib.sha256(f"{spec.data.seed}\0{relative}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


@dataclass
class _Side:
    """One side of a part's split, written as it comes."""

    path: str
    writer: pq.ParquetWriter | None = None
    rows: int = 0

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        self.writer.write_table(table)
        self.rows += table.num_rows

    def close(self, schema: pa.Schema) -> None:
        if self.writer is None:  # no rows: an empty file of the part's schema
            self.writer = pq.ParquetWriter(self.path, schema, compression="zstd")
        self.writer.close()


def _batches(
    files: DatasetFiles, keys: list[str], spec: ModelSpec, batch_rows: int, copy: CopyFile
) -> Iterator[tuple[str, pa.Table]]:
    """Each file of the part (copied to the snapshot first), a batch at a time, with its path in the dataset."""
    for key in keys:
        relative = files.relative(key)
        local = copy(key, relative)
        try:
            for batch in iter_file(local, key, relative, spec, batch_rows):
                yield relative, batch
        finally:
            os.remove(local)


@dataclass
class CopyFile:
    """Streams a dataset's file to local disk and into the run's snapshot; remembers path, SHA-256, size."""

    data: ObjectStore
    artifacts: ObjectStore
    folder: str
    name: str
    run_id: str
    copied: list[tuple[str, str, int]]

    def __call__(self, key: str, relative: str) -> str:
        handle, local = tempfile.mkstemp(dir=self.folder, suffix=".csv.gz" if key.endswith(".gz") else "")
        os.close(handle)
        sha256 = self.data.download(key, local)
        copy = self.artifacts.upload(snapshot_folder_key(self.name, self.run_id, relative), local, sha256)
        self.copied.append((relative, sha256, copy.size))
        return local


def count_part(
    request: CountPartRequest, *, registry: Registry, data: ObjectStore, artifacts: ObjectStore, batch_rows: int
) -> PartResult:
    """The child's work: copy, count and split one part of the run's plan; its counts and result are
    written beside the plan (its failure too, for the merge to name)."""
    name, run_id, part = request.model_name, request.run_id, request.part
    try:
        spec = registry.get_spec(name)
        plan = _plan(artifacts, spec, run_id)
        if part not in plan.parts:
            raise NotFoundError(f"part {part!r} is not in the plan of run {run_id}")
        with tempfile.TemporaryDirectory() as folder:
            return _count_part(
                spec,
                plan.parts[part],
                plan=plan,
                request=request,
                data=data,
                artifacts=artifacts,
                folder=folder,
                batch_rows=batch_rows,
            )
    except Exception as exc:  # the merge names every failed part, with what it failed with
        failure = {"error_type": type(exc).__name__, "message": str(exc)}
        artifacts.put(part_key(name, run_id, part, FAILURE), json.dumps(failure).encode(), "application/json")
        raise


def _count_part(
    spec: ModelSpec,
    keys: list[str],
    *,
    plan: _Plan,
    request: CountPartRequest,
    data: ObjectStore,
    artifacts: ObjectStore,
    folder: str,
    batch_rows: int,
) -> PartResult:
    name, run_id, part = request.model_name, request.run_id, request.part
    copy = CopyFile(data, artifacts, folder, name, run_id, [])
    split = SplitCounter(spec, os.path.join(folder, "train.parquet"), os.path.join(folder, "holdout.parquet"))
    offline: dict[tuple[Any, ...], Any] = {}  # the views' window, read once for the batches that share it
    read: dict[str, set[tuple[str, str, int]]] = {}  # per view, the files read: the merge need not read them again
    span: list[datetime] = []  # the part's oldest and newest label times
    for relative, batch in _batches(plan.files, keys, spec, batch_rows, copy):
        rows = batch
        if spec.views:  # the files are the labels: the rows checked are the labels with their point-in-time features
            try:  # the one pass's checks, naming the file
                times = label_times(batch, spec)
                rows, _ = training_set(batch, spec, data, cache=offline, read=read, listed=plan.views, times=times)
            except DataValidationError as exc:
                raise DataValidationError(f"joining {relative}: {exc.message}", field=exc.field) from exc
            low, high = label_range(times)
            span = [min([low, *span[:1]]), max([high, *span[1:]])]
        split.add(relative, rows)
    total, train, holdout = split.close()
    result = PartResult(
        part=part,
        rows=total.rows,
        files=copy.copied,
        train=artifacts.upload(split_part_key(name, run_id, RunFile.TRAIN_PARTS, part), train.path),
        holdout=artifacts.upload(split_part_key(name, run_id, RunFile.HOLDOUT_PARTS, part), holdout.path),
        train_rows=train.rows,
        holdout_rows=holdout.rows,
        view_files={view: sorted(files_read) for view, files_read in read.items()},
        label_times=span,
    )
    _write_counts(artifacts, name, run_id, part, total)
    artifacts.put(part_key(name, run_id, part, RESULT), result.model_dump_json().encode(), "application/json")
    return result


class SplitCounter:
    """Counts a part's batches against the contract, and writes each one's clean rows to its side of the split."""

    def __init__(self, spec: ModelSpec, train_path: str, holdout_path: str) -> None:
        self.spec = spec
        self.total = ContractCounts()
        self.train, self.holdout = _Side(train_path), _Side(holdout_path)
        self._draws: dict[str, np.random.Generator] = {}

    def add(self, relative: str, batch: pa.Table) -> None:
        """One batch of the file at `relative` (a file's batches in order)."""
        counts, casts = count_contract(batch, self.spec)
        counts.files = file_failures(counts, self.spec, relative)  # which of the files a failure's rows are in
        self.total = merge_counts([self.total, counts])  # one running total: memory stays at a batch's
        clean = _clean(batch.num_rows, casts, self.spec)
        draw = self._draws.setdefault(relative, holdout_draw(self.spec, relative))
        in_holdout = draw.random(clean.num_rows) < self.spec.data.holdout_fraction
        self.train.write(clean.filter(pa.array(~in_holdout)))
        self.holdout.write(clean.filter(pa.array(in_holdout)))

    def close(self) -> tuple[ContractCounts, _Side, _Side]:
        """The part's counts, and its two sides' files (an empty file for a side without rows)."""
        schema = _clean(0, {}, self.spec).schema
        self.train.close(schema)
        self.holdout.close(schema)
        return self.total, self.train, self.holdout


def _clean(rows: int, casts: dict[str, pa.ChunkedArray], spec: ModelSpec) -> pa.Table:
    """A batch's rows for training: every feature and the target at its contract type (null where the
    batch has no readable column: the merged report fails the run on it, or warns, as one pass does)."""
    target = pa.string() if spec.task == "classification" else pa.float64()
    types = {**{f.name: pa.string() if not f.is_numeric else pa.float64() for f in spec.features}, spec.target: target}
    return pa.table({name: casts.get(name, pa.nulls(rows, kind)) for name, kind in types.items()})


def _write_counts(artifacts: ObjectStore, name: str, run_id: str, part: str, counts: ContractCounts) -> None:
    """The counts as JSON, and each uniqueness column's value counts as Parquet beside them."""
    document = {"counts": counts.model_dump(mode="json"), "unique": sorted(counts.unique)}
    artifacts.put(part_key(name, run_id, part, COUNTS), json.dumps(document).encode(), "application/json")
    for i, column in enumerate(sorted(counts.unique)):
        sink = pa.BufferOutputStream()
        pq.write_table(counts.unique[column], sink)
        artifacts.put(part_key(name, run_id, part, f"unique-{i}.parquet"), sink.getvalue().to_pybytes())


def _read_counts(artifacts: ObjectStore, name: str, run_id: str, part: str) -> ContractCounts:
    document = json.loads(artifacts.get(part_key(name, run_id, part, COUNTS)))
    counts = ContractCounts.model_validate(document["counts"])
    counts.unique = {
        column: pq.read_table(pa.BufferReader(artifacts.get(part_key(name, run_id, part, f"unique-{i}.parquet"))))
        for i, column in enumerate(document["unique"])
    }
    return counts


@dataclass(frozen=True)
class MergedParts:
    """A dataset checked in parts, as the validate step merges it."""

    counts: ContractCounts
    root: str  # the dataset the plan was made of (a folder's key, ending in /)
    snapshot: Artifact  # the run's copy of the folder (its SHA-256: of its files' paths and SHA-256s)
    train: list[Artifact]  # the parts' sides, in part order
    holdout: list[Artifact]
    clean_rows: int
    views: list[DataSource]  # per feature view, what one pass of the labels reads (see _merged_views)


def _merged_views(spec: ModelSpec, results: list[PartResult], plan: _Plan, data: ObjectStore) -> list[DataSource]:
    """Per view, what one pass of the labels would read: the planned files of the days from the oldest label time
    less the TTL to the newest (the parts read them, or a gap between their labels' times skipped some)."""
    if not spec.views:
        return []
    times = [time for result in results for time in result.label_times]
    if not times:
        raise DataValidationError("the labels have no rows", field="data")
    known = {key: (sha256, rows) for result in results for files in result.view_files.values()
             for key, sha256, rows in files}  # fmt: skip
    sources = []
    for view, binding in spec.views.items():
        first, last = window_days(min(times), max(times), binding.ttl_hours)
        window = [file.key for file in plan.views.get(view, []) if first <= file.day <= last]
        facts = [(key, *(known.get(key) or offline_file_facts(key, data))) for key in window]
        sources.append(offline_source(view, facts, data))
    return sources


def merge_parts(spec: ModelSpec, run_id: str, artifacts: ObjectStore, data: ObjectStore) -> MergedParts:
    """Merge the parts of the run's plan, in order (`data`: the bucket of the feature views they joined).

    Raises
    ------
    DataValidationError
        Naming every part that failed (with its error) or left no result.
    """
    name = spec.name
    plan = _plan(artifacts, spec, run_id)
    files, parts = plan.files, plan.parts
    results, failed = [], []
    for part in parts:
        try:
            results.append(PartResult.model_validate_json(artifacts.get(part_key(name, run_id, part, RESULT))))
        except NotFoundError:
            try:
                failure = json.loads(artifacts.get(part_key(name, run_id, part, FAILURE)))
                failed.append(f"part {part}: {failure['error_type']}: {failure['message']}")
            except NotFoundError:
                failed.append(f"part {part}: no result (its child did not finish)")
    if failed:
        raise DataValidationError(f"the dataset {files.root} could not be checked in parts: " + "; ".join(failed))
    copies = [copy for result in results for copy in result.files]
    snapshot = folder_artifact(artifacts.uri(snapshot_folder_key(name, run_id, "")), copies)
    return MergedParts(
        root=files.root,
        counts=merge_counts(_read_counts(artifacts, name, run_id, part) for part in parts),
        snapshot=snapshot,
        train=[result.train for result in results],
        holdout=[result.holdout for result in results],
        clean_rows=sum(result.train_rows + result.holdout_rows for result in results),
        views=_merged_views(spec, results, plan, data),
    )
