"""The catalog: every name the layers share, declared once.

Functions, API routes, state machines, stack outputs, the S3 key layout, estimator kinds, capture
columns, limits, and the models of what flows between them (settings, task messages, API bodies).
The CDK constructs, the predict router, the OpenAPI document, the local target, the CLI and the
tests derive from it. It imports nothing of the core but `mlcore.errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlcore._surface import surface

if TYPE_CHECKING:
    from mlcore.catalog import limits, metrics, pricing
    from mlcore.catalog.api import (
        DescribeResponse,
        ErrorDetail,
        ErrorResponse,
        Feedback,
        FeedbackBatch,
        FeedbackRequest,
        FeedbackResponse,
        ModelDocument,
        PredictRequest,
        PredictResponse,
    )
    from mlcore.catalog.columns import (
        BATCH_OUTPUT_COLUMNS,
        BATCH_PARTITION,
        FEEDBACK_COLUMNS,
        LABEL,
        META_COLUMNS,
        OUTPUT_COLUMNS,
        RESERVED_COLUMNS,
    )
    from mlcore.catalog.compute import (
        FARGATE,
        FARGATE_SIZES,
        FARGATE_SPOT,
        JOB_QUEUES,
        container_resources,
        fargate_size_error,
    )
    from mlcore.catalog.estimators import ANY_TASK, CUSTOM, ESTIMATORS, EstimatorKind
    from mlcore.catalog.functions import (
        ARTIFACTS_BUCKET,
        BATCH_STATE_MACHINE,
        CAPTURE_BUCKET,
        CODE_VERSION,
        DATA_BUCKET,
        DRIFT_CHECK,
        FUNCTIONS,
        PLAN_BATCH,
        PREDICT,
        PUBLISH_BATCH,
        RECORD_RUN,
        REGISTRY_TABLE,
        REPORT_FAILURE,
        REQUEST_RETRAINING,
        RUNS_DATABASE,
        SCORING_JOB,
        START_SCHEDULED_BATCHES,
        TRAINING_EXECUTIONS,
        TRAINING_JOB,
        TRAINING_STATE_MACHINE,
        Access,
        Function,
        Job,
        resource_of,
    )
    from mlcore.catalog.gateway import (
        GATEWAY_RESPONSE,
        GATEWAY_RESPONSES,
        MAX_GATEWAY_PAYLOAD_BYTES,
        REQUEST_ID_HEADER,
        GatewayResponse,
        gateway_body,
    )
    from mlcore.catalog.keys import (
        CAPTURE,
        DATA_SUFFIXES,
        DATASETS,
        FEEDBACK,
        RUNS_EXPORT,
        CheckFile,
        RunFile,
        batch_manifest_key,
        batch_predictions_key,
        batch_predictions_prefix,
        batch_rejects_key,
        batch_work_key,
        check_key,
        code_key,
        current_code_key,
        dataset_folder,
        dataset_key,
        dataset_prefix,
        model_partition,
        partition,
        partition_file,
        run_key,
        run_prefix,
        snapshot_folder_key,
        snapshot_key,
        trial_key,
        trials_prefix,
    )
    from mlcore.catalog.messages import (
        Artifact,
        BatchChunk,
        BatchManifest,
        BatchPlan,
        BatchRequest,
        BatchTick,
        ChunkResult,
        Comparison,
        CrossValidation,
        DataSource,
        DriftCheckResult,
        DueModel,
        EvaluateRequest,
        EvaluateResult,
        FailedStep,
        FailureReport,
        JobPlan,
        ListDueRequest,
        ListDueResult,
        MonitorInput,
        PipelineInput,
        PlanBatchRequest,
        PromoteRequest,
        PromoteResult,
        RecordRunRequest,
        RecordRunResult,
        RegisterRequest,
        RegisterResult,
        RetrainingDecision,
        RetrainingRequest,
        RetrainingResult,
        ScheduledBatch,
        ScheduledBatchResult,
        SignatureField,
        StepError,
        TrainedModel,
        TrainingResult,
        TrialPlan,
        Trigger,
        ValidateRequest,
        ValidateResult,
    )
    from mlcore.catalog.outputs import OUTPUT_KEYS, OUTPUTS, Output
    from mlcore.catalog.routes import (
        DESCRIBE_ROUTE,
        FEEDBACK_ROUTE,
        MODEL_DOCUMENT_ROUTE,
        PREDICT_ROUTE,
        ROUTES,
        ROUTING_KEY_HEADER,
        Header,
        Route,
    )
    from mlcore.catalog.settings import (
        DriftCheckSettings,
        EvaluateSettings,
        ListDueSettings,
        PlanBatchSettings,
        PredictSettings,
        PromoteSettings,
        PublishBatchSettings,
        RecordRunSettings,
        RegisterSettings,
        ReportFailureSettings,
        RequestRetrainingSettings,
        ScoreBatchSettings,
        Settings,
        StartScheduledBatchesSettings,
        TrainSettings,
        ValidateSettings,
        env_keys,
        tunable_defaults,
    )
    from mlcore.catalog.state_machines import (
        ALERTS_TOPIC,
        BATCH_SCHEDULE,
        BATCH_SCORING,
        JOB_DEFINITION,
        JOB_QUEUE,
        MONITOR_PIPELINE,
        RETRAINING,
        SCORING_JOB_DEFINITION,
        SPOT_JOB_QUEUE,
        STATE_MACHINES,
        TRAINING_PIPELINE,
        FunctionArn,
        ResourceArn,
        StateMachine,
    )

__all__, __getattr__, __dir__ = surface(__name__, __file__)
