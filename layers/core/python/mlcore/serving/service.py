"""The prediction service behind `POST /models/{name}/predict`: cached models, rollouts, validation, capture."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mlcore.catalog import SignatureField, ViewBinding, limits
from mlcore.errors import (
    ArtifactIntegrityError,
    BadRequestError,
    DependencyError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
)
from mlcore.registry import CHALLENGER, CHAMPION, AliasRecord, Registry, RolloutMode, VersionStatus
from mlcore.serving import jsonio
from mlcore.serving.capture import CaptureBuffer, capture_batch, capture_schema, input_kinds
from mlcore.serving.enrich import OnlineStore, with_online_features
from mlcore.serving.inputs import Inputs, InputValidator, as_split_error, check_batch, records_from_split
from mlcore.serving.model import OnnxModel, load_served_model, version_spec
from mlcore.serving.request_ids import RequestIds
from mlcore.spec import ModelSpec, check_not_retired
from mlcore.storage import ObjectStore

logger = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    version: int
    model: OnnxModel
    views: dict[str, ViewBinding] | None = None  # the views it was trained on (ModelVersion.views)


@dataclass
class Serving:
    """What serves a model now: its champion, and a challenger in canary or shadow mode."""

    spec: ModelSpec
    champion: LoadedModel
    challenger: LoadedModel | None = None
    mode: RolloutMode | None = None
    weight: float = 0.0
    checked_at: float = 0.0

    @functools.cached_property
    def request_signature(self) -> list[SignatureField]:
        """What a request may carry, the API's contract: the champion's inputs, and during a rollout those only
        the challenger reads, which a request may leave out (the champion never reads them). A feature both read is
        the champion's."""
        champion = self.champion.model.signature
        if self.challenger is None:
            return champion
        known = {field.name for field in champion}
        extra = [
            f.model_copy(update={"nullable": True}) for f in self.challenger.model.signature if f.name not in known
        ]
        return [*champion, *extra]

    @functools.cached_property
    def reads(self) -> ModelSpec:
        """The spec as the serving versions read a request (`version_spec` of `request_signature`): its features and
        the view features among them, whatever the spec added since (a view feature no version reads is not
        looked up)."""
        return version_spec(self.spec, self.request_signature, self.views)

    @functools.cached_property
    def views(self) -> dict[str, ViewBinding] | None:
        """The views the serving versions were trained on: the champion's, and the features only the challenger reads
        from a view (bound as the challenger was trained); a version from before versions kept them reads them as the
        spec binds them (None: so does every serving version)."""
        if self.challenger is None or (self.champion.views is None and self.challenger.views is None):
            return self.champion.views
        merged = dict(self.spec.views if self.champion.views is None else self.champion.views)
        challenger = self.spec.views if self.challenger.views is None else self.challenger.views
        for view, binding in challenger.items():
            champions = merged.get(view)
            if champions is None:
                merged[view] = binding
            elif extra := [name for name in binding.features if name not in champions.features]:
                merged[view] = champions.model_copy(update={"features": [*champions.features, *extra]})
        return merged

    @functools.cached_property
    def challenger_only_check(self) -> InputValidator:
        """The features only the challenger reads (none without a rollout), checked as the API's document says (all
        may be left out)."""
        return InputValidator(self.request_signature[len(self.champion.model.signature) :])

    @functools.cached_property
    def challenger_only(self) -> frozenset[str]:
        """The names of the features only the challenger reads."""
        return self.challenger_only_check.names

    @functools.cached_property
    def same_inputs(self) -> bool:
        """Whether the challenger reads a request exactly as the champion does."""
        return self.challenger is not None and self.challenger.model.signature == self.champion.model.signature

    @functools.cached_property
    def capture_schema(self) -> list[tuple[str, str]]:
        """The capture's columns: every feature a request may carry (`request_signature`), then the outputs."""
        return capture_schema(self.spec, self.request_signature)

    @functools.cached_property
    def capture_inputs(self) -> dict[int, dict[str, str] | None]:
        """Per version, its inputs (`input_kinds`) when they are not every feature the capture has: None when it
        reads them all as their kinds (a version's rows are null in the others)."""
        features = input_kinds(self.request_signature)
        versions = [version for version in (self.champion, self.challenger) if version is not None]
        inputs = {version.version: input_kinds(version.model.signature) for version in versions}
        return {number: None if kinds == features else kinds for number, kinds in inputs.items()}


