"""The model spec: one YAML file per model, typed."""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlcore.catalog import (
    ANY_TASK,
    BATCH_OUTPUT_COLUMNS,
    BATCH_PARTITION,
    CUSTOM,
    ESTIMATORS,
    IMAGE,
    MAX_GPUS,
    RESERVED_COLUMNS,
    SegmentMetrics,
    ViewBinding,
    fargate_size_error,
    gpu_size_error,
    not_a_parameter,
    unknown_parameter,
)
from mlcore.errors import ModelRetiredError, SpecError
from mlcore.schedules import parse_schedule

NAME_PATTERN = r"^[a-z][a-z0-9-]{1,47}$"
# A Step Functions standard execution lasts a year at most: a manual approval cannot wait longer.
MAX_APPROVAL_HOURS = 365 * 24
COLUMN_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
GLUE_TABLE_PATTERN = r"^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$"  # database.table
MAX_QUERY_CHARS = 100_000  # well inside Athena's 256 KB query and a Step Functions state's 256 KB
FEATURE_REF_PATTERN = r"^[a-z][a-z0-9-]{1,47}\.[A-Za-z_][A-Za-z0-9_]{0,63}$"  # view.feature
ENTRYPOINT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
YAML_BOOLEANS = "YAML reads yes, no, on, off unquoted as booleans"
CLASSIFICATION_METRICS = {"accuracy", "f1", "precision", "recall", "roc_auc", "average_precision", "log_loss"}
# Metrics of a classifier named with their parameter: `recall_at_precision@0.9` is the best recall
# among the decision thresholds whose precision is at least 0.9.
PARAMETRIC_METRICS = {"recall_at_precision", "precision_at_recall"}
REGRESSION_METRICS = {"rmse", "mae", "r2"}
# Metrics where lower is better; the gate compares in the right direction.
LOWER_IS_BETTER = {"rmse", "mae", "log_loss"}
# How much worse than on its own holdout the champion may score on a run's before a passing candidate waits for a
# person, for a metric where higher is better (their scores are at most 1): labels swapped score the champion far
# below its own, and the candidate trained on them above it.
CHAMPION_DROP = 0.2


def _as_label(value: Any) -> Any:
    """A label as the contract reads the target's values: 1 and 1.0 are "1" (a number's text without a fraction)."""
    whole = isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()
    return str(int(value)) if whole else value


class FieldError(ValueError):
    """A validator's error about a field below the model it validates (`metrics.minimum`, not `metrics`): the
    spec's error names that field."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def metric_parts(metric: str) -> tuple[str, float | None]:
    """A metric's name and its parameter: `recall_at_precision@0.9` -> ("recall_at_precision", 0.9).

    Raises
    ------
    ValueError
        When a parametric metric has no parameter in (0, 1], or another metric has one.
    """
    name, at, parameter = metric.partition("@")
    if name not in PARAMETRIC_METRICS:
        if at:
            raise ValueError(f"metric '{name}' takes no parameter (got '{metric}')")
        return name, None
    try:
        value = float(parameter)
    except ValueError:
        value = math.nan
    if not 0 < value <= 1:  # NaN fails too
        raise ValueError(f"metric '{metric}' needs a parameter in (0, 1], e.g. '{name}@0.9'")
    return name, value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Task(StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


class FeatureType(StrEnum):
    NUMERIC = "numeric"
    INTEGER = "integer"
    CATEGORICAL = "categorical"


class Severity(StrEnum):
    BLOCKING = "blocking"
    WARNING = "warning"


class Feature(_Strict):
    name: Annotated[str, Field(pattern=COLUMN_PATTERN)]
    type: FeatureType
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    allow_unseen: bool = False
    severity: Severity = Severity.BLOCKING
    drift_threshold: float | None = None

    @property
    def is_numeric(self) -> bool:
        return self.type in (FeatureType.NUMERIC, FeatureType.INTEGER)

    @property
    def is_integer(self) -> bool:
        return self.type is FeatureType.INTEGER

    @model_validator(mode="after")
    def _consistent(self) -> Feature:
        if self.is_numeric and self.categories is not None:
            raise FieldError(("categories",), "categories are only for categorical features")
        if not self.is_numeric and (self.min is not None or self.max is not None):
            raise FieldError(("min" if self.min is not None else "max",), "min/max are only for numeric features")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise FieldError(("min",), f"min {self.min} is greater than max {self.max}")
        return self


class Range(_Strict):
    """A numeric parameter's range in a random search: integers when both ends are written as integers."""

    low: int | float
    high: int | float
    log: bool = False  # draw uniformly on a log scale

    def draw(self, rng: random.Random) -> int | float:
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        if isinstance(self.low, int) and isinstance(self.high, int):
            return min(max(round(value), self.low), self.high)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise ValueError(f"low {self.low:g} is greater than high {self.high:g}")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


DRAWS_PER_TRIAL = 20  # a random search stops drawing after this many tries per trial: its space is smaller


