"""The validate step of the training pipeline: the data contract, a snapshot and the train/holdout split."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pyarrow as pa

from mlcore.catalog import (
    CAPTURE,
    CUSTOM,
    EC2_GPU,
    FARGATE,
    FARGATE_SPOT,
    JOB_DEFINITIONS,
    JOB_QUEUES,
    Artifact,
    DataSource,
    JobPlan,
    PartsPlan,
    QueryPlan,
    RunFile,
    TrialPlan,
    ValidateRequest,
    ValidateResult,
    container_resources,
    current_code_key,
    model_partition,
    run_key,
    snapshot_folder_key,
    snapshot_key,
    split_part_key,
)
from mlcore.data.contract import (
    ContractReport,
    at_rows,
    check_contract,
    checked_files,
    contract_report,
    in_files,
)
from mlcore.data.datasets import (
    DatasetFiles,
    DatasetTables,
    as_timestamps,
    column_times,
    concat_dataset,
    folder_artifact,
    model_dataset,
    query_statement,
    read_dataset_file,
    read_table,
    split_holdout,
    to_parquet,
)
from mlcore.data.parts import MergedParts, in_parts, merge_parts, plan_parts
from mlcore.data.point_in_time import training_set
from mlcore.data.report import render_contract_html
from mlcore.data.sources import (
    feedback_rows,
    learned_already,
    learned_before,
    nothing_new_from,
    training_fingerprint,
)
from mlcore.errors import DataValidationError, NotFoundError
from mlcore.images import ImageJobs
from mlcore.registry import ModelVersion, Registry
from mlcore.spec import ModelSpec, check_not_retired, spec_sha256
from mlcore.storage import ObjectStore, sha256_hex


def _timestamps(table: pa.Table, spec: ModelSpec) -> pa.ChunkedArray | None:
    """The rows' times for a time split (None for the other modes)."""
    column = spec.data.timestamp_column
    if spec.data.split != "time" or column is None:
        return None
    missing = f"the time split's column '{column}' is missing"
    return column_times(table, column, missing=missing, field="data.timestamp_column")


def _trials(spec: ModelSpec) -> list[TrialPlan]:
    """The search's trials, planned once per run (seeded: a rerun plans the same)."""
    search = spec.estimator.search
    if search is None:
        return []
    return [TrialPlan(trial=str(i), params=json.dumps(params)) for i, params in enumerate(search.plan())]


def _merged_reports(dataset: ContractReport, feedback: ContractReport | None) -> ContractReport:
    if feedback is None:
        return dataset
    marked = [f.model_copy(update={"message": f"feedback rows: {f.message}"}) for f in feedback.failures]
    return dataset.model_copy(update={"rows": dataset.rows + feedback.rows, "failures": dataset.failures + marked})


def _snapshot(
    files: DatasetFiles, spec: ModelSpec, run_id: str, *, data: ObjectStore, artifacts: ObjectStore
) -> tuple[Artifact, pa.Table, list[tuple[str, pa.Table]]]:
    """Copy the dataset into the run's folder and read it: one file, or a folder's files as one table (and each
    file's rows, by its path in the folder).

    A folder's copy keeps its paths (hive partitions included); its Artifact is the copy's folder,
    with the SHA-256 of its files' paths and SHA-256s (what the retrain guard computes of the source).
    """
    name = spec.name
    if not files.is_folder:
        raw = data.get(files.root)
        return artifacts.put(snapshot_key(name, run_id, files.root), raw), read_table(raw, files.root, spec), []
    copies, tables = [], []
    for key in files.keys:
        raw = data.get(key)
        relative = files.relative(key)
        copies.append((relative, artifacts.put(snapshot_folder_key(name, run_id, relative), raw)))
        tables.append((relative, read_dataset_file(raw, key, relative, spec)))
    folder = folder_artifact(
        artifacts.uri(snapshot_folder_key(name, run_id, "")),
        [(relative, copy.sha256, copy.size) for relative, copy in copies],
    )
    return folder, concat_dataset([table for _, table in tables]), tables