@dataclass
class Outcome:
    """What a prediction did, for metrics."""

    model_name: str
    version: int
    variant: str
    rows: int
    shadow_version: int | None = None
    shadow_disagreements: int = 0


def check_body_size(body: str | None, max_bytes: int = limits.MAX_BODY_BYTES) -> str:
    """The body, when it is neither empty nor over `max_bytes`."""
    if not body:
        raise BadRequestError('the request body is empty; send {"instances": [...]}', field="body")
    sent = jsonio.size(body)
    if sent > max_bytes:
        raise PayloadTooLargeError(f"body: {sent} bytes exceed the limit of {max_bytes}", field="body")
    return body


def parse_body(body: str | None, max_bytes: int = limits.MAX_BODY_BYTES) -> list[Any]:
    """The rows of a request: `{"instances": [...]}` or MLflow's `{"dataframe_split": {...}}`."""
    body = check_body_size(body, max_bytes)
    try:
        document = jsonio.loads(body)
    except (json.JSONDecodeError, RecursionError) as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise BadRequestError(f"the request body is not valid JSON: {message}", field="body") from exc
    if not isinstance(document, dict):
        raise BadRequestError("the request body must be a JSON object", field="body")
    unknown = sorted(set(document) - {"instances", "dataframe_split"})
    if len(unknown) == len(document):
        has = f"; the body has {', '.join(map(repr, unknown))}" if unknown else ""
        raise BadRequestError(f"instances: required (or dataframe_split){has}", field="instances")
    if unknown:  # a misspelt or unsupported option is refused, not silently ignored
        raise BadRequestError(
            f"{unknown[0]}: unknown member (a body has instances or dataframe_split, nothing else)", field=unknown[0]
        )
    if "instances" in document and "dataframe_split" in document:
        raise BadRequestError("send either instances or dataframe_split, not both", field="body")
    if "dataframe_split" in document:
        return records_from_split(document["dataframe_split"])
    instances = document["instances"]
    if not isinstance(instances, list):
        raise BadRequestError("instances: expected a list of objects", field="instances")
    return instances


def _in_the_bodys_shape(error: BadRequestError, body: str) -> BadRequestError:
    """A refusal of rows named as the body has them: `dataframe_split`'s rows and columns (parsed again: an
    error is rare), or `instances[i]` as they are."""
    document = jsonio.loads(body)
    split = document.get("dataframe_split") if isinstance(document, dict) else None
    return as_split_error(error, split["columns"]) if isinstance(split, dict) else error


