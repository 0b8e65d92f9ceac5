"""A hyperparameter search: each trial a Batch job scoring its parameters by cross-validation, then the best.

The state machine maps the validate step's planned trials over Batch jobs (`TRIAL`, `TRIAL_PARAMS`);
each writes `trials/<n>.json` in the run's folder, failed or not. The training job then picks the
best trial by the mean of the primary metric and refits it on the whole training set.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Collection
from typing import Any

from mlcore.catalog import RunFile, ValidateResult, run_key, trial_key, trials_prefix
from mlcore.data import read_split
from mlcore.errors import SearchError, TrainingError
from mlcore.registry import Registry
from mlcore.spec import LOWER_IS_BETTER, ModelSpec
from mlcore.storage import ObjectStore
from mlcore.training.custom import install_code
from mlcore.training.pipeline import cross_validate


def run_trial(
    model_name: str, run_id: str, trial: int, params: dict[str, Any], *, registry: Registry, artifacts: ObjectStore
) -> dict[str, Any]:
    """One trial: cross-validate the parameters on the run's training set; a failure is the trial's result.

    A trial whose parameters the estimator refuses is recorded with its error, not raised: the
    search goes on with the other trials.
    """
    spec = registry.get_spec(model_name)
    assert spec.estimator.search is not None, f"'{model_name}' has no estimator.search"
    inputs = ValidateResult.model_validate_json(artifacts.get(run_key(model_name, run_id, RunFile.INPUTS)))
    train = read_split(artifacts, inputs.train)
    if inputs.code is not None:
        install_code(inputs.code, artifacts)
    started = time.perf_counter()
    document: dict[str, Any] = {"trial": trial, "params": params}
    try:
        scores = cross_validate(spec, train, spec.estimator.search.folds, params)
        document["cross_validation"] = {metric: score.model_dump() for metric, score in scores.items()}
    except (ValueError, TypeError, TrainingError) as exc:  # parameters the estimator (or its builder) refuses
        document["error"] = f"{type(exc).__name__}: {exc}"
    document["seconds"] = round(time.perf_counter() - started, 3)
    artifacts.put(trial_key(model_name, run_id, trial), json.dumps(document).encode(), "application/json")
    return document


NO_RESULT = "no result: its Batch job failed before writing one (the run's Trials step tells why)"


def best_trial(spec: ModelSpec, run_id: str, artifacts: ObjectStore, planned: Collection[int] = ()) -> dict[str, Any]:
    """The trial with the best mean of the primary metric (ties: the first); summed up in `search.json`. `planned`:
    the trials the run planned, of which one whose job failed has no result.

    Raises
    ------
    SearchError
        When no trial succeeded.
    """
    metric = spec.metrics.primary
    trials = [json.loads(artifacts.get(key)) for key in sorted(artifacts.list_keys(trials_prefix(spec.name, run_id)))]
    written = {t["trial"] for t in trials}
    trials += [{"trial": n, "error": NO_RESULT} for n in sorted(set(planned) - written)]
    scored = [
        t for t in trials
        if "error" not in t and math.isfinite(t.get("cross_validation", {}).get(metric, {}).get("mean", math.nan))
    ]  # fmt: skip
    if not scored:
        failed: dict[str, list[str]] = {}  # trials failing alike (a misspelt parameter fails every one) told once
        for t in trials:
            failed.setdefault(t.get("error", "no score"), []).append(str(t["trial"]))
        errors = "; ".join(
            f"trial{'s' if len(ids) > 1 else ''} {', '.join(ids)}: {error}" for error, ids in list(failed.items())[:3]
        )
        raise SearchError(f"none of the {len(trials)} trials of run {run_id} could be scored: {errors or 'none ran'}")
    sign = 1 if metric in LOWER_IS_BETTER else -1
    best = min(scored, key=lambda t: (sign * t["cross_validation"][metric]["mean"], t["trial"]))
    summary = {"metric": metric, "best": best["trial"], "params": best["params"], "trials": len(trials),
               "failed": len(trials) - len(scored)}  # fmt: skip
    artifacts.put(
        run_key(spec.name, run_id, RunFile.SEARCH), json.dumps(summary, indent=2).encode(), "application/json"
    )
    return best
