"""Every Lambda gets the factory's defaults (what its catalog entry sets is in test_catalog.py).

A function is mapped to its folder `functions/<name>/` by its Description `mlops:function=<name>`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from test_catalog import functions

from infra.constructs.lambda_factory import SettingsMismatchError, function_environment
from mlcore.catalog import FUNCTIONS, PromoteSettings, RegisterSettings

if TYPE_CHECKING:
    from conftest import Synthesized


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_factory_defaults(synthesized: Synthesized, name: str) -> None:
    _, _, props = functions(synthesized)[name]
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["x86_64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    assert "LogGroup" in props["LoggingConfig"]
    variables = props["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == name
    assert "POWERTOOLS_METRICS_NAMESPACE" in variables


def test_function_log_groups_keep_one_month(synthesized: Synthesized) -> None:
    groups = synthesized.resources("AWS::Logs::LogGroup").values()
    assert groups
    assert {group["Properties"].get("RetentionInDays") for _, group in groups} == {30}


def test_factory_rejects_values_that_do_not_match_the_model() -> None:
    with pytest.raises(SettingsMismatchError, match="missing values \\['artifacts_bucket'\\]"):
        function_environment(RegisterSettings, {"registry_table": "t", "code_version": "c"})
    with pytest.raises(SettingsMismatchError, match="unknown values \\['extra'\\]"):
        function_environment(PromoteSettings, {"registry_table": "t", "extra": "x"})
    assert function_environment(PromoteSettings, {"registry_table": "t"}) == {"REGISTRY_TABLE": "t"}