def route_share(key: str) -> float:
    """A stable number in [0, 1) for a routing key: the same caller always lands on the same side."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") / 2**64


class PredictionService:
    """Serves the `champion` (and a `challenger` rollout) of any registered model; one per Lambda container."""

    def __init__(
        self,
        registry: Registry,
        artifacts: ObjectStore,
        capture: CaptureBuffer,
        *,
        max_rows: int,
        max_body_bytes: int = limits.MAX_BODY_BYTES,
        alias_ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        online: OnlineStore | None = None,
        request_ids: Callable[[], RequestIds] | None = None,
    ) -> None:
        self.registry = registry
        self.artifacts = artifacts
        self.capture = capture
        self.max_rows = max_rows
        self.max_body_bytes = max_body_bytes
        self.ttl = alias_ttl_seconds
        self.clock = clock
        self.online = online  # the online feature store, for models with features_from
        self._request_ids = request_ids  # made on first use (a KMS call), then kept
        self._signer: RequestIds | None = None
        self._serving: dict[str, Serving] = {}
        self._loaded: dict[tuple[str, int], LoadedModel] = {}
        self.integrity_failures = 0

    # -- loading ---------------------------------------------------------------------------
    def _load(self, name: str, version: int) -> LoadedModel:
        """A version behind an alias, verified; only an approved one is ever served.

        Raises
        ------
        ServiceUnavailableError
            When the version is not approved (an alias the registry moves with every status change, read
            while it moved).
        """
        key = (name, version)
        record = self.registry.get_version(name, version)
        if record.status is not VersionStatus.APPROVED:
            self._loaded.pop(key, None)
            raise ServiceUnavailableError(f"version {version} of '{name}' is {record.status}: it is not served")
        if key not in self._loaded:
            self._loaded[key] = LoadedModel(version, load_served_model(record, self.artifacts), record.views)
        return self._loaded[key]

    def _challenger(self, name: str, alias: AliasRecord | None) -> LoadedModel | None:
        if alias is None or alias.mode is None:
            return None
        try:
            return self._load(name, alias.version)
        except ServiceUnavailableError:
            return None  # not approved: the champion serves alone
        except ArtifactIntegrityError:
            self.integrity_failures += 1
            logger.exception("refusing the challenger's artifact; the champion serves alone", extra={"model": name})
            return None

    def serving(self, name: str) -> Serving:
        """What serves `name`, re-reading its aliases at most every `alias_ttl_seconds`.

        A version whose artifact fails verification is never loaded, and a refresh the registry or the
        bucket does not answer changes nothing: the last good champion keeps serving, and with none the
        call raises `ServiceUnavailableError` (503).
        """
        cached = self._serving.get(name)
        now = self.clock()
        if cached and now - cached.checked_at < self.ttl:
            return cached
        try:
            spec = self.registry.get_spec(name)
            check_not_retired(spec)
            champion_alias = self.registry.get_alias(name, CHAMPION)
            if champion_alias is None:
                raise NotFoundError(
                    f"model '{name}' has no champion version to serve (none was promoted yet, or the champion was "
                    "archived or rejected)"
                )
            champion = self._load(name, champion_alias.version)
            challenger_alias = self.registry.get_alias(name, CHALLENGER)
            challenger = self._challenger(name, challenger_alias)
        except ArtifactIntegrityError:
            self.integrity_failures += 1
            logger.exception("refusing a model artifact", extra={"model": name})
            if cached:
                cached.checked_at = now
                return cached
            raise ServiceUnavailableError(f"model '{name}' has no verified version to serve") from None
        except ServiceUnavailableError:
            # The alias names a version that is not approved (read while the registry moved it): whatever this
            # container served may have been taken out of serving too, so it serves nothing until it re-reads.
            self._serving.pop(name, None)
            raise
        except DependencyError as error:
            # The registry or the bucket did not answer (throttled, timed out): what this container verified
            # keeps serving until the next refresh.
            logger.warning("the refresh failed", extra={"model": name, "code": error.code, "error": error.message})
            if cached:
                cached.checked_at = now
                return cached
            raise ServiceUnavailableError(
                f"model '{name}' cannot be loaded now (its registry or bucket did not answer); retry"
            ) from error
        serving = Serving(
            spec=spec,
            champion=champion,
            challenger=challenger,
            mode=challenger_alias.mode if challenger_alias else None,
            weight=challenger_alias.weight if challenger_alias else 0.0,
            checked_at=now,
        )
        self._serving[name] = serving
        return serving

    def describe(self, name: str) -> dict[str, Any]:
        serving = self.serving(name)
        model = serving.champion.model
        described: dict[str, Any] = {
            "name": name,
            "version": serving.champion.version,
            "task": serving.spec.task,
            "signature": [field.model_dump(exclude_none=True) for field in model.signature],
            "classes": model.classes,
        }
        if serving.reads.views:  # a row may send a view's keys instead of its features
            described["views"] = {
                view: {"entities": b.entities, "features": b.features, "ttl_hours": b.ttl_hours}
                for view, b in serving.reads.views.items()
            }
        if model.threshold is not None:
            described["threshold"] = model.threshold
        if serving.challenger:
            described["challenger"] = {
                "version": serving.challenger.version,
                "mode": serving.mode,
                "weight": serving.weight,
            }
        return described

    # -- request ids -----------------------------------------------------------------------
    def signer(self) -> RequestIds | None:
        """What signs and checks this deployment's request ids (None: ids are issued as they are)."""
        if self._signer is None and self._request_ids is not None:
            self._signer = self._request_ids()
        return self._signer

    def issue(self, request_id: str, name: str, rows: int) -> str:
        signer = self.signer()
        return signer.issue(request_id, name, rows) if signer else request_id

    # -- predicting ------------------------------------------------------------------------
    def predict(
        self, name: str, body: str | None, request_id: str, routing_key: str | None = None
    ) -> tuple[dict[str, Any], Outcome]:
        """Validate a request against the serving version's signature, predict, capture, respond."""
        started = time.perf_counter()
        body = check_body_size(body, self.max_body_bytes)
        try:
            serving = self.serving(name)
            self.signer()  # derived on the first request (KMS): its failure is told like the registry's
        except Exception:
            parse_body(body, self.max_body_bytes)  # a body that is no request is the client's mistake, named first
            raise
        answer, variant = serving.champion, CHAMPION
        shadow = serving.challenger if serving.mode is RolloutMode.SHADOW else None
        inputs, records = self._read(serving, body, one_pass=shadow is None)
        canary = serving.challenger if serving.mode is RolloutMode.CANARY else None
        if canary is not None and route_share(routing_key or request_id) < serving.weight:
            read = self._canary_inputs(serving, inputs, body, records)
            if read is not None:
                answer, variant, inputs = canary, CHALLENGER, read
        outputs = answer.model.predict(inputs.tensors)
        request_id = self.issue(request_id, name, inputs.rows)  # what feedback names this prediction by
        labels = outputs["label"].tolist()
        outcome = Outcome(name, answer.version, variant, inputs.rows)
        shadow_labels: list[Any] | None = None
        if shadow:
            shadow_labels = self._shadow(shadow, records, labels, outcome)
        response: dict[str, Any] = {
            "predictions": labels,
            "model": {"name": name, "version": answer.version},
            "request_id": request_id,
        }
        if variant == CHALLENGER:
            response["model"]["variant"] = CHALLENGER
        if "probabilities" in outputs:
            response["probabilities"] = _by_class(answer.model.classes or [], outputs["probabilities"])
        if self.capture.sampled(serving.spec.capture.sample_rate):
            self._capture(
                serving=serving,
                outcome=outcome,
                request_id=request_id,
                values=inputs.values,
                labels=labels,
                scores=class_scores(outputs.get("probabilities")),
                shadow=shadow_labels,
                started=started,
            )
        return response, outcome

    def _read(self, serving: Serving, body: str, *, one_pass: bool) -> tuple[Inputs, list[Any]]:
        """A request read by the champion's signature, the API's contract (its OpenAPI document), and its rows when
        they were parsed: the common request (rows complete and clean, nothing to join, `one_pass`: no second model
        to score) in one pass; any other is parsed, enriched and checked value by value."""
        champion = serving.champion.model
        views = serving.reads.views
        inputs = champion.validate.decode(body, self.max_rows) if one_pass and not views else None
        if inputs is not None:
            return inputs, []
        records = parse_body(body, self.max_body_bytes)
        try:
            if views:
                records = self._enriched(records, serving.reads)
            extra = serving.challenger_only
            if extra:  # a feature only the challenger reads is checked as the document says, then left to it
                serving.challenger_only_check(_select(records, extra, keep=True), self.max_rows)
            own = _select(records, extra, keep=False) if extra else records
            return champion.validate(own, self.max_rows), records
        except BadRequestError as error:
            raise _in_the_bodys_shape(error, body) from None

    def _canary_inputs(self, serving: Serving, inputs: Inputs, body: str, records: list[Any]) -> Inputs | None:
        """The request as the canary reads it: as the champion read it when their signatures are the same, else read
        again by the canary's; None when the canary cannot read it (a feature it needs left out, a value outside its
        bounds), and the champion answers: a request the API's contract takes is always answered."""
        canary = serving.challenger
        if canary is None:
            return None
        if serving.same_inputs:
            return inputs
        try:
            return canary.model.validate(
                _read_by(canary, records or parse_body(body, self.max_body_bytes)), self.max_rows
            )
        except BadRequestError:
            return None

    def _enriched(self, records: list[Any], spec: ModelSpec) -> list[Any]:
        check_batch(records, self.max_rows)  # before any read of the online store
        if self.online is None:
            raise ServiceUnavailableError(f"model '{spec.name}' reads feature views, and no online store is set up")
        return with_online_features(records, spec, self.online, time.time_ns() // 1000)

    def _shadow(
        self, challenger: LoadedModel, records: list[Any], labels: list[Any], outcome: Outcome
    ) -> list[Any] | None:
        """Score the challenger on the same rows; its failure never touches the champion's answer."""
        try:
            inputs = challenger.model.validate(_read_by(challenger, records), self.max_rows)
            shadow = challenger.model.predict(inputs.tensors)["label"].tolist()
        except BadRequestError as error:  # a request it cannot read (a feature of its own left out): not scored
            logger.info(
                "the shadow model cannot read the request", extra={"model": outcome.model_name, "error": error.message}
            )
            return None
        except Exception:  # the shadow must never change or fail the champion's answer
            logger.warning("shadow model failed on the request", exc_info=True, extra={"model": outcome.model_name})
            return None
        outcome.shadow_version = challenger.version
        outcome.shadow_disagreements = sum(a != b for a, b in zip(labels, shadow, strict=True))
        return shadow

    def _capture(
        self,
        *,
        serving: Serving,
        outcome: Outcome,
        request_id: str,
        values: dict[str, list[Any]],
        labels: list[Any],
        scores: np.ndarray | None,
        shadow: list[Any] | None,
        started: float,
    ) -> None:
        batch = capture_batch(
            schema=serving.capture_schema,
            request_id=request_id,
            captured_at=datetime.now(UTC),
            version=outcome.version,
            variant=outcome.variant,
            latency_ms=(time.perf_counter() - started) * 1000,
            values=values,
            labels=labels,
            scores=scores,
            shadow_version=outcome.shadow_version,
            shadow_labels=shadow,
            answered=serving.capture_inputs.get(outcome.version),
        )
        self.capture.add(outcome.model_name, serving.capture_schema, batch)


def _select(rows: list[Any], names: Collection[str], *, keep: bool) -> list[Any]:
    """The rows with only the features `names` (`keep`), or without them (a row that is no object is left for the
    validator to name)."""
    return [{k: v for k, v in row.items() if (k in names) is keep} if isinstance(row, dict) else row for row in rows]


def _read_by(version: LoadedModel, rows: list[Any]) -> list[Any]:
    """The rows as a version reads them: the features it does not read (another version's) left out."""
    return _select(rows, version.model.validate.names, keep=True)


def _by_class(classes: list[str], probabilities: np.ndarray) -> list[dict[str, float]]:
    """Per row, each class's probability (rounded to 6 places), built without a Python call per row."""
    # in float64: float32's 0.687571 is 0.6875709891319275 once a Python float, which is what JSON shows
    rounded = np.round(probabilities.astype(np.float64), 6).tolist()
    if len(classes) == 2:  # most classifiers: a dict display is cheaper than dict(zip(...))
        first, second = classes
        return [{first: p, second: q} for p, q in rounded]
    return [dict(zip(classes, row, strict=True)) for row in rounded]


def class_scores(probabilities: np.ndarray | None) -> np.ndarray | None:
    """Per row: the positive class's probability (two classes), else the predicted class's (float64)."""
    if probabilities is None:
        return None
    column = probabilities[:, 1] if probabilities.shape[1] == 2 else probabilities.max(axis=1)
    return column.astype(np.float64)