def _job_plan(
    spec: ModelSpec, run_id: str, images: ImageJobs | None, artifacts: ObjectStore, *, gpu_jobs: bool
) -> JobPlan:
    """The queue, job definition and size of the run's Batch jobs, from `training.resources`, and its own
    image's job.

    Raises
    ------
    DataValidationError
        For GPUs in a deployment without the GPU queue, or a spec with `training.image` when this
        deployment's validate cannot register image jobs.
    """
    resources = spec.training.resources
    if resources.gpu:
        if not gpu_jobs:
            raise DataValidationError(
                "training.resources.gpu: this deployment has no GPU queue (deploy it with the context flag "
                "mlops:gpuJobs=true)",
                field="training.resources.gpu",
            )
        return JobPlan(
            queue=JOB_QUEUES.index(EC2_GPU),
            definition=JOB_DEFINITIONS.index(EC2_GPU),
            resources=container_resources(resources.vcpus, resources.memory_gb, resources.gpu),
        )
    image = None
    if spec.training.image is not None:
        if images is None:
            raise DataValidationError("this validate step runs no training images", field="training.image")
        image = images.job(spec, run_id, artifacts)
    return JobPlan(
        queue=JOB_QUEUES.index(FARGATE_SPOT if resources.spot else FARGATE),
        resources=container_resources(resources.vcpus, resources.memory_gb),
        image=image,
    )


def _current_code(spec: ModelSpec, artifacts: ObjectStore) -> Artifact | None:
    """The training code a custom estimator's run pins (None for the built-in kinds).

    Raises
    ------
    NotFoundError
        When the spec's kind is custom and no code was uploaded for the model.
    """
    if spec.estimator.kind != CUSTOM:
        return None
    try:
        return Artifact.model_validate_json(artifacts.get(current_code_key(spec.name)))
    except NotFoundError:
        raise NotFoundError(
            f"estimator 'custom' of '{spec.name}' has no code: upload it with `mlops code upload {spec.name} PATH`",
            field="estimator.entrypoint",
        ) from None


@dataclass(frozen=True)
class _Checked:
    """A dataset checked against the contract, in one pass or in parts."""

    snapshot: Artifact
    report: ContractReport
    rows: int
    clean: pa.Table | None  # one pass: the rows to split
    timestamps: pa.ChunkedArray | None = None
    parts: MergedParts | None = None  # in parts: the rows, already split
    views: list[DataSource] = field(default_factory=list)  # the feature views joined to the rows (features_from)

    @property
    def sha256(self) -> str:
        """What the rows are: the snapshot's SHA-256, and with feature views, theirs (a new ingest is new data)."""
        if not self.views:
            return self.snapshot.sha256
        return sha256_hex("\n".join([self.snapshot.sha256, *(view.sha256 for view in self.views)]).encode())


def _one_pass(files: DatasetFiles, spec: ModelSpec, run_id: str, data: ObjectStore, artifacts: ObjectStore) -> _Checked:
    snapshot, table, by_file = _snapshot(files, spec, run_id, data=data, artifacts=artifacts)
    views: list[DataSource] = []
    if spec.views:  # the snapshot is the labels; the rows checked are the labels with their point-in-time features
        table, views = training_set(table, spec, data)
    clean, report = check_contract(table, spec)
    if report.failures and by_file:  # which of the folder's files the rows are in
        report = in_files(report, checked_files(_with_view_features(by_file, table, spec), spec))
    elif report.failures:  # the file's first failing row of each check
        report = at_rows(report)
    return _Checked(snapshot, report, table.num_rows, clean, _timestamps(table, spec), views=views)


def _with_view_features(
    by_file: list[tuple[str, pa.Table]], joined: pa.Table, spec: ModelSpec
) -> list[tuple[str, pa.Table]]:
    """Each file's rows with the features its labels were joined to (`joined`'s rows are the files', in order); a
    file keeps its own columns, so that one without a column is still named for it."""
    names = [name for binding in spec.views.values() for name in binding.features]
    files, offset = [], 0
    for relative, rows in by_file:
        joined_rows = joined.slice(offset, rows.num_rows)
        with_features = rows
        for name in names:
            with_features = with_features.append_column(name, joined_rows.column(name))
        files.append((relative, with_features))
        offset += rows.num_rows
    return files


def _merged(spec: ModelSpec, run_id: str, artifacts: ObjectStore, data: ObjectStore, now: datetime) -> _Checked:
    merged = merge_parts(spec, run_id, artifacts, data)
    report = in_files(contract_report(merged.counts, spec, now=now), merged.counts.files)
    return _Checked(merged.snapshot, report, merged.counts.rows, None, parts=merged, views=merged.views)


