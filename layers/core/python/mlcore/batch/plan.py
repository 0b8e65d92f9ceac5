"""The plan of a batch: the version it scores with, its input files in chunks, where it writes.

A chunk is a run of input files of about `chunk_mb` megabytes (at least one file): one scoring job, in the
scoring image's Lambda function when the chunk is at most `lambda_mb` megabytes, else in Batch.
The plan and the chunk list are written beside the batch's output, where the jobs and the
Distributed Map read them (the Map's items are chunk numbers, never file lists: a state's input
is limited to 256 KB).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from mlcore.catalog import (
    DATA_SUFFIXES,
    BatchChunk,
    BatchPlan,
    BatchRequest,
    ChunkRunner,
    PlanBatchRequest,
    batch_work_key,
)
from mlcore.errors import BadRequestError, NotFoundError, SpecError
from mlcore.registry import ModelVersion, Registry, VersionStatus, utc_now
from mlcore.spec import Batch, ModelSpec, check_not_retired
from mlcore.storage import ObjectStore, S3Uri, StoredObject

PLAN, CHUNKS = "plan.json", "chunks.json"


def work_file(plan_key: str, name: str) -> str:
    """A file of a batch in progress, beside its plan: `results/<chunk>.json`, `failures/<chunk>.json`."""
    return plan_key.removesuffix(PLAN) + name


def result_file(chunk: str) -> str:
    return f"results/{chunk}.json"


def failure_file(chunk: str) -> str:
    return f"failures/{chunk}.json"


# Written by the publish step of a batch that failed, before it withdraws the chunks' files: a chunk still scoring
# (a Map does not stop a running invocation) then uploads nothing.
WITHDRAWN_FILE = "withdrawn.json"


def batch_id_for(at: datetime) -> str:
    """A batch's id: when it started (sortable), and a random part so two starts never collide."""
    return f"{at:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _prefix(uri: str | None, field: str, bucket: str) -> str:
    """The key prefix of an s3:// URI in the data bucket; the reason, naming `field`, when it is not one."""
    if uri is None:
        raise BadRequestError(f"{field}: no {field} given, and the spec has no batch.{field}", field=field)
    try:
        location = S3Uri.parse(uri)
    except ValueError as exc:
        raise BadRequestError(f"{field}: {exc}", field=field) from exc
    if location.bucket != bucket:
        raise BadRequestError(
            f"{field}: {uri} is outside the platform's data bucket s3://{bucket}/ (the only bucket batches "
            "may read and write)",
            field=field,
        )
    if location.key and not location.key.endswith("/"):
        raise BadRequestError(f"{field}: {uri} must be a prefix, ending in /", field=field)
    return location.key


def overlapping(one: str, other: str) -> bool:
    """Whether two prefixes (or S3 URIs) share objects: either lies inside the other."""
    return one.startswith(other) or other.startswith(one)


def _apart(
    input_prefix: str, output_prefix: str, where: str = "", error: type[BadRequestError] = BadRequestError
) -> None:
    if overlapping(input_prefix, output_prefix):
        raise error(
            f"{where}output: the output prefix may not contain the input, nor lie inside it (a batch would read its "
            "own predictions the next time)",
            field=f"{where}output",
        )


def check_batch_spec(batch: Batch, bucket: str) -> None:
    """A spec's `batch` locations, at registration, by the rules a batch's plan applies (a scheduled batch would
    otherwise fail at each tick, where only its execution says why).

    Raises
    ------
    SpecError
        Naming `batch.input` or `batch.output`.
    """
    given = {field: uri for field, uri in (("input", batch.input), ("output", batch.output)) if uri is not None}
    try:
        prefixes = {field: _prefix(uri, field, bucket) for field, uri in given.items()}
    except BadRequestError as error:
        raise SpecError(f"batch.{error.message}", field=f"batch.{error.field}") from None
    if len(prefixes) == 2:
        _apart(prefixes["input"], prefixes["output"], "batch.", SpecError)


def chunk_files(files: list[StoredObject], chunk_bytes: int) -> list[list[str]]:
    """Files in key order, grouped into runs of at least one file and at most `chunk_bytes` (unless one is larger)."""
    chunks: list[list[str]] = []
    size = 0
    for item in sorted(files, key=lambda item: item.key):
        if not chunks or size + item.size > chunk_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append(item.key)
        size += item.size
    return chunks


