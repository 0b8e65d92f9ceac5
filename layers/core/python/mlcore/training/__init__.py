"""Training: the scikit-learn pipeline, ONNX export and parity, metrics, the gate, the Batch job (and the
adoption of what a model's own image trained).

`gate` needs no numpy (the evaluate function runs with the core layer only); the rest runs in the
training image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlcore._surface import surface

if TYPE_CHECKING:
    from mlcore.training.custom import install_code, package_code
    from mlcore.training.evaluation import (
        average_precision,
        binary_auc,
        classification_metrics,
        label_metrics,
        paired_bootstrap,
        permutation_importance,
        pick_threshold,
        precision_at_recall,
        precision_recall_curve,
        recall_at_precision,
        regression_metrics,
        score,
        score_metrics,
        segment_metrics,
    )
    from mlcore.training.export import check_parity, compare_outputs, export_onnx
    from mlcore.training.gate import apply_gate, evaluate_candidate
    from mlcore.training.image import ImageOutput, read_image_output
    from mlcore.training.job import MIN_COMPARED_ROWS, adopt_candidate, comparison_rows, train_candidate
    from mlcore.training.pipeline import (
        build_pipeline,
        cross_validate,
        fit,
        fold_splitter,
        frame,
        resolved_params,
        table_columns,
    )
    from mlcore.training.search import best_trial, run_trial

__all__, __getattr__, __dir__ = surface(__name__, __file__)
