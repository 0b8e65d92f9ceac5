"""Serving: ONNX models, request validation, capture of served traffic, feedback, the OpenAPI document.

numpy and onnxruntime only (the predict function's layer): no pyarrow, no boto3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlcore._surface import surface

if TYPE_CHECKING:
    from mlcore.serving import jsonio
    from mlcore.serving.api import OPERATIONS
    from mlcore.serving.capture import CaptureBatch, CaptureBuffer, capture_batch, capture_schema, label_kind
    from mlcore.serving.enrich import OnlineStore, with_online_features
    from mlcore.serving.feedback import record_feedback
    from mlcore.serving.inputs import (
        FLOAT,
        STRING,
        InputValidator,
        bounds,
        check_batch,
        fractions,
        is_text,
        records_from_split,
        tensors_from_columns,
        validate_instances,
    )
    from mlcore.serving.model import OnnxModel, features_of, load_served_model, signature_of, version_spec
    from mlcore.serving.openapi import feature_schema, gateway_schema, model_document, openapi_document
    from mlcore.serving.parquet import write_parquet
    from mlcore.serving.request_ids import RequestIds
    from mlcore.serving.service import (
        Outcome,
        PredictionService,
        class_scores,
        parse_body,
        route_share,
    )

__all__, __getattr__, __dir__ = surface(__name__, __file__)