class Search(_Strict):
    """A hyperparameter search: trials drawn from `params`, scored by cross-validation on the training set."""

    params: dict[str, list[Any] | Range] = Field(min_length=1)
    trials: int = Field(default=8, ge=1, le=200)
    strategy: Literal["random", "grid"] = "random"
    parallel: int = Field(default=4, ge=1, le=32)  # trials training at once
    seed: int = 1
    folds: int = Field(default=3, ge=2, le=10)

    @field_validator("params", mode="before")
    @classmethod
    def _ranges(cls, params: Any) -> Any:
        """A mapping is a range: its own errors, rather than "not a list", name what is wrong."""
        if not isinstance(params, dict):
            return params
        ranges = {}
        for name, values in params.items():
            try:
                ranges[name] = Range.model_validate(values) if isinstance(values, dict) else values
            except ValidationError as exc:
                raise ValueError(f"{name}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from exc
        return ranges

    @model_validator(mode="after")
    def _grid_is_listed(self) -> Search:
        ranges = sorted(name for name, values in self.params.items() if isinstance(values, Range))
        if self.strategy == "grid" and ranges:
            raise ValueError(f"a grid search lists every value: {ranges} are ranges")
        empty = sorted(name for name, values in self.params.items() if values == [])
        if empty:
            raise ValueError(f"search.params {empty} list no value")
        return self

    def plan(self) -> list[dict[str, Any]]:
        """The trials' parameters: a grid's first `trials` combinations, or up to `trials` distinct seeded random
        draws (fewer when the space has fewer: a trial run twice would only cost twice)."""
        names = sorted(self.params)
        if self.strategy == "grid":
            grid = itertools.product(*(self.params[name] for name in names))  # lists only (validated)
            return [dict(zip(names, values, strict=True)) for values in itertools.islice(grid, self.trials)]
        rng = random.Random(self.seed)
        trials: dict[str, dict[str, Any]] = {}  # by their parameters' repr: lists may hold unhashable values
        for _ in range(self.trials * DRAWS_PER_TRIAL):
            trial = {name: self._draw(name, rng) for name in names}
            trials.setdefault(repr(trial), trial)
            if len(trials) == self.trials:
                break
        return list(trials.values())

    def _draw(self, name: str, rng: random.Random) -> Any:
        values = self.params[name]
        return values.draw(rng) if isinstance(values, Range) else rng.choice(values)


class Estimator(_Strict):
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    search: Search | None = None
    # Classifiers: weigh each training row by its class, "balanced" (inverse class frequency) or per label.
    class_weight: Literal["balanced"] | dict[str, Annotated[float, Field(gt=0)]] | None = None
    # kind custom: `package.module:build`, in the code uploaded with `mlops code upload`; build(**params)
    # returns an unfitted scikit-learn compatible estimator (it gets the platform's preprocessing).
    entrypoint: Annotated[str, Field(pattern=ENTRYPOINT_PATTERN)] | None = None

    @field_validator("class_weight", mode="before")
    @classmethod
    def _weights(cls, weights: Any) -> Any:
        """Either form named in words (a union's error would name its first branch alone: "should be 'balanced'");
        a label is text, as in `classes` (YAML's unquoted 1 is the label "1")."""
        forms = "'balanced' or a weight per label, e.g. {\"yes\": 3}"
        if weights is None or weights == "balanced":
            return weights
        if not isinstance(weights, dict):
            raise ValueError(f"expected {forms}")
        if any(isinstance(label, bool) for label in weights):
            raise ValueError(f'a label read as true/false: quote it, e.g. {{"yes": 3}} ({YAML_BOOLEANS})')
        for label, weight in weights.items():
            if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
                raise FieldError((str(label),), f"a weight is a number above 0, got {weight!r} ({forms})")
        return {str(_as_label(label)): weight for label, weight in weights.items()}

    @field_validator("kind")
    @classmethod
    def _known(cls, kind: str) -> str:
        if kind not in ESTIMATORS:
            import difflib

            close = difflib.get_close_matches(kind, list(ESTIMATORS), n=1, cutoff=0.8)
            hint = f"did you mean '{close[0]}'?" if close else f"one of {sorted(ESTIMATORS)}"
            raise ValueError(f"unknown estimator ({hint})")
        return kind

    @model_validator(mode="after")
    def _entrypoint(self) -> Estimator:
        if (self.kind == CUSTOM) != (self.entrypoint is not None):
            raise FieldError(("entrypoint",), f"required for estimator kind '{CUSTOM}', and only for it")
        return self


class Threshold(_Strict):
    """How a binary classifier's decision threshold is picked on the holdout (probabilities are unchanged)."""

    optimize: Literal["f1", "recall_at_precision"]
    precision: float | None = Field(default=None, gt=0, le=1)  # the precision recall_at_precision must keep

    @model_validator(mode="after")
    def _parameter(self) -> Threshold:
        if self.optimize == "recall_at_precision" and self.precision is None:
            raise FieldError(("precision",), "optimize 'recall_at_precision' needs threshold.precision, e.g. 0.9")
        if self.optimize == "f1" and self.precision is not None:
            raise FieldError(("precision",), "threshold.precision is for optimize 'recall_at_precision'")
        return self


@dataclass(frozen=True)
class SegmentGap:
    """The widest gap in the primary metric between two segments of one column."""

    column: str
    low: SegmentMetrics
    high: SegmentMetrics
    metric: str

    @property
    def gap(self) -> float:
        return self.high.metrics[self.metric] - self.low.metrics[self.metric]

    def __str__(self) -> str:
        metric = self.metric
        return (
            f"{metric} differs by {self.gap:.4f} across the segments of {self.column} "
            f"({self.low.value} {self.low.metrics[metric]:.4f}, {self.high.value} {self.high.metrics[metric]:.4f})"
        )


class Metrics(_Strict):
    primary: str
    minimum: dict[str, float] = Field(default_factory=dict)
    # How much worse than the champion (in the primary metric) a challenger may be and still pass.
    tolerance: float = Field(default=0.0, ge=0)
    # With a confidence, the gate also needs the lower end of the paired bootstrap interval of
    # (challenger - champion) on the shared holdout above -tolerance: noise is not an improvement.
    confidence: float | None = Field(default=None, gt=0, lt=1)
    # Binary classifiers: the decision threshold serving labels rows by (default: the likelier class).
    threshold: Threshold | None = None
    # Features (categorical or integer) whose values slice the holdout: every metric is reported per value.
    segments: list[str] = Field(default_factory=list)
    # The widest gap in the primary metric allowed between two segments of one column (unset: reported only);
    # segments with fewer holdout rows than min_segment_rows are reported but not gated (too noisy to judge).
    max_segment_gap: float | None = Field(default=None, gt=0)
    min_segment_rows: int = Field(default=30, gt=0)
    # A candidate that passes while the champion scores more than this below its own holdout's primary metric on the
    # run's holdout (in the metric's units) waits for a person, whatever `approval` says (see champion_drop_limit).
    max_champion_drop: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _segment_gate(self) -> Metrics:
        if self.max_segment_gap is not None and not self.segments:
            raise FieldError(("max_segment_gap",), "needs metrics.segments: the columns whose segments it compares")
        return self

    @property
    def champion_drop_limit(self) -> float | None:
        """`max_champion_drop`, else CHAMPION_DROP for a metric where higher is better (none for an error metric:
        its units are the label's)."""
        if self.max_champion_drop is not None:
            return self.max_champion_drop
        name, _ = metric_parts(self.primary)
        return None if name in LOWER_IS_BETTER else CHAMPION_DROP

    def segment_gaps(self, segments: list[SegmentMetrics]) -> list[SegmentGap]:
        """Per segment column, the gap between its worst and best segment of at least `min_segment_rows`
        holdout rows (a column with fewer than two such segments has none)."""
        gaps = []
        for column in self.segments:
            judged = [
                segment
                for segment in segments
                if segment.column == column
                and segment.rows >= self.min_segment_rows
                and self.primary in segment.metrics
            ]
            if len(judged) >= 2:  # a gap needs two segments
                ranked = sorted(judged, key=lambda segment: segment.metrics[self.primary])
                gaps.append(SegmentGap(column, ranked[0], ranked[-1], self.primary))
        return gaps


class Drift(_Strict):
    threshold: float = Field(default=0.1, gt=0)
    # How far live performance (from feedback labels) may fall below the holdout's before it is a finding.
    max_degradation: float = Field(default=0.05, ge=0)
    dataset_share: float = Field(default=0.5, gt=0, le=1)
    window_hours: int = Field(default=24, gt=0)
    min_rows: int = Field(default=100, gt=0)


def _schedule(expression: str) -> str:
    parse_schedule(expression)  # ScheduleError (a ValueError) names what is wrong
    return expression


# rate(...) or cron(...), EventBridge's syntax, in UTC
ScheduleExpression = Annotated[str, AfterValidator(_schedule)]


class Monitor(_Strict):
    every_minutes: int = Field(default=60, gt=0)


class Capture(_Strict):
    sample_rate: float = Field(default=1.0, ge=0, le=1)


class Retrain(_Strict):
    """When the platform retrains a model by itself; every trigger goes through the same request step."""

    schedule: ScheduleExpression | None = None
    on_new_data: bool = False  # a dataset landing under datasets/<model>/
    debounce_minutes: float = Field(default=15, ge=0)  # files landing within this start one run
    on_drift: bool = True  # dataset drift found by the monitor
    on_degradation: bool = True  # live performance (from feedback) below the holdout's
    include_feedback: bool = False  # train on the labelled served rows too
    cooldown_hours: float = Field(default=6, ge=0)
    max_per_day: int = Field(default=2, ge=0)

    def allows(self, trigger: str) -> bool:
        """Whether this trigger may start a retraining (a person always may)."""
        return {
            "manual": True,
            "schedule": self.schedule is not None,
            "new_data": self.on_new_data,
            "drift": self.on_drift,
            "degradation": self.on_degradation,
        }[trigger]


class Resources(_Strict):
    """What each of the model's training jobs gets: Fargate's sizes (Spot: cheaper, may be interrupted),
    or, with GPUs, an EC2 instance of the GPU queue (a deployment with `mlops:gpuJobs`)."""

    vcpus: float = 2
    memory_gb: float = 8
    spot: bool = False
    gpu: int = Field(default=0, ge=0, le=MAX_GPUS)

    @model_validator(mode="after")
    def _runnable(self) -> Resources:
        if self.gpu:
            if self.spot:
                raise ValueError("gpu: the GPU queue runs on-demand instances; drop spot")
            if self.vcpus != int(self.vcpus) or self.vcpus < 1:
                raise ValueError(f"vcpus {self.vcpus:g}: a GPU job gets whole vCPUs (1 or more)")
            problem = gpu_size_error(self.vcpus, self.memory_gb, self.gpu)
            if problem:
                raise ValueError(problem)
            return self
        problem = fargate_size_error(self.vcpus, self.memory_gb)
        if problem:
            raise ValueError(problem)
        return self


# An ECR image: <account>.dkr.ecr.<region>.amazonaws.com/<repository>, by tag or (better) by digest.
IMAGE_PATTERN = (
    r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9][a-z0-9._/-]*"
    r"(:[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$"
)


