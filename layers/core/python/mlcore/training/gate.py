"""The champion/challenger gate and the evaluate step (no numpy: it runs in the core layer only)."""

from __future__ import annotations

from mlcore.catalog import EvaluateRequest, EvaluateResult, RunFile, TrainingResult, run_key
from mlcore.registry import PIPELINE, Registry, read_candidate
from mlcore.spec import LOWER_IS_BETTER, ModelSpec
from mlcore.storage import ObjectStore

# A gap equal to its limit in decimals is not over it, though binary floats may say so (0.8 - 0.7 > 0.1).
DECIMAL_SLACK = 1e-9


def _better_or_equal(metric: str, candidate: float, reference: float, tolerance: float = 0.0) -> bool:
    if metric in LOWER_IS_BETTER:
        return candidate <= reference + tolerance
    return candidate >= reference - tolerance


def _compared_on(result: TrainingResult) -> str:
    """Which holdout rows the champion and the candidate were compared on, as the gate's reason says it."""
    if result.compared_rows is not None:
        return f"on the {result.compared_rows} of {result.holdout_rows} holdout rows it did not train on"
    if result.champion_favoured_rows:
        return (
            f"on the same holdout, though it trained on {result.champion_favoured_rows} of its {result.holdout_rows} "
            "rows (too few others to compare on: this favours the champion)"
        )
    return "on the same holdout"


def _without_champion(met: str, result: TrainingResult, versions: int) -> str:
    """The reason a candidate that `met` every minimum passes when no champion's metrics were compared with it."""
    if result.champion_not_compared:
        return f"{met}; not compared with champion v{result.champion_version}: {result.champion_not_compared}"
    if versions:
        return f"no champion serves (of {versions} version{'s' if versions != 1 else ''}): {met}"
    return f"first version: {met}"


def _held(spec: ModelSpec, result: TrainingResult, where: str, champion_own: float | None) -> str:
    """Why a candidate that passed waits for a person: the champion scores far below its own holdout's metric on this
    run's (`champion_own`: its primary metric on its own holdout; empty: it does not, or nothing to compare)."""
    primary, limit, champion = spec.metrics.primary, spec.metrics.champion_drop_limit, result.champion_metrics
    if limit is None or champion_own is None or champion is None or primary not in champion:
        return ""
    drop = champion[primary] - champion_own if primary in LOWER_IS_BETTER else champion_own - champion[primary]
    if drop <= limit + DECIMAL_SLACK:
        return ""
    return (
        f"champion v{result.champion_version} scores {primary} {champion[primary]:.4f} {where}, {drop:.4f} worse than "
        f"on its own holdout ({champion_own:.4f}; metrics.max_champion_drop {limit:g}): did the labels or a column "
        "change meaning? A person decides"
    )


