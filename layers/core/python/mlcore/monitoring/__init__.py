"""Monitoring: drift checks against the training profile, windows of captured traffic, the monitor's steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlcore._surface import surface

if TYPE_CHECKING:
    from mlcore.monitoring.check import check_performance, feature_metrics, run_drift_check
    from mlcore.monitoring.drift import (
        DISTANCES,
        P_VALUE,
        SMALL_SAMPLE,
        DriftReport,
        FeatureDrift,
        Method,
        PerformanceCheck,
        check_drift,
        chi_square_p_value,
        features_drift,
        jensen_shannon,
        ks_p_value,
        normed_wasserstein,
        psi,
        window_column,
    )
    from mlcore.monitoring.report import render_drift_html
    from mlcore.monitoring.retraining import (
        NOTHING_NEW,
        RETRAINING,
        Retraining,
        request_retraining,
        retrain_execution_name,
    )
    from mlcore.monitoring.schedule import MONITOR, list_due_models
    from mlcore.monitoring.views import check_view_drift, check_views_drift, view_features_drift

__all__, __getattr__, __dir__ = surface(__name__, __file__)