def _split_artifacts(
    checked: _Checked, feedback: pa.Table | None, spec: ModelSpec, run_id: str, artifacts: ObjectStore
) -> tuple[Artifact, Artifact, int]:
    """Write the train and holdout sides: one file each (one pass), or a folder of the parts' files and the
    feedback rows' (in parts); the rows of the clean data."""
    name = spec.name
    if checked.parts is None:
        assert checked.clean is not None
        clean = checked.clean if feedback is None else pa.concat_tables([checked.clean, feedback])
        train, holdout = split_holdout(clean, spec, checked.timestamps)
        put = artifacts.put
        return (
            put(run_key(name, run_id, RunFile.TRAIN), to_parquet(train)),
            put(run_key(name, run_id, RunFile.HOLDOUT), to_parquet(holdout)),
            clean.num_rows,
        )
    sides = {RunFile.TRAIN_PARTS: list(checked.parts.train), RunFile.HOLDOUT_PARTS: list(checked.parts.holdout)}
    rows = checked.parts.clean_rows
    if feedback is not None:
        for side, table in zip(sides, split_holdout(feedback, spec), strict=True):
            sides[side].append(artifacts.put(split_part_key(name, run_id, side, "feedback"), to_parquet(table)))
        rows += feedback.num_rows
    folders = [
        folder_artifact(
            artifacts.uri(run_key(name, run_id, side)), [(a.uri.rsplit("/", 1)[-1], a.sha256, a.size) for a in parts]
        )
        for side, parts in sides.items()
    ]
    return folders[0], folders[1], rows


def validate_step(
    request: ValidateRequest,
    *,
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    capture: ObjectStore,
    images: ImageJobs | None = None,
    tables: DatasetTables | None = None,
    gpu_jobs: bool = False,
    distributed_min_bytes: float = float("inf"),
    part_bytes: float = 128 * 1024 * 1024,
) -> ValidateResult | PartsPlan | QueryPlan:
    """The validate step: a spec whose dataset is an Athena query gets a QueryPlan for the state machine's
    Athena step (then Validate again, `queried`); a folder dataset checked in parts (`data.distributed`, or
    `distributed_min_bytes` and more) gets a PartsPlan for the Distributed Map; any other, or the parts'
    merge, `validate_dataset`."""
    files = None
    if not request.merge:
        spec = registry.get_spec(request.request.model_name)
        check_not_retired(spec)  # a run started before it was retired (or past the API) trains nothing
        if spec.data.query is not None and not request.queried and not request.request.dataset_uri:
            return QueryPlan(
                model_name=spec.name,
                run_id=request.run_id,
                request=request.request,
                query=query_statement(spec, request.run_id, data, tables),
            )
        files = _request_dataset(spec, request, data, tables)
        if in_parts(files, spec, data, distributed_min_bytes):
            return plan_parts(
                files, request.request, request.run_id, spec=spec, data=data, artifacts=artifacts, part_bytes=part_bytes
            )
    return validate_dataset(
        request,
        registry=registry,
        data=data,
        artifacts=artifacts,
        capture=capture,
        images=images,
        tables=tables,
        gpu_jobs=gpu_jobs,
        files=files,
    )


def _spec_changed(version: ModelVersion | None, spec: ModelSpec) -> bool:
    """Whether the spec changed since `version` was trained (unknown for a version recorded before versions kept
    their spec's SHA-256: not said)."""
    return version is not None and bool(version.spec_sha256) and version.spec_sha256 != spec_sha256(spec)


def _learned(
    registry: Registry,
    name: str,
    champion: ModelVersion | None,
    fingerprint: str,
    code: Artifact | None,
    *,
    force: bool,
) -> tuple[bool, ModelVersion | None]:
    """Whether a run has nothing new to learn (a version learned from exactly this data with this code), and which
    version, when not the champion: one rejected or rolled back from would only be trained (and promoted) again."""
    if force:
        return False, None
    if learned_already(champion, fingerprint) and champion is not None and champion.code == code:
        return True, None  # uploads are content-addressed: same URI, same code
    same_code = [version for version in registry.list_versions(name) if version.code == code]
    earlier = learned_before(same_code, fingerprint, champion)
    return (True, earlier) if earlier is not None else (False, None)


def _request_dataset(
    spec: ModelSpec, request: ValidateRequest, data: ObjectStore, tables: DatasetTables | None
) -> DatasetFiles:
    queried = request.run_id if request.queried else None
    return model_dataset(spec, data, tables, request.request.dataset_uri, queried_run=queried)