def chunk_runner(size: int, lambda_bytes: int) -> ChunkRunner:
    """Where a chunk of `size` bytes is scored: Lambda up to `lambda_bytes` (0: never), else a Batch job."""
    return "lambda" if lambda_bytes > 0 and size <= lambda_bytes else "batch"


@dataclass(frozen=True)
class CheckedBatch:
    """A batch request as its plan reads it: where it reads and writes, the version that scores, the input files."""

    spec: ModelSpec
    input: str
    output: str
    version: ModelVersion
    files: list[StoredObject]


def check_batch(request: BatchRequest, *, registry: Registry, data: ObjectStore) -> CheckedBatch:
    """A batch request checked as its plan step checks it (the CLI checks it so before it starts a batch, which would
    otherwise fail at its plan and alert the platform's topic for a typo).

    Raises
    ------
    BadRequestError
        For an input or output outside the data bucket or not a prefix, an output inside the input (or
        the reverse), or a version that is not approved.
    NotFoundError
        For an unknown model or version, a model without a champion, or an input without data files.
    """
    spec = registry.get_spec(request.model_name)
    check_not_retired(spec)
    input_prefix = _prefix(request.input or spec.batch.input, "input", data.bucket)
    output_prefix = _prefix(request.output or spec.batch.output, "output", data.bucket)
    _apart(input_prefix, output_prefix)
    if request.version is not None:
        version = registry.get_version(request.model_name, request.version)
    else:
        champion = registry.champion(request.model_name)
        if champion is None:
            raise NotFoundError(f"model {request.model_name!r} has no champion to score with; pass --version")
        version = champion
    if version.status is not VersionStatus.APPROVED:
        raise BadRequestError(
            f"version: version {version.version} of {request.model_name} is {version.status.value}: only an "
            "approved version scores batches",
            field="version",
        )
    files = [item for item in data.list_objects(input_prefix) if item.key.endswith(DATA_SUFFIXES)]
    if not files:
        raise NotFoundError(f"no .csv, .csv.gz or .parquet file under s3://{data.bucket}/{input_prefix}")
    return CheckedBatch(spec, input_prefix, output_prefix, version, files)


def plan_batch(planned: PlanBatchRequest, *, registry: Registry, data: ObjectStore) -> BatchPlan:
    """The plan step: check the request (`check_batch`), list and chunk the input, write the plan."""
    request = planned.request
    checked = check_batch(request, registry=registry, data=data)
    spec, input_prefix, output_prefix, version, files = (
        checked.spec, checked.input, checked.output, checked.version, checked.files
    )  # fmt: skip
    sizes = {item.key: item.size for item in files}
    lambda_bytes = round(request.lambda_mb * 1_000_000)  # a float of megabytes, to the byte
    chunks = [
        BatchChunk(chunk=f"{i:05d}", keys=keys, runner=chunk_runner(sum(sizes[key] for key in keys), lambda_bytes))
        for i, keys in enumerate(chunk_files(files, max(1, int(request.chunk_mb * 1_000_000))))
    ]
    plan = BatchPlan(
        batch_id=planned.batch_id,
        model_name=request.model_name,
        version=version.version,
        model_sha256=version.artifacts["model"].sha256,
        bucket=data.bucket,
        input=input_prefix,
        output=output_prefix,
        keep_columns=spec.batch.keep_columns,
        files=len(files),
        input_bytes=sum(sizes.values()),
        chunks=len(chunks),
        lambda_chunks=sum(chunk.runner == "lambda" for chunk in chunks),
        plan_key=batch_work_key(output_prefix, planned.batch_id, PLAN),
        chunks_key=batch_work_key(output_prefix, planned.batch_id, CHUNKS),
        created_at=utc_now(),
        trigger=request.trigger,
    )
    document = {"plan": plan.model_dump(mode="json"), "chunks": [chunk.model_dump() for chunk in chunks]}
    data.put(plan.plan_key, json.dumps(document).encode(), "application/json")
    items = [{"chunk": chunk.chunk, "runner": chunk.runner} for chunk in chunks]
    data.put(plan.chunks_key, json.dumps(items).encode(), "application/json")
    return plan


def read_plan(data: ObjectStore, plan_key: str) -> tuple[BatchPlan, dict[str, list[str]]]:
    """A batch's plan and each chunk's files, as the plan step wrote them."""
    document = json.loads(data.get(plan_key))
    chunks = [BatchChunk.model_validate(chunk) for chunk in document["chunks"]]
    return BatchPlan.model_validate(document["plan"]), {chunk.chunk: chunk.keys for chunk in chunks}