class Training(_Strict):
    resources: Resources = Resources()
    # The model's own training image (estimator kind `own_image`), implementing the image contract (README).
    image: str | None = None

    @field_validator("image")
    @classmethod
    def _ecr_image(cls, image: str | None) -> str | None:
        if image is not None and not re.fullmatch(IMAGE_PATTERN, image):
            raise ValueError(
                f"{image!r} is not an ECR image: <account>.dkr.ecr.<region>.amazonaws.com/<repository>, with "
                ":<tag> or @sha256:<digest>"
            )
        return image


class Batch(_Strict):
    """Batch scoring: the defaults of `mlops batch predict` (input, output) and the input columns kept."""

    input: str | None = None  # s3://<data bucket>/<prefix>/ of .csv, .csv.gz or .parquet files
    output: str | None = None  # s3://<data bucket>/<prefix>/: predictions/, rejects/, manifests/
    keep_columns: list[str] = Field(default_factory=list)  # input columns copied beside each prediction
    schedule: ScheduleExpression | None = None  # scores input into output

    @field_validator("input", "output")
    @classmethod
    def _s3_prefix(cls, uri: str | None) -> str | None:
        if uri is not None and not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/(.+/)?", uri):
            raise ValueError(f"{uri!r} is not an S3 prefix (s3://bucket/prefix/, ending in /)")
        return uri

    @model_validator(mode="after")
    def _schedule_knows_where(self) -> Batch:
        missing = [name for name in ("input", "output") if getattr(self, name) is None]
        if self.schedule is not None and missing:
            raise FieldError(("schedule",), f"a scheduled batch needs batch.{' and batch.'.join(missing)}")
        return self

    @field_validator("keep_columns")
    @classmethod
    def _not_an_output(cls, keep_columns: list[str]) -> list[str]:
        clash = sorted(set(keep_columns) & {*(name for name, _ in BATCH_OUTPUT_COLUMNS), BATCH_PARTITION})
        if clash:
            raise ValueError(f"{clash} are columns the predictions already have")
        return keep_columns


