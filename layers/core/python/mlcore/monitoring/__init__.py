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
    from mlcore.monitoring.schedule import MONITOR, list_due_models, retrain_execution_name, start_retraining
    from mlcore.monitoring.windows import capture_window, labelled_window, read_parquet_window, read_window

__all__, __getattr__, __dir__ = surface(__name__, __file__)
