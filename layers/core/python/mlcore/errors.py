"""Errors of the core library.

Each error has a stable `code` and the HTTP status it maps to; ASL `Retry`/`Catch` match on the
class names, which Lambda reports as the `errorType`.
"""

from __future__ import annotations


class MlopsError(Exception):
    """Base of every error the core raises on purpose."""

    code = "internal_error"
    status = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InternalError(MlopsError):
    """The service failed, by our fault: the request id identifies it in our logs."""


class BadRequestError(MlopsError):
    """A client's request is malformed or does not match the model's signature."""

    code = "bad_request"
    status = 400


class PayloadTooLargeError(BadRequestError):
    """A request has more rows, labels or bytes than the API accepts."""

    code = "payload_too_large"
    status = 413


class SpecError(BadRequestError):
    """A model spec is invalid."""

    code = "invalid_spec"


class ForbiddenError(MlopsError):
    """The caller is authenticated, but this change is not theirs to make (separation of duties)."""

    code = "forbidden"
    status = 403


class NotFoundError(MlopsError):
    """What the request names does not exist."""

    code = "not_found"
    status = 404


class ModelNotFoundError(NotFoundError):
    """No model of that name is registered, or it has no champion version to serve yet."""

    code = "model_not_found"


class ModelRetiredError(NotFoundError):
    """The model is retired (its spec says `retired: true`): it serves, trains and scores nothing."""

    code = "model_retired"


class ConflictError(MlopsError):
    """A conditional write lost a race, or a state transition is not allowed."""

    code = "conflict"
    status = 409


class DataValidationError(MlopsError):
    """The dataset breaks a blocking rule of the model's data contract."""

    code = "data_validation_failed"
    status = 422


class ParityError(MlopsError):
    """The exported ONNX model does not reproduce the trained pipeline's outputs."""

    code = "onnx_parity_failed"
    status = 422


class ConversionError(MlopsError):
    """The trained pipeline cannot be exported to ONNX."""

    code = "onnx_conversion_failed"
    status = 422


class ImageContractError(MlopsError):
    """A model's own training image did not write what the image contract asks for."""

    code = "image_contract_broken"
    status = 422


class TrainingError(MlopsError):
    """The spec cannot be trained as written on this data (a class weight or threshold that does not fit it)."""

    code = "training_failed"
    status = 422


class SearchError(MlopsError):
    """Every trial of a hyperparameter search failed: there is no best one to train."""

    code = "search_failed"
    status = 422


class GateFailedError(MlopsError):
    """A candidate failed the evaluation gate."""

    code = "gate_failed"
    status = 409


class ArtifactIntegrityError(MlopsError):
    """An artifact's SHA-256 does not match the registry, or it lies outside the registry's prefix."""

    code = "artifact_integrity"
    status = 500


class ServiceUnavailableError(MlopsError):
    """No verified model version can be served right now."""

    code = "model_unavailable"
    status = 503


class DependencyError(MlopsError):
    """An AWS service a request needs did not answer, after retries (throttling, a timeout, a 5xx)."""

    code = "dependency_unavailable"
    status = 503


class TransientError(MlopsError):
    """A retryable failure of a dependency."""

    code = "transient"
    status = 503


class BatchScoringError(MlopsError):
    """A chunk of a batch could not be scored: the batch publishes nothing."""

    code = "batch_scoring_failed"
    status = 500


class FeatureMaterializationError(MlopsError):
    """Some feature views could not be brought up to date in the online store (the others were)."""

    code = "feature_materialization_failed"
    status = 500


class VersionRejectedError(ConflictError):
    """A pending version was rejected (or its approval timed out): the pipeline that waited for it does not promote.

    Its name is the error the govern function fails a waiting pipeline's task token with.
    """


class VersionApprovedError(ConflictError):
    """A pending version was approved before its pipeline asked for a decision: the pipeline goes on to promote."""