class DatasetSource(_Strict):
    """A model's dataset when it is not the newest upload under `datasets/<model>/`: a Glue table, or an
    Athena query over tables (one SELECT), each of the platform's datasets database with files under the
    model's prefix."""

    glue_table: Annotated[str, Field(pattern=GLUE_TABLE_PATTERN)] | None = None
    athena_sql: Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS)] | None = None

    @model_validator(mode="after")
    def _one(self) -> DatasetSource:
        if (self.glue_table is None) == (self.athena_sql is None):
            raise ValueError("data.source names one of glue_table (database.table) or athena_sql (a SELECT)")
        if self.athena_sql is not None:
            from mlcore.queries import query_tables  # sqlglot: only for specs that query

            query_tables(self.athena_sql)  # a QueryError is a ValueError: the spec's error names the field
        return self


class Data(_Strict):
    min_rows: int = Field(default=100, gt=0)
    # Where the rows come from (unset: the newest upload under datasets/<model>/).
    source: DatasetSource | None = None
    max_rows: int | None = None
    # Columns (features or not, e.g. an id) whose non-null values must be unique.
    unique: list[str] = Field(default_factory=list)
    # Freshness: the newest value of this timestamp column must be at most max_age_hours old.
    timestamp_column: str | None = None
    max_age_hours: float | None = Field(default=None, gt=0)
    # Severity of the table-level checks: row count, uniqueness, freshness.
    severity: Severity = Severity.BLOCKING
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    seed: int = 42
    # random: rows drawn at random; stratified: each class in its share (classifiers); time: the
    # newest `holdout_fraction` by `timestamp_column`, so a model is judged on the future.
    split: Literal["random", "stratified", "time"] = "random"
    cv_folds: int | None = Field(default=None, ge=2, le=20)  # cross-validation on the training set
    # A folder dataset is checked in parts by a Distributed Map when it is large (auto), always, or never.
    distributed: Literal["auto", "always", "never"] = "auto"

    @property
    def query(self) -> str | None:
        """The Athena query the dataset is, if it is one (`source.athena_sql`)."""
        return self.source.athena_sql if self.source is not None else None

    @model_validator(mode="after")
    def _time_split(self) -> Data:
        if self.split == "time" and self.timestamp_column is None:
            raise FieldError(("split",), "'time' needs data.timestamp_column")
        if self.split == "time" and self.distributed == "always":
            raise FieldError(("split",), "'time' needs every row's time at once: not with data.distributed 'always'")
        return self


