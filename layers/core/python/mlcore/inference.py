"""The prediction service behind `POST /models/{name}/predict`: cached models, validation, capture."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from mlcore.capture import CaptureWriter
from mlcore.errors import ArtifactIntegrityError, BadRequestError, MlopsError, NotFoundError, ServiceUnavailableError
from mlcore.pipeline import champion_version, load_served_model
from mlcore.registry import Registry
from mlcore.serving import OnnxModel, validate_instances
from mlcore.spec import ModelSpec
from mlcore.storage import ObjectStore

logger = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    spec: ModelSpec
    version: int
    model: OnnxModel
    checked_at: float


def error_body(error: MlopsError) -> dict[str, Any]:
    """The API's error document: `{"error": {"code", "message"}}` (plus the field, when known)."""
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.field:
        body["field"] = error.field
    return {"error": body}


def parse_body(body: str | None) -> dict[str, Any]:
    if not body:
        raise BadRequestError('the request body is empty; send {"instances": [...]}', field="body")
    try:
        document = json.loads(body)
    except json.JSONDecodeError as exc:
        raise BadRequestError(
            f"the request body is not valid JSON: {exc.msg} at position {exc.pos}", field="body"
        ) from exc
    if not isinstance(document, dict):
        raise BadRequestError("the request body must be a JSON object", field="body")
    if "instances" not in document:
        raise BadRequestError("instances: required", field="instances")
    return document


class PredictionService:
    """Serves the `champion` of any registered model; one instance per Lambda container."""

    def __init__(
        self,
        registry: Registry,
        artifacts: ObjectStore,
        capture: CaptureWriter,
        *,
        max_rows: int,
        alias_ttl_seconds: float,
        clock: Any = time.monotonic,
    ) -> None:
        self.registry = registry
        self.artifacts = artifacts
        self.capture = capture
        self.max_rows = max_rows
        self.ttl = alias_ttl_seconds
        self.clock = clock
        self._models: dict[str, LoadedModel] = {}

    def model(self, name: str) -> LoadedModel:
        """The champion of `name`, re-reading the alias at most every `alias_ttl_seconds`.

        A version whose artifact fails verification is never loaded: the last good one keeps
        serving, and with none the call raises `ServiceUnavailableError`.
        """
        cached = self._models.get(name)
        now = self.clock()
        if cached and now - cached.checked_at < self.ttl:
            return cached
        try:
            spec = self.registry.get_spec(name)
            champion = champion_version(self.registry, name)
            if champion is None:
                raise NotFoundError(f"model '{name}' has no champion version to serve yet")
            if cached and cached.version == champion.version:
                cached.checked_at = now
                return cached
            loaded = LoadedModel(spec, champion.version, load_served_model(champion, self.artifacts), now)
        except ArtifactIntegrityError:
            logger.exception("refusing to load a model artifact", extra={"model": name})
            if cached:
                cached.checked_at = now
                return cached
            raise ServiceUnavailableError(f"model '{name}' has no verified version to serve") from None
        self._models[name] = loaded
        return loaded

    def describe(self, name: str) -> dict[str, Any]:
        loaded = self.model(name)
        return {
            "name": name,
            "version": loaded.version,
            "task": loaded.spec.task,
            "signature": loaded.model.signature,
            "classes": loaded.model.classes,
        }

    def predict(self, name: str, body: str | None, request_id: str) -> dict[str, Any]:
        """Validate a request against the champion's signature, predict, capture a sample, respond."""
        started = time.perf_counter()
        document = parse_body(body)
        loaded = self.model(name)
        inputs = validate_instances(document["instances"], loaded.model.signature, self.max_rows)
        outputs = loaded.model.predict(inputs)
        predictions = outputs["label"].tolist()
        response: dict[str, Any] = {
            "predictions": predictions,
            "model": {"name": name, "version": loaded.version},
            "request_id": request_id,
        }
        if "probabilities" in outputs:
            classes = loaded.model.classes or []
            response["probabilities"] = [
                dict(zip(classes, (round(float(p), 6) for p in row), strict=True)) for row in outputs["probabilities"]
            ]
        if self.capture.sampled(loaded.spec.capture.sample_rate):
            try:
                self.capture.write(
                    model_name=name,
                    version=loaded.version,
                    request_id=request_id,
                    instances=document["instances"],
                    predictions=predictions,
                    latency_ms=(time.perf_counter() - started) * 1000,
                )
            except Exception:  # capture must never fail a prediction; the error is logged and counted
                logger.exception("capture write failed", extra={"model": name})
        return response