def apply_gate(
    spec: ModelSpec, result: TrainingResult, *, versions: int = 0, champion_own: float | None = None
) -> EvaluateResult:
    """Decide whether a candidate may be registered and promoted (`versions`: how many the model has registered,
    which the reason tells when no champion serves; `champion_own`: the champion's primary metric on its own
    holdout, against which its score on this run's holdout may hold a passing candidate for a person).

    The candidate must meet every minimum of the spec, keep the primary metric's gap between the segments
    of each `metrics.segments` column within `metrics.max_segment_gap` (when set) and, when a champion
    exists, be no worse than the champion on the primary metric (within the spec's tolerance), both
    scored on the same holdout rows: those the champion did not train on.
    With `metrics.confidence` set, the lower end of the paired bootstrap interval of (challenger -
    champion) must also be above -tolerance: a gain the holdout's noise could explain is not enough.
    """
    primary = spec.metrics.primary
    candidate = result.metrics
    reasons: list[str] = []
    for metric, floor in spec.metrics.minimum.items():
        if not _better_or_equal(metric, candidate[metric], floor):
            # the spec's `minimum` is the least good value: for an error metric (lower is better), a ceiling
            missed = (
                f"is above {floor}, the most metrics.minimum allows (lower is better)"
                if metric in LOWER_IS_BETTER
                else f"misses the minimum {floor}"
            )
            reasons.append(f"{metric} {candidate[metric]:.4f} {missed}")
    limit = spec.metrics.max_segment_gap
    gaps = spec.metrics.segment_gaps(result.segments) if limit is not None else []
    reasons += [
        f"{gap}, more than metrics.max_segment_gap {limit:g}"
        for gap in gaps
        if limit is not None and gap.gap > limit + DECIMAL_SLACK
    ]
    champion = result.champion_metrics
    ours = result.compared_metrics or candidate  # on the rows the champion was scored on
    where = _compared_on(result)
    if champion is not None and not _better_or_equal(primary, ours[primary], champion[primary], spec.metrics.tolerance):
        reasons.append(
            f"{primary} {ours[primary]:.4f} is worse than champion v{result.champion_version}'s "
            f"{champion[primary]:.4f} {where}"
        )
    interval = result.comparison
    # the interval is of the challenger's gain: for an error metric, champion minus challenger
    order = "champion - challenger: lower is better" if primary in LOWER_IS_BETTER else "challenger - champion"
    if interval is not None and spec.metrics.confidence is not None and not interval.low > -spec.metrics.tolerance:
        reasons.append(
            f"the {interval.confidence:.0%} interval of {primary} ({order}) is "
            f"[{interval.low:+.4f}, {interval.high:+.4f}]: its lower end is not above {0 - spec.metrics.tolerance:g}"
        )
    if reasons:
        reason = "; ".join(reasons)
    elif champion is None:
        reason = _without_champion(f"{primary} {candidate[primary]:.4f} meets every minimum", result, versions)
    else:
        reason = (
            f"{primary} {ours[primary]:.4f} vs champion v{result.champion_version}'s {champion[primary]:.4f} "
            f"{where}: not worse"
        )
        if interval is not None:
            difference = "the difference" if primary not in LOWER_IS_BETTER else f"{primary} ({order})"
            reason += (
                f" (the {interval.confidence:.0%} interval of {difference} is "
                f"[{interval.low:+.4f}, {interval.high:+.4f}])"
            )
    if gaps and not reasons:
        reason += "; " + "; ".join(f"{gap}, within {limit:g}" for gap in gaps)
    held = "" if reasons else _held(spec, result, where, champion_own)
    if held:
        reason += f"; held for a person: {held}"
    return EvaluateResult(
        model_name=result.model_name,
        run_id=result.run_id,
        passed=not reasons,
        reason=reason,
        primary_metric=primary,
        candidate_metrics=candidate,
        champion_version=result.champion_version,
        champion_metrics=champion,
        compared_rows=result.compared_rows,
        compared_metrics=result.compared_metrics,
        comparison=interval,
        held=held,
    )


def evaluate_candidate(request: EvaluateRequest, *, registry: Registry, artifacts: ObjectStore) -> EvaluateResult:
    """Apply the evaluation gate to what the training job measured on the run's holdout (kept as `evaluation.json`)."""
    spec = registry.get_spec(request.model_name)
    candidate = read_candidate(request.model_name, request.run_id, artifacts)
    uncompared = candidate.champion_metrics is None and not candidate.champion_not_compared
    versions = len(registry.list_versions(request.model_name)) if uncompared else 0  # the reason tells them
    champion_own = None
    if candidate.champion_version is not None and candidate.champion_metrics is not None:
        own = registry.get_version(request.model_name, candidate.champion_version).metrics
        champion_own = own.get(spec.metrics.primary)  # none: it was trained for another primary metric
    result = apply_gate(spec, candidate, versions=versions, champion_own=champion_own)
    artifacts.put(
        run_key(request.model_name, request.run_id, RunFile.EVALUATION),
        result.model_dump_json(indent=2).encode(),
        "application/json",
    )
    if not result.passed:
        registry.audit(
            request.model_name, "candidate_rejected", PIPELINE, {"run_id": request.run_id, "reason": result.reason}
        )
    return result
