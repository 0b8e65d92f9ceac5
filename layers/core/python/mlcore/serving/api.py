"""The operations behind the predict function's routes (`catalog.CLIENT_ROUTES`), by the names routes give them.

The predict function's handler turns the proxy event into a `mlcore.routing.Call` and hands it to
`mlcore.routing.answer` with the `PredictionService` these operations take.
"""

from __future__ import annotations

from typing import Any

from mlcore.catalog import ROUTING_KEY_HEADER
from mlcore.catalog import metrics as names
from mlcore.routing import Call, Operation
from mlcore.serving.feedback import record_feedback
from mlcore.serving.service import PredictionService


def score(service: PredictionService, call: Call) -> dict[str, Any]:
    response, outcome = service.predict(call.name, call.body, call.request_id, call.header(ROUTING_KEY_HEADER))
    call.version = outcome.version
    call.metrics[names.PREDICTED_ROWS] = (outcome.rows, "Count")
    if outcome.shadow_version is not None:
        call.metrics[names.SHADOW_DISAGREEMENTS] = (outcome.shadow_disagreements, "Count")
    return response


def feedback(service: PredictionService, call: Call) -> dict[str, Any]:
    serving = service.serving(call.name)
    signer = service.signer()
    issued = (lambda request_id: signer.issued(request_id, call.name)) if signer else None
    stored = record_feedback(serving.spec, call.body, service.capture.store, serving.champion.model.classes, issued)
    call.metrics[names.FEEDBACK_LABELS] = (stored["accepted"], "Count")
    return stored


def describe(service: PredictionService, call: Call) -> dict[str, Any]:
    described = service.describe(call.name)
    call.version = described["version"]
    return described


def model_document(service: PredictionService, call: Call) -> dict[str, Any]:
    from mlcore.serving import openapi  # not on the predict path's cold start

    serving = service.serving(call.name)
    champion = serving.champion
    call.version = champion.version
    model = champion.model
    return openapi.model_document(  # during a rollout, with the challenger's own features (optional)
        call.name,
        champion.version,
        serving.request_signature,
        model.classes,
        service.max_rows,
        views=serving.reads.views,
    )


OPERATIONS: dict[str, Operation] = {op.__name__: op for op in (score, feedback, describe, model_document)}
