"""The catalog lists each scikit-learn estimator's parameters, so that registration can refuse a misspelt one
without scikit-learn: the lists are the pinned scikit-learn's own."""

from __future__ import annotations

import importlib

import pytest

from mlcore.catalog import ESTIMATORS, EstimatorKind

SCIKIT_LEARN = [kind for kind in ESTIMATORS.values() if kind.implementation.startswith("sklearn.")]


@pytest.mark.parametrize("kind", SCIKIT_LEARN, ids=lambda kind: kind.kind)
def test_a_scikit_learn_kind_lists_exactly_the_parameters_its_estimator_takes(kind: EstimatorKind) -> None:
    module, name = kind.implementation.split(":")
    estimator = getattr(importlib.import_module(module), name)
    assert kind.params == frozenset(estimator().get_params())


def test_every_kind_scikit_learn_does_not_implement_is_left_to_the_training_job() -> None:
    # LightGBM's names come from its core, XGBoost lists none, the model's own code takes what it takes
    assert len(SCIKIT_LEARN) == 7
    assert all(kind.params is None for kind in ESTIMATORS.values() if kind not in SCIKIT_LEARN)
