"""The end of a batch: every chunk's result merged into the manifest, the predictions registered in Glue.

A batch publishes all of its chunks or nothing: one chunk without a result fails the step, naming
each failed chunk and what it failed with, and withdraws what the others wrote.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from mlcore.batch.plan import WITHDRAWN_FILE, failure_file, result_file, work_file
from mlcore.catalog import (
    BATCH_PARTITION,
    SCORE_CHUNK,
    BatchManifest,
    BatchPlan,
    ChunkResult,
    batch_manifest_key,
    batch_output_prefixes,
    batch_predictions_prefix,
)
from mlcore.errors import BatchScoringError, NotFoundError
from mlcore.registry import utc_now
from mlcore.storage import ObjectStore
from mlcore.tables import register_partition

if TYPE_CHECKING:
    from mypy_boto3_glue import GlueClient

PREDICTIONS_TABLE_SUFFIX = "_predictions"
MAX_LISTED_FAILURES = 5


def predictions_table(model_name: str) -> str:
    """The Glue table of a model's batch predictions (Athena's names: lower case, digits, underscores)."""
    return re.sub(r"[^a-z0-9_]", "_", model_name.lower()) + PREDICTIONS_TABLE_SUFFIX


# Where to look when a chunk left neither a result nor a failure: its runner was stopped from outside.
STOPPED = {
    "batch": "the scoring job stopped without a result (see its Batch job's log)",
    "lambda": f"the scoring function stopped without a result: its time (15 minutes) or memory ran out (see the "
    f"{SCORE_CHUNK} function's log; a lower --lambda-mb sends such a chunk to Batch)",
}


def _chunk_failure(data: ObjectStore, plan: BatchPlan, chunk: str) -> str:
    try:
        failure = json.loads(data.get(work_file(plan.plan_key, failure_file(chunk))))
    except NotFoundError:
        runners = {item["chunk"]: item.get("runner", "batch") for item in json.loads(data.get(plan.chunks_key))}
        return f"chunk {chunk}: {STOPPED[runners[chunk]]}"
    return f"chunk {chunk}: {failure['error_type']}: {failure['message']}"


def _text_or_not(columns: list[tuple[str, str]]) -> list[tuple[str, bool]]:
    return [(name, kind == "string") for name, kind in columns]


# Glue's numbers, narrowest first: the widest of a column's types across chunks reads them all.
WIDTHS = ("tinyint", "smallint", "int", "bigint", "float", "double")


def _width(kind: str) -> int:
    return WIDTHS.index(kind) if kind in WIDTHS else -1


def _withdrawn(plan: BatchPlan, data: ObjectStore) -> str:
    """Withdraw what a failed batch's chunks wrote, so that a read of the output folder finds only published
    batches (a rerun's rows are not doubled): first the mark a chunk still scoring reads before it uploads, then
    the files; the words that say so (and, should S3 refuse, that the files stay, never hiding why it failed)."""
    try:
        data.put(work_file(plan.plan_key, WITHDRAWN_FILE), b"{}", "application/json")
        files = sum(data.delete_under(prefix) for prefix in batch_output_prefixes(plan.output, plan.batch_id))
    except Exception as exc:  # the batch's failure is the message; this is a note to it
        return f" (its chunks' files could not be withdrawn: {type(exc).__name__}: {exc})"
    return f" (what its chunks wrote is withdrawn: {files} file{'s' if files != 1 else ''})" if files else ""


def publish_batch(plan: BatchPlan, *, data: ObjectStore, glue: GlueClient, database: str) -> BatchManifest:
    """The publish step: merge the chunks' results, register the predictions, write the manifest.

    Raises
    ------
    BatchScoringError
        When a chunk has no result: naming the chunks that failed and why (the first few).
    """
    results: list[ChunkResult] = []
    failures: list[str] = []
    for chunk in (f"{i:05d}" for i in range(plan.chunks)):
        try:
            results.append(ChunkResult.model_validate_json(data.get(work_file(plan.plan_key, result_file(chunk)))))
        except NotFoundError:
            failures.append(_chunk_failure(data, plan, chunk))
    if failures:
        listed = "; ".join(failures[:MAX_LISTED_FAILURES])
        more = f" (and {len(failures) - MAX_LISTED_FAILURES} more)" if len(failures) > MAX_LISTED_FAILURES else ""
        raise BatchScoringError(
            f"{len(failures)} of {plan.chunks} chunks failed; nothing was published{_withdrawn(plan, data)}: "
            f"{listed}{more}"
        )
    prefix = batch_predictions_prefix(plan.output)
    partition = f"{prefix}{BATCH_PARTITION}={plan.batch_id}/"
    written = [result for result in results if result.predictions_key]
    columns = written[0].columns if written else []
    # one partition: Athena fails on a file whose column is text where the table has a number (or the reverse); a
    # width may differ, and the table takes the widest (Athena reads an int file as bigint, not the reverse)
    for result in written:
        if _text_or_not(result.columns) != _text_or_not(columns):
            differ = sorted(set(result.columns) ^ set(columns))
            raise BatchScoringError(
                f"chunk {result.chunk}'s predictions have other columns than chunk {written[0].chunk}'s ({differ}); "
                f"nothing was published{_withdrawn(plan, data)}: a kept column has one type in a batch (a CSV gives "
                "it as text: keep a batch's files in one format)"
            )
        pairs = zip(columns, result.columns, strict=True)  # the same names in the same order: checked above
        columns = [(name, max(ours, theirs, key=_width)) for (name, ours), (_, theirs) in pairs]
    table = None
    if columns:
        table = predictions_table(plan.model_name)
        register_partition(
            glue,
            database=database,
            table=table,
            columns=columns,
            location=data.uri(prefix),
            partition=(BATCH_PARTITION, plan.batch_id),
            partition_location=data.uri(partition),
        )
    manifest = BatchManifest(
        batch_id=plan.batch_id,
        model_name=plan.model_name,
        version=plan.version,
        trigger=plan.trigger,
        input=data.uri(plan.input),
        output=data.uri(plan.output),
        files=plan.files,
        chunks=plan.chunks,
        lambda_chunks=plan.lambda_chunks,
        read=sum(result.read for result in results),
        scored=sum(result.scored for result in results),
        rejected=sum(result.rejected for result in results),
        predictions=data.uri(partition),
        rejects=[data.uri(result.rejects_key) for result in results if result.rejects_key],
        table=f"{database}.{table}" if table else None,
        created_at=plan.created_at,
        finished_at=utc_now(),
    )
    data.put(
        batch_manifest_key(plan.output, plan.batch_id), manifest.model_dump_json(indent=2).encode(), "application/json"
    )
    return manifest