def validate_dataset(
    request: ValidateRequest,
    *,
    registry: Registry,
    data: ObjectStore,
    artifacts: ObjectStore,
    capture: ObjectStore,
    images: ImageJobs | None = None,
    tables: DatasetTables | None = None,
    gpu_jobs: bool = False,
    files: DatasetFiles | None = None,
    now: datetime | None = None,
) -> ValidateResult:
    """Check the training data against the spec's contract, snapshot it and split train/holdout.

    The training data is the dataset and, with `retrain.include_feedback`, the labelled rows served
    in the feedback window (`feedback_since`), each checked by the same contract. When the champion, or another
    version (`learned_by` names it: one rejected or rolled back from), learned from exactly this data with the same
    code, the result says `nothing_new` (unless the run is forced) and no split is written. A spec with
    `training.image` gets its image's job (`images` registers its definition).
    With `merge`, the dataset was checked in parts (`validate_step` planned them): their counts and
    splits are merged; `files` is the dataset when the caller resolved it already.

    Raises
    ------
    DataValidationError
        On a blocking contract failure; the report is written to the run's folder first and the
        registry is not touched.
    """
    now = now or datetime.now(UTC)
    name, run_id = request.request.model_name, request.run_id
    spec = registry.get_spec(name)
    if request.merge:  # the dataset planned in parts, even if a newer one landed meanwhile
        checked = _merged(spec, run_id, artifacts, data, now)
        assert checked.parts is not None
        key = checked.parts.root
    else:
        files = files or _request_dataset(spec, request, data, tables)
        key = files.root
        checked = _one_pass(files, spec, run_id, data, artifacts)
    snapshot, report = checked.snapshot, checked.report
    champion = registry.champion(name)
    feedback = feedback_rows(spec, champion, capture, now, dataset_sha256=snapshot.sha256, registry=registry)
    fingerprint = training_fingerprint(checked.sha256, feedback)
    sources = [
        DataSource(source="dataset", uri=data.uri(key), sha256=snapshot.sha256, rows=checked.rows),
        *checked.views,
    ]
    feedback_report = clean_feedback = None
    if feedback is not None:  # with no row labelled too: where its window starts, the next run's on this dataset
        sources.append(
            DataSource(
                source="feedback",
                uri=capture.uri(model_partition(CAPTURE, name)),
                sha256=feedback.sha256,
                rows=0 if feedback.rows is None else feedback.rows.num_rows,
                since=feedback.since.isoformat(),
            )
        )
    if feedback is not None and feedback.rows is not None:
        clean_feedback, feedback_report = check_contract(feedback.rows, spec, table_checks=False)
        if checked.timestamps is not None:
            checked = replace(
                checked,
                timestamps=pa.chunked_array(
                    [*checked.timestamps.chunks, *as_timestamps(feedback.rows.column("captured_at")).chunks]
                ),
            )
    report = _merged_reports(report, feedback_report)
    report_doc = {
        "model_name": name,
        "run_id": run_id,
        "dataset": snapshot.model_dump(),
        "sources": [source.model_dump() for source in sources],
        "in_parts": checked.parts is not None,
        **report.model_dump(mode="json"),
    }
    report_artifact = artifacts.put(
        run_key(name, run_id, RunFile.VALIDATION_JSON), json.dumps(report_doc, indent=2).encode(), "application/json"
    )
    html = render_contract_html(name, run_id, data.uri(key), report)
    artifacts.put(run_key(name, run_id, RunFile.VALIDATION_HTML), html.encode(), "text/html")
    if report.blocking:
        raise DataValidationError(f"dataset {key} breaks the contract of '{name}': {report.summary()}")
    code = _current_code(spec, artifacts)
    nothing_new, earlier = _learned(registry, name, champion, fingerprint, code, force=request.request.force)
    if nothing_new:
        empty = to_parquet(pa.table({}))
        train = artifacts.put(run_key(name, run_id, RunFile.TRAIN), empty)
        holdout, rows = artifacts.put(run_key(name, run_id, RunFile.HOLDOUT), empty), 0
    else:
        schema = checked.clean.schema if checked.clean is not None else None
        typed_feedback = None
        if clean_feedback is not None:
            typed_feedback = clean_feedback.cast(schema) if schema is not None else clean_feedback
        train, holdout, rows = _split_artifacts(checked, typed_feedback, spec, run_id, artifacts)
    result = ValidateResult(
        model_name=name,
        run_id=run_id,
        reason=request.request.reason,
        trigger=request.request.trigger,
        dataset=snapshot,
        train=train,
        holdout=holdout,
        rows=rows,
        sources=sources,
        fingerprint=fingerprint,
        nothing_new=nothing_new,
        learned_by=nothing_new_from(earlier) if earlier else "",
        spec_changed=nothing_new and _spec_changed(earlier or champion, spec),
        split=spec.data.split,
        trials=_trials(spec) if not nothing_new else [],
        parallel=spec.estimator.search.parallel if spec.estimator.search else 1,
        warnings=[f"{w.check}({w.column}): {w.message}" for w in report.warnings],
        report=report_artifact,
        code=code,
        job=JobPlan() if nothing_new else _job_plan(spec, run_id, images, artifacts, gpu_jobs=gpu_jobs),
    )
    artifacts.put(run_key(name, run_id, RunFile.INPUTS), result.model_dump_json(indent=2).encode(), "application/json")
    return result