class ModelSpec(_Strict):
    """A model's spec; see README.md for the file format."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    description: str = ""
    # The model card's: what the model is for (and not for), and what is known to limit it.
    intended_use: str = ""
    limitations: str = ""
    task: Task
    target: str
    # Classifiers: the target's labels, when they are known (the contract refuses a row with another: a typo in
    # the data would otherwise train a class of its own). Numbers are labels as their text (0 is "0").
    classes: list[str] | None = None
    features: Annotated[list[Feature], Field(min_length=1)]
    estimator: Estimator
    metrics: Metrics
    data: Data = Data()
    drift: Drift = Drift()
    monitor: Monitor = Monitor()
    capture: Capture = Capture()
    retrain: Retrain = Retrain()
    training: Training = Training()
    batch: Batch = Batch()
    approval: Literal["auto", "manual"] = "auto"
    # `manual`: the training pipeline waits this long for a person's decision, then rejects the version.
    approval_timeout_hours: Annotated[float, Field(gt=0, le=MAX_APPROVAL_HOURS)] = 168.0
    # Features taken from feature views (`view.feature`): point in time at training, from the online
    # store at prediction. Registration adds each to `features` and fills `views` from the view.
    features_from: list[Annotated[str, Field(pattern=FEATURE_REF_PATTERN)]] = Field(default_factory=list)
    views: dict[str, ViewBinding] = Field(default_factory=dict)
    # A retired model serves, trains, scores and is checked no more; its records stay. `false` brings it back.
    retired: bool = False

    @field_validator("classes", mode="before")
    @classmethod
    def _labels(cls, value: Any) -> Any:
        """Labels as the contract reads the target's values: as text (a number's, as written)."""
        if not isinstance(value, list):
            return value
        if any(isinstance(label, bool) for label in value):
            raise ValueError(f"a label read as true/false: quote it ({YAML_BOOLEANS})")
        return [_as_label(v) for v in value]  # another float stays one: not a label

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        names = [f.name for f in self.features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise FieldError(("features",), f"duplicate feature names: {duplicates}")
        if self.target in names:
            raise FieldError(("target",), f"target '{self.target}' is also listed as a feature")
        reserved = sorted(RESERVED_COLUMNS.intersection([*names, self.target]))
        if reserved:
            field = "target" if self.target in reserved else "features"
            raise FieldError((field,), f"column names {reserved} are reserved for the capture of served traffic")
        if ESTIMATORS[self.estimator.kind].task not in (self.task, ANY_TASK):
            raise FieldError(
                ("estimator", "kind"), f"estimator '{self.estimator.kind}' does not fit task '{self.task}'"
            )
        if self.data.split == "stratified" and self.task is not Task.CLASSIFICATION:
            raise FieldError(("data", "split"), "'stratified' is for classifiers")
        classifier = self.task is Task.CLASSIFICATION
        self._metrics()
        if not classifier and self.metrics.threshold:
            raise FieldError(("metrics", "threshold"), "metrics.threshold is for classifiers")
        if not classifier and self.estimator.class_weight:
            raise FieldError(("estimator", "class_weight"), "estimator.class_weight is for classifiers")
        self._classes()
        self._segments()
        self._own_image()
        self._from_views()
        return self

    def _metrics(self) -> None:
        """The primary metric and each minimum's, of the task and with a parameter where one is taken."""
        classifier = self.task is Task.CLASSIFICATION
        allowed = CLASSIFICATION_METRICS | PARAMETRIC_METRICS if classifier else REGRESSION_METRICS
        for field, metric in [("primary", self.metrics.primary), *(("minimum", m) for m in self.metrics.minimum)]:
            try:
                name = metric_parts(metric)[0]
            except ValueError as exc:  # a parameter out of (0, 1], or one given to a metric that takes none
                raise FieldError(("metrics", field), str(exc)) from exc
            if name not in allowed:
                message = f"metric '{metric}' is not one of {sorted(allowed)} for task '{self.task}'"
                raise FieldError(("metrics", field), message)

    def _classes(self) -> None:
        if self.classes is None:
            return
        if self.task is not Task.CLASSIFICATION:
            raise FieldError(("classes",), "classes are for classifiers")
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise FieldError(("classes",), f"expected two or more distinct labels, got {self.classes}")
        if self.metrics.threshold is not None and len(self.classes) != 2:
            message = f"metrics.threshold is for binary classifiers; classes lists {len(self.classes)}"
            raise FieldError(("metrics", "threshold"), message)

    def _segments(self) -> None:
        for column in self.metrics.segments:
            feature = next((f for f in self.features if f.name == column), None)
            if feature is None or feature.type is FeatureType.NUMERIC:
                raise FieldError(
                    ("metrics", "segments"), f"'{column}' is not a categorical or integer feature of the spec"
                )

    def _from_views(self) -> None:
        """Each `features_from` resolved (by registration) to a view and a feature of the spec's contract."""
        names = set(self.feature_names)
        for index, ref in enumerate(self.features_from):
            view, feature = ref.split(".", 1)
            binding = self.views.get(view)
            if binding is None or feature not in binding.features or feature not in names:
                raise FieldError(
                    ("features_from", index),
                    f"'{ref}' is not resolved; register the spec with `mlops models "
                    "register`, which reads the feature views",
                )
        if set(self.views) != {ref.split(".", 1)[0] for ref in self.features_from}:
            raise FieldError(("views",), "filled by registration from features_from; do not write it")
        if self.features_from and self.data.timestamp_column is None:
            raise FieldError(
                ("data", "timestamp_column"), "features_from needs data.timestamp_column: the time of each label row"
            )

    def _own_image(self) -> None:
        """An image trains by itself: the platform's search, cross-validation and class weights do not reach it."""
        if (self.estimator.kind == IMAGE) != (self.training.image is not None):
            raise FieldError(("training", "image"), f"required for estimator kind '{IMAGE}', and only for it")
        if self.training.image is None:
            return
        if self.training.resources.gpu:
            raise FieldError(("training", "resources", "gpu"), "a model's own image runs on Fargate, which has no GPUs")
        if self.data.distributed == "always":
            raise FieldError(
                ("data", "distributed"), "'always': a model's own image reads one train and one holdout file"
            )
        unsupported = [
            name
            for name, value in (
                ("estimator.search", self.estimator.search),
                ("estimator.class_weight", self.estimator.class_weight),
                ("data.cv_folds", self.data.cv_folds),
            )
            if value is not None
        ]
        if unsupported:
            also = f" (so do {', '.join(unsupported[1:])})" if unsupported[1:] else ""
            message = f"an image trains by itself; pass what it needs in estimator.params{also}"
            raise FieldError(tuple(unsupported[0].split(".")), message)

    @property
    def parametric_metrics(self) -> list[str]:
        """The parametric metrics the spec names (`recall_at_precision@0.9`), which a run reports too."""
        return sorted(m for m in {self.metrics.primary, *self.metrics.minimum} if "@" in m)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def view_features(self) -> set[str]:
        """The features the spec takes from its feature views: not in its datasets, the pipeline joins them in."""
        return {name for binding in self.views.values() for name in binding.features}

    def feature(self, name: str) -> Feature:
        return next(f for f in self.features if f.name == name)

    def joins_view(self, binding: ViewBinding, left_out: Collection[str], *, keyed: bool) -> bool:
        """Whether rows that leave out these features of a view read them from it: when they carry its keys
        (`keyed`), or when one left out may not be null, which only the keys can give (a row without them is then
        refused naming them). Otherwise the nullable ones left out are missing, as the API's document allows."""
        return bool(left_out) and (keyed or any(not self.feature(name).nullable for name in left_out))

    def drift_threshold(self, feature: Feature) -> float:
        return feature.drift_threshold if feature.drift_threshold is not None else self.drift.threshold


