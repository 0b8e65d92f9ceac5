"""Every Lambda: defaults from the factory, environment keys equal to its settings model.

A function is mapped to its folder `functions/<name>/` by its Description `mlops:function=<name>`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from infra.constructs.lambda_factory import DESCRIPTION_PREFIX, SettingsMismatchError, function_environment
from mlcore.catalog import (
    DriftCheckSettings,
    EvaluateSettings,
    ListDueSettings,
    PredictSettings,
    PromoteSettings,
    RegisterSettings,
    RetrainSettings,
    Settings,
    ValidateSettings,
    env_keys,
)

if TYPE_CHECKING:
    from conftest import Synthesized


SETTINGS: dict[str, type[Settings]] = {
    "validate": ValidateSettings,
    "evaluate": EvaluateSettings,
    "register": RegisterSettings,
    "promote": PromoteSettings,
    "predict": PredictSettings,
    "list_due": ListDueSettings,
    "drift_check": DriftCheckSettings,
    "retrain": RetrainSettings,
}


def _functions(synthesized: Synthesized) -> dict[str, dict]:
    functions = {}
    for _, (_, resource) in synthesized.resources("AWS::Lambda::Function").items():
        description = resource["Properties"].get("Description", "")
        if description.startswith(DESCRIPTION_PREFIX):
            functions[description.removeprefix(DESCRIPTION_PREFIX)] = resource["Properties"]
    return functions


def test_every_function_is_tagged_with_its_folder(synthesized: Synthesized) -> None:
    assert set(_functions(synthesized)) == set(SETTINGS)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_environment_keys_equal_the_settings_model(synthesized: Synthesized, name: str) -> None:
    variables = _functions(synthesized)[name]["Environment"]["Variables"]
    assert sorted(key for key in variables if not key.startswith("POWERTOOLS_")) == env_keys(SETTINGS[name])
    assert variables["POWERTOOLS_SERVICE_NAME"] == name
    assert "POWERTOOLS_METRICS_NAMESPACE" in variables


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_factory_defaults(synthesized: Synthesized, name: str) -> None:
    props = _functions(synthesized)[name]
    assert props["Handler"] == "handler.handler"
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["x86_64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    assert "LogGroup" in props["LoggingConfig"]
    assert props["Layers"]


def test_function_log_groups_keep_one_month(synthesized: Synthesized) -> None:
    groups = synthesized.resources("AWS::Logs::LogGroup").values()
    assert groups
    assert {group["Properties"].get("RetentionInDays") for _, group in groups} == {30}


def test_memory_of_the_heavy_functions(synthesized: Synthesized) -> None:
    functions = _functions(synthesized)
    assert functions["predict"]["MemorySize"] == 1024
    assert functions["drift_check"]["MemorySize"] == 1024
    assert functions["drift_check"]["Timeout"] == 60


def test_factory_rejects_values_that_do_not_match_the_model() -> None:
    with pytest.raises(SettingsMismatchError, match="missing values \\['artifacts_bucket'\\]"):
        function_environment(RegisterSettings, {"registry_table": "t"})
    with pytest.raises(SettingsMismatchError, match="unknown values \\['extra'\\]"):
        function_environment(PromoteSettings, {"registry_table": "t", "extra": "x"})
    assert function_environment(PromoteSettings, {"registry_table": "t"}) == {"REGISTRY_TABLE": "t"}
