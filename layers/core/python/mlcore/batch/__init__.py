"""Batch scoring: a plan over the input files, one scoring job per chunk, and a manifest with the counts.

`plan` and `schedule` (the tick's step, starting the batches whose `batch.schedule` fired) need boto3 only
(the core layer); `scoring` (the Batch job) reads the files with
pyarrow and scores them with the same validation and ONNX model as the API; `publish` merges the
chunks' results and registers the predictions in the Glue catalog.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlcore._surface import surface

if TYPE_CHECKING:
    from mlcore.batch.plan import (
        batch_id_for,
        check_batch,
        check_batch_spec,
        chunk_files,
        chunk_runner,
        failure_file,
        overlapping,
        plan_batch,
        read_plan,
        result_file,
        work_file,
    )
    from mlcore.batch.publish import PREDICTIONS_TABLE_SUFFIX, predictions_table, publish_batch
    from mlcore.batch.schedule import NO_CHAMPION, last_firing, scheduled_batch_id, start_scheduled_batches
    from mlcore.batch.scoring import (
        ChunkWriter,
        Reject,
        RowCheck,
        check_rows,
        score_chunk,
        with_view_features,
        write_chunk_failure,
    )

__all__, __getattr__, __dir__ = surface(__name__, __file__)
