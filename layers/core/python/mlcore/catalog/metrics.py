"""The CloudWatch metrics the functions emit and the alarms and dashboards read.

Every metric reads "higher is worse" where it measures drift or failure: a drift distance grows
with drift, and a test's confidence (1 - p-value) does too, so one alarm direction fits all.
"""

from __future__ import annotations

from mlcore.catalog.outputs import DEFAULT_PREFIX

NAMESPACE = "Mlops"


def namespace(prefix: str) -> str:
    """A deployment's namespace: `Mlops`, or `Mlops/<prefix>` for another `mlops:prefix`, so that two deployments in
    one account and region neither page for each other's models nor draw them on their dashboards."""
    return NAMESPACE if prefix == DEFAULT_PREFIX else f"{NAMESPACE}/{prefix}"


# predict, per model and version
LATENCY = "Latency"
PREDICTED_ROWS = "PredictedRows"
SHADOW_DISAGREEMENTS = "ShadowDisagreements"
FEEDBACK_LABELS = "FeedbackLabels"
ERRORS_PREFIX = "Errors_"  # + an error code: Errors_bad_request, ...
# 1 or 0 on every answer, so that a Metrics Insights alarm (which has no percentiles) watches every model: the
# Average of SLOW_ANSWERS is the share of answers slower than SLOW_ANSWER_MS (above 1 %, p99 is above it); the
# Sum of SERVER_ERRORS counts the 5xx answers (ours: a client's mistake pages nobody).
SLOW_ANSWERS = "SlowAnswers"
SERVER_ERRORS = "ServerErrors"
SLOW_ANSWER_MS = 500
# Emitted by model alone: the alarms read them so, and by version they would be two custom metrics more per version.
BY_MODEL_ONLY = frozenset({SLOW_ANSWERS, SERVER_ERRORS})

# drift_check, per model (and once more without the model dimension, for the fleet-wide alarms)
DRIFT_SHARE = "DriftShare"
DATASET_DRIFT = "DatasetDrift"
PERFORMANCE_DEGRADED = "PerformanceDegraded"
# drift_check, per model and feature
DRIFT_DISTANCE = "DriftDistance"  # normed Wasserstein or Jensen-Shannon distance (large samples)
DRIFT_TEST_CONFIDENCE = "DriftTestConfidence"  # 1 - p-value of KS or chi-square (small samples)

# materialize_features, per view (and the count of stale views without a dimension, for the alarm)
FEATURE_VIEW_AGE = "FeatureViewAgeHours"  # how old the newest value in the online store is
STALE_FEATURE_VIEWS = "StaleFeatureViews"  # online views whose newest value is older than their TTL


def answer_metrics(latency_ms: float, status: int) -> dict[str, tuple[float, str]]:
    """What every answer of the API emits, by model: its latency, whether it was slow, whether it was a 5xx."""
    return {
        LATENCY: (latency_ms, "Milliseconds"),
        SLOW_ANSWERS: (float(latency_ms > SLOW_ANSWER_MS), "Count"),
        SERVER_ERRORS: (float(status >= 500), "Count"),  # HTTP's server errors
    }
