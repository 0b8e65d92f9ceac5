"""The CloudWatch metrics the functions emit and the alarms and dashboards read.

Every metric reads "higher is worse" where it measures drift or failure: a drift distance grows
with drift, and a test's confidence (1 - p-value) does too, so one alarm direction fits all.
"""

from __future__ import annotations

NAMESPACE = "Mlops"

# predict, per model and version
LATENCY = "Latency"
PREDICTED_ROWS = "PredictedRows"
SHADOW_DISAGREEMENTS = "ShadowDisagreements"
FEEDBACK_LABELS = "FeedbackLabels"
ERRORS_PREFIX = "Errors_"  # + an error code: Errors_bad_request, ...

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
