"""The columns of captured traffic and of feedback, besides a model's own features.

Capture files have `META_COLUMNS`, then the model's features, then `OUTPUT_COLUMNS`; their types are
Parquet kinds of the capture writer (`int64`, `double`, `string`, `timestamp_ms`), `label` standing
for the model's output type (`string` for classifiers, `double` for regressors). A spec may not
name a feature like any of them.
"""

from __future__ import annotations

LABEL = "label"
META_COLUMNS: tuple[tuple[str, str], ...] = (
    ("request_id", "string"),
    ("captured_at", "timestamp_ms"),
    ("row_index", "int64"),
    ("model_version", "int64"),
    ("variant", "string"),
    ("latency_ms", "double"),
)
# `score`: for classifiers the probability of the positive (second) class, or of the predicted one
# beyond two classes, so live ROC AUC can be measured once labels arrive.
OUTPUT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("prediction", LABEL),
    ("score", "double"),
    ("shadow_version", "int64"),
    ("shadow_prediction", LABEL),
)
FEEDBACK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("request_id", "string"),
    ("row_index", "int64"),
    ("label", LABEL),
    ("received_at", "timestamp_ms"),
)
# The columns of batch predictions (Parquet types), before the input columns a spec keeps
# (`batch.keep_columns`); `prediction` is a string for classifiers, a double for regressors.
BATCH_OUTPUT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("model_name", "string"),
    ("model_version", "int64"),
    ("row_id", "string"),
    ("prediction", LABEL),
    ("score", "double"),
)
BATCH_PARTITION = "batch_id"  # the Hive partition of one batch's predictions and rejects
RESERVED_COLUMNS = frozenset(name for name, _ in (*META_COLUMNS, *OUTPUT_COLUMNS))