class ViewSource(_Strict):
    """Where a view's rows come from when `mlops features ingest VIEW` is given no file: one of these."""

    s3: Annotated[str, Field(pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.*$")] | None = None
    glue_table: Annotated[str, Field(pattern=GLUE_TABLE_PATTERN)] | None = None
    athena_sql: str | None = None

    @model_validator(mode="after")
    def _one(self) -> ViewSource:
        given = [name for name in ("s3", "glue_table", "athena_sql") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"a source is one of s3, glue_table or athena_sql (got {given or 'none'})")
        return self


class ViewDrift(_Strict):
    """How a view's values are watched, once for every model that takes them: the newest window of event
    times against the window before it."""

    threshold: float = Field(default=0.1, gt=0)  # a feature's own drift_threshold wins
    window_hours: float = Field(default=24, gt=0)
    reference_hours: float = Field(default=168, gt=0)
    min_rows: int = Field(default=100, gt=0)  # in each window, else the check says not enough data
    every_minutes: int = Field(default=60, gt=0)  # how often the platform's tick checks it

    def threshold_of(self, feature: Feature) -> float:
        return feature.drift_threshold if feature.drift_threshold is not None else self.threshold


class FeatureView(_Strict):
    """A feature view: features of an entity over time (see README.md, Feature store)."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    description: str = ""
    owner: Annotated[str, Field(min_length=1)]
    entities: Annotated[list[Annotated[str, Field(pattern=COLUMN_PATTERN)]], Field(min_length=1)]
    timestamp: Annotated[str, Field(pattern=COLUMN_PATTERN)]  # the time each row's values were true
    ttl_hours: float = Field(gt=0)  # how long a value stays usable, at training and at prediction
    online: bool = False  # materialized into the online store, for enrichment at prediction
    source: ViewSource | None = None
    features: Annotated[list[Feature], Field(min_length=1)]
    drift: ViewDrift = Field(default_factory=ViewDrift)

    @model_validator(mode="after")
    def _consistent(self) -> FeatureView:
        columns = [*self.entities, self.timestamp, *(f.name for f in self.features)]
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise ValueError(f"columns named twice (entities, timestamp, features): {duplicates}")
        reserved = sorted(RESERVED_COLUMNS.intersection(columns))
        if reserved:
            raise ValueError(f"column names {reserved} are reserved for the capture of served traffic")
        return self

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def binding(self, features: list[str]) -> ViewBinding:
        return ViewBinding(
            entities=self.entities, timestamp=self.timestamp, ttl_hours=self.ttl_hours, features=features
        )

    def contract_spec(self) -> ModelSpec:
        """The view's data contract as a model spec's: its features, and each entity key a required text.

        The timestamp is checked apart (it must read as a time); the target and estimator are placeholders
        the contract never reads without `require_target`.
        """
        keys = [Feature(name=entity, type=FeatureType.CATEGORICAL, allow_unseen=True) for entity in self.entities]
        return ModelSpec(
            name=self.name,
            task=Task.REGRESSION,
            target=f"{self.timestamp}_",
            features=[*keys, *self.features],
            estimator=Estimator(kind=CUSTOM, entrypoint="feature_view:never_trained"),
            metrics=Metrics(primary="rmse"),
            data=Data(min_rows=1),
        )


# pydantic's prefixes of what a validator raised: the validator's own words follow
_RAISED = ("Value error, ", "Assertion failed, ")
# A pattern in words, after pydantic's `should match pattern '…'`
_PATTERN_WORDS = {  # and the longest value it takes
    NAME_PATTERN: ("lowercase letters, digits and dashes, starting with a letter; 2 to 48 characters", 48),
    FEATURE_REF_PATTERN: ("a view's name, a dot, and one of its features: `customer-stats.orders_30d`", 48 + 1 + 64),
    COLUMN_PATTERN: ("letters, digits and underscores, not starting with a digit; 64 characters at most", 64),
}


def _errors(exc: ValidationError, data: Any, root: type[BaseModel]) -> SpecError:
    """The first error, at its field (`features.2.type`), in words a spec's author can act on: the named list item
    it is in (`(feature 'plan')`) and the value given (`got 'strng'`)."""
    errors = exc.errors()
    first = _explained(errors[0], errors)
    raised = first.get("ctx", {}).get("error")
    loc = (*first["loc"], *raised.path) if isinstance(raised, FieldError) else first["loc"]
    where = ".".join(str(part) for part in loc) or "spec"
    message = first["msg"]
    for prefix in _RAISED:
        message = message.removeprefix(prefix)
    named = _named_item(data, loc)
    context = f" ({'feature ' if loc[0] == 'features' else ''}'{named}')" if named else ""
    value = first.get("input")
    shown = first["type"] not in ("missing", "extra_forbidden") and isinstance(value, str | int | float | bool)
    got = f", got {value!r}" if shown and len(repr(value)) <= 80 else ""
    if first["type"] == "string_pattern_mismatch" and first.get("ctx", {}).get("pattern") in _PATTERN_WORDS:
        words, longest = _PATTERN_WORDS[first["ctx"]["pattern"]]
        message += f" ({words})"
        got += f" ({len(value)} characters)" if isinstance(value, str) and len(value) > longest else ""
    if first["type"] == "string_type" and isinstance(value, bool):
        got += f" (read as true/false: quote it; {YAML_BOOLEANS})"
    elif first["type"] == "string_type" and isinstance(value, int | float):
        got += f" (quote it to make it text: '{value}')"  # YAML reads 0 or 01 unquoted as a number
    if first["type"] == "extra_forbidden":
        message, got = "not a field of the spec here", _did_you_mean(root, loc)
    return SpecError(f"{where}{context}: {message}{got}", field=where)


def _explained(first: Any, errors: list[Any]) -> Any:
    """For a missing field, an unknown one beside it spelled like it (`ttl_hour:` for `ttl_hours`): the typo is
    the author's mistake, the missing field only its effect."""
    import difflib

    if first["type"] != "missing":
        return first
    section, name = first["loc"][:-1], str(first["loc"][-1])
    typos = [e for e in errors if e["type"] == "extra_forbidden" and e["loc"][:-1] == section]
    return next((e for e in typos if difflib.get_close_matches(str(e["loc"][-1]), [name], cutoff=0.8)), first)


def _did_you_mean(root: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    """A field of the section at `loc` (of a `root` document) spelled like its last part (a typo's likely
    meaning), as a hint; empty when none is close."""
    import difflib
    import typing

    section: Any = root
    for part in loc[:-1]:  # an item of a list or a mapping is the section its type names
        field = section.model_fields.get(part) if isinstance(part, str) and section else None
        if field is not None:
            pending, section = [field.annotation], None
            while pending and section is None:
                kind = pending.pop(0)
                section = kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None
                pending.extend(typing.get_args(kind))
    if section is None:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(section.model_fields), n=1, cutoff=0.8)
    return f"; did you mean '{close[0]}'?" if close else ""


def _named_item(data: Any, loc: tuple[str | int, ...]) -> str | None:
    """The name of the innermost list item on an error's path (a feature's), if it has one."""
    named, node = None, data
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(part, int) and isinstance(node, dict) and isinstance(node.get("name"), str):
            named = node["name"]
    return named


def _with_views(data: dict[str, Any], views: Callable[[str], FeatureView | None]) -> dict[str, Any]:
    """The spec with each `features_from` feature added to `features` and its view's binding in `views`."""
    refs = data.get("features_from") or []
    if not isinstance(refs, list) or "views" in data:
        return data  # the model's own validation names what is wrong
    features = list(data.get("features") or [])
    listed = {f.get("name") for f in features if isinstance(f, dict)}
    wanted: dict[str, list[str]] = {}
    found: dict[str, FeatureView] = {}
    for index, ref in enumerate(refs):
        view_name, _, feature = str(ref).partition(".")
        view = found.get(view_name) or views(view_name)
        where = f"features_from.{index}"
        if view is None:
            raise SpecError(f"{where}: no feature view '{view_name}' (mlops features list)", field=where)
        if not feature:
            raise SpecError(
                f"{where}: '{ref}' names a view, not one of its features: write VIEW.FEATURE, one entry per feature "
                f"(e.g. {view_name}.{view.feature_names[0]}); it has {view.feature_names}",
                field=where,
            )
        if feature not in view.feature_names:
            raise SpecError(
                f"{where}: view '{view_name}' has no feature '{feature}'; it has {view.feature_names}", field=where
            )
        if feature in listed:
            raise SpecError(f"{where}: a feature named '{feature}' is taken already", field=where)
        listed.add(feature)
        found[view_name] = view
        features.append(next(f for f in view.features if f.name == feature).model_dump(mode="json"))
        wanted.setdefault(view_name, []).append(feature)
    bindings = {name: found[name].binding(names).model_dump(mode="json") for name, names in wanted.items()}
    return {**data, "features": features, "views": bindings} if refs else data


def parse_spec(data: dict[str, Any], views: Callable[[str], FeatureView | None] | None = None) -> ModelSpec:
    """Validate a spec given as a mapping; with `views` (a registered feature view by name, or None), resolve
    `features_from`.

    Raises
    ------
    SpecError
        Naming the first offending field.
    """
    if views is not None:
        data = _with_views(data, views)
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        raise _errors(exc, data, ModelSpec) from exc


def check_at_registration(spec: ModelSpec) -> None:
    """What registration refuses that the training job would refuse a run later, after validating the data: a
    parameter (`estimator.params`, `estimator.search.params`) its estimator does not take, where the catalog lists
    them, and a `class_weight` label the declared `classes` do not list. Registration's checks, not the spec's: a
    spec stored before them still reads.

    Raises
    ------
    SpecError
        Naming the field and the parameter (with the one it is likely spelled for), or the labels.
    """
    weighted = spec.estimator.class_weight if isinstance(spec.estimator.class_weight, dict) else {}
    unknown_labels = sorted(set(weighted) - set(spec.classes)) if spec.classes is not None else []
    if unknown_labels:
        raise SpecError(
            f"estimator.class_weight: names labels not in classes {spec.classes}: {unknown_labels}",
            field="estimator.class_weight",
        )
    kind = ESTIMATORS[spec.estimator.kind]
    if kind.params is None:
        return
    search = spec.estimator.search.params if spec.estimator.search else {}
    unknown = unknown_parameter(
        {"estimator.params": spec.estimator.params, "estimator.search.params": search}, kind.params
    )
    if unknown is not None:
        field, name = unknown
        raise SpecError(
            f"{field}.{name}: {not_a_parameter(name, kind.estimator, kind.params)}", field=f"{field}.{name}"
        )


def yaml_mapping(text: str, what: str) -> dict[str, Any]:
    import yaml  # here: the functions read specs from the registry as JSON, and their cold starts skip a YAML parser

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise SpecError(f"the {what} is not valid YAML{where}: {problem}") from exc
    if not isinstance(data, dict):
        raise SpecError(f"the {what} must be a YAML mapping")
    return data


def load_spec(text: str, views: Callable[[str], FeatureView | None] | None = None) -> ModelSpec:
    """Parse a YAML (or JSON) model spec (see `parse_spec` for `views`).

    Raises
    ------
    SpecError
        If the text is not YAML, or the spec is invalid.
    """
    return parse_spec(yaml_mapping(text, "spec"), views)


def load_view(text: str) -> FeatureView:
    """Parse a YAML (or JSON) feature view.

    Raises
    ------
    SpecError
        If the text is not YAML, or the view is invalid (naming the first offending field).
    """
    data = yaml_mapping(text, "feature view")
    try:
        return FeatureView.model_validate(data)
    except ValidationError as exc:
        raise _errors(exc, data, FeatureView) from exc


def is_valid_name(name: str) -> bool:
    return re.fullmatch(NAME_PATTERN, name) is not None


def _named(value: Any) -> bool:
    """Whether a JSON value is a list of objects each named uniquely (a spec's features): diffed by name."""
    if not isinstance(value, list) or not value or not all(isinstance(item, dict) for item in value):
        return False
    names = [item.get("name") for item in value]
    return all(isinstance(name, str) for name in names) and len(set(names)) == len(names)


def _flat(value: Any, path: str = "", items: dict[str, Any] | None = None) -> dict[str, Any]:
    """`{dotted path: leaf value}` of a JSON document; a list of named objects by name (`features[age].min`, each
    item also kept whole in `items`), any other list a leaf."""
    if isinstance(value, dict) and value:
        found: dict[str, Any] = {}
        for key, item in value.items():
            found.update(_flat(item, f"{path}.{key}" if path else str(key), items))
        return found
    if _named(value):
        found = {}
        for item in value:
            where = f"{path}[{item['name']}]"
            if items is not None:
                items[where] = item
            found.update(_flat(item, where, items))
        return found
    return {path: value}


def spec_diff(old: ModelSpec | FeatureView | None, new: ModelSpec | FeatureView) -> list[dict[str, Any]]:
    """What a re-registration (of a model's spec or a view) changes: `[{"path", "from", "to"}]` by dotted path (None:
    absent), sorted; a feature added or dropped as one change (`features[late_payments]`), a changed one by its
    values (`features[age].max`)."""
    named_before: dict[str, Any] = {}
    named_after: dict[str, Any] = {}
    before = _flat(old.model_dump(mode="json"), items=named_before) if old else {}
    after = _flat(new.model_dump(mode="json"), items=named_after)
    one_side = named_before.keys() ^ named_after.keys()
    whole = {item for item in one_side if not any(item.startswith(f"{other}.") for other in one_side)}
    changes = [
        {"path": path, "from": before.get(path), "to": after.get(path)}
        for path in before.keys() | after.keys()
        if before.get(path) != after.get(path) and not any(path.startswith(f"{item}.") for item in whole)
    ]
    changes += [{"path": item, "from": named_before.get(item), "to": named_after.get(item)} for item in whole]
    return sorted(changes, key=lambda change: change["path"])


def _laxer(metric: str, old: float, new: float) -> bool:
    """Whether a gate minimum moved the easy way (down, or up for a metric where lower is better)."""
    name, _ = metric_parts(metric)
    return new > old if name in LOWER_IS_BETTER else new < old


def loosened_governance(old: ModelSpec | None, new: ModelSpec) -> list[str]:
    """How a re-registration makes the gate or the approval easier to pass, in words (empty: it does not).

    A minimum lowered or dropped, a larger tolerance, a lower or dropped confidence, another primary
    metric, a wider or dropped segment gap (or fewer segments under it), a larger champion drop before a
    candidate is held for a person, approval from manual to auto, a
    data contract check made a warning (or fewer rows asked), or a retired model brought back (its champion would
    serve again, which only an approver or a promoter may make so): such a change waits for an approver.
    """
    if old is None:
        return []
    was, now = old.metrics, new.metrics
    found = [
        f"metrics.minimum.{metric}: " + (f"{floor} -> {now.minimum[metric]}" if metric in now.minimum else "dropped")
        for metric, floor in sorted(was.minimum.items())
        if metric not in now.minimum or _laxer(metric, floor, now.minimum[metric])
    ]
    if now.tolerance > was.tolerance:
        found.append(f"metrics.tolerance: {was.tolerance:g} -> {now.tolerance:g}")
    if was.confidence is not None and (now.confidence is None or now.confidence < was.confidence):
        found.append(f"metrics.confidence: {was.confidence:g} -> {now.confidence if now.confidence else 'none'}")
    if now.primary != was.primary:
        found.append(f"metrics.primary: {was.primary} -> {now.primary}")
    if old.approval == "manual" and new.approval == "auto":
        found.append("approval: manual -> auto")
    if old.retired and not new.retired:
        found.append("retired: true -> false (its champion serves again)")
    return [*found, *_watch_loosened(was, now), *_contract_loosened(old, new)]


def _watch_loosened(was: Metrics, now: Metrics) -> list[str]:
    """How a re-registration lets more through the gate's watch on segments and on the champion's drop."""
    found = []
    if was.max_segment_gap is not None:
        if now.max_segment_gap is None or now.max_segment_gap > was.max_segment_gap:
            found.append(f"metrics.max_segment_gap: {was.max_segment_gap:g} -> {now.max_segment_gap or 'none'}")
        dropped = sorted(set(was.segments) - set(now.segments))
        if dropped:
            found.append(f"metrics.segments: {', '.join(dropped)} no longer gated")
        if now.min_segment_rows > was.min_segment_rows:
            found.append(f"metrics.min_segment_rows: {was.min_segment_rows} -> {now.min_segment_rows}")
    was_drop, now_drop = was.champion_drop_limit, now.champion_drop_limit
    if was_drop is not None and (now_drop is None or now_drop > was_drop):
        found.append(f"metrics.max_champion_drop: {was_drop:g} -> {'none' if now_drop is None else f'{now_drop:g}'}")
    return found


def _contract_loosened(old: ModelSpec, new: ModelSpec) -> list[str]:
    """How a re-registration lets more data through the data contract: a check made a warning, fewer rows asked."""
    found = []
    if old.data.severity is Severity.BLOCKING and new.data.severity is not Severity.BLOCKING:
        found.append(f"data.severity: {old.data.severity} -> {new.data.severity}")
    if new.data.min_rows < old.data.min_rows:
        found.append(f"data.min_rows: {old.data.min_rows} -> {new.data.min_rows}")
    was = {feature.name: feature.severity for feature in old.features}
    found += [
        f"features.{feature.name}.severity: {Severity.BLOCKING} -> {feature.severity}"
        for feature in new.features
        if was.get(feature.name) is Severity.BLOCKING and feature.severity is not Severity.BLOCKING
    ]
    return found


def check_not_retired(spec: ModelSpec) -> None:
    """Refuse what a retired model no longer does: serve, train, score a batch.

    Raises
    ------
    ModelRetiredError
        When the spec says `retired: true`.
    """
    if spec.retired:
        raise ModelRetiredError(
            f"model '{spec.name}' is retired: it serves, trains and scores nothing (register its spec with "
            "retired: false to bring it back)"
        )


def spec_sha256(spec: ModelSpec) -> str:
    """The SHA-256 of a spec as registered (its JSON): which spec a run and a version were trained under. Without
    `retired`, a switch of its operation, not of what it trains (and the same bytes as before there was one)."""
    import hashlib

    return hashlib.sha256(spec.model_dump_json(exclude={"retired"}).encode()).hexdigest()
