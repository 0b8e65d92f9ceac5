"""Entrypoint of the AWS Batch jobs of the training image: trains one pipeline run of one model,
(`entrypoint.py adopt`) checks and scores what a model's own training image trained, or
(`entrypoint.py score`) scores one chunk of a batch.

The state machine passes MODEL_NAME and RUN_ID as container overrides (and, for one trial of a
hyperparameter search, TRIAL and TRIAL_PARAMS); the job definition sets the variables of
`TrainSettings`. Exits non-zero when training, export or the parity check fails, so the Batch job
and the pipeline fail with it; the error's name and message go to stderr and to
the run's `failure.json`, which the pipeline's failure report reads (Batch reports an exit code).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request

import boto3

from mlcore.batch import score_chunk, write_chunk_failure
from mlcore.catalog import ScoreBatchSettings, TrainSettings
from mlcore.errors import MlopsError
from mlcore.registry import Registry
from mlcore.runs import write_job_failure
from mlcore.storage import ObjectStore
from mlcore.training import adopt_candidate, run_trial, train_candidate


def image_version(code_version: str) -> str:
    """The image's digest, from the ECS task metadata Fargate gives every container; `local:<commit>` elsewhere."""
    endpoint = os.environ.get("ECS_CONTAINER_METADATA_URI_V4")
    if endpoint:
        try:
            with urllib.request.urlopen(endpoint, timeout=2) as response:
                container = json.loads(response.read())
            return f"{container['Image'].split(':')[0].split('@')[0]}@{container['ImageID']}"
        except (OSError, ValueError, KeyError) as exc:
            print(f"the image digest is unknown: {exc}", file=sys.stderr)
    return os.environ.get("IMAGE_URI") or f"local:{code_version}"


def score() -> int:
    """One chunk of a batch (PLAN_KEY, CHUNK); a failure is written beside the plan for the publish step."""
    settings = ScoreBatchSettings()
    plan_key, chunk = os.environ["PLAN_KEY"], os.environ["CHUNK"]
    data = ObjectStore(settings.data_bucket, boto3.client("s3"))
    try:
        result = score_chunk(
            plan_key,
            chunk,
            registry=Registry(settings.registry_table, boto3.client("dynamodb")),
            artifacts=ObjectStore(settings.artifacts_bucket, boto3.client("s3")),
            data=data,
            batch_rows=settings.batch_rows,
        )
    except Exception as exc:  # Batch reports only an exit code: say what failed where the publish step looks
        print(json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}), file=sys.stderr)
        write_chunk_failure(data, plan_key, chunk, exc)
        if not isinstance(exc, MlopsError):
            raise
        return 1
    print(result.model_dump_json())
    return 0


def main(argv: list[str] | None = None) -> int:
    command = argv if argv is not None else sys.argv[1:]
    if command == ["score"]:
        return score()
    settings = TrainSettings()
    model_name, run_id = os.environ["MODEL_NAME"], os.environ["RUN_ID"]
    artifacts = ObjectStore(settings.artifacts_bucket, boto3.client("s3"))
    registry = Registry(settings.registry_table, boto3.client("dynamodb"))
    if os.environ.get("TRIAL"):  # one trial of a search: its result, failed or not, is in trials/<n>.json
        trial = run_trial(
            model_name,
            run_id,
            int(os.environ["TRIAL"]),
            json.loads(os.environ["TRIAL_PARAMS"]),
            registry=registry,
            artifacts=artifacts,
        )
        print(json.dumps(trial))
        return 0
    try:
        if command == ["adopt"]:  # after the model's own image: check what it wrote, and score it
            result = adopt_candidate(model_name, run_id, registry=registry, artifacts=artifacts)
        else:
            result = train_candidate(
                model_name, run_id, registry=registry, artifacts=artifacts, image=image_version(settings.code_version)
            )
    except Exception as exc:  # Batch reports only an exit code: say what failed where the pipeline looks
        print(json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}), file=sys.stderr)
        write_job_failure(artifacts, model_name, run_id, exc)
        if not isinstance(exc, MlopsError):
            raise
        return 1
    print(json.dumps({"model_name": model_name, "run_id": run_id, "metrics": result.metrics}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
