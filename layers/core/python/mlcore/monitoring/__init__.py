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
        jensen_shannon,
        ks_p_value,
        normed_wasserstein,
        psi,
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

__all__, __getattr__, __dir__ = surface(__name__, __file__)
