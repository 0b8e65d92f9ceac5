"""Layer requirements exported from pyproject.toml; typed config from the context."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from infra.config import ConfigError, MlopsConfig
from infra.constructs.layers import PLATFORM, PYPROJECT, layer_requirements, pip_command


def test_layer_requirements_are_the_pins_of_pyproject() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    for layer in ("core", "serving", "data"):
        for requirement in layer_requirements(layer):
            assert requirement in project["dependencies"]
    assert any(r.startswith("onnxruntime==") for r in layer_requirements("serving"))
    assert any(r.startswith("pyarrow==") for r in layer_requirements("data"))
    assert any(r.startswith("aws-lambda-powertools[tracer]==") for r in layer_requirements("core"))


def test_pip_installs_linux_cp312_wheels_only() -> None:
    command = pip_command("/out/python", ["numpy==2.4.6"])
    for flag in ("--only-binary=:all:", "--platform", PLATFORM, "--python-version", "3.12", "--target"):
        assert flag in command


def test_config_defaults_and_validation() -> None:
    config = MlopsConfig()
    assert config.stack_id("Data") == "MlopsData"
    assert MlopsConfig(prefix="team-a").stack_id("Data") == "TeamAMlopsData"
    with pytest.raises(ConfigError):
        MlopsConfig(api_auth="cognito")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        MlopsConfig(monitor_schedule="hourly")


@pytest.mark.parametrize(("value", "gpu_jobs"), [(None, False), ("true", True), ("false", False), ("TRUE", True)])
def test_the_gpu_queue_flag_is_read_from_the_context(value: str | None, gpu_jobs: bool) -> None:
    from aws_cdk import App

    app = App(context={} if value is None else {"mlops:gpuJobs": value})
    assert MlopsConfig.from_node(app.node).gpu_jobs is gpu_jobs


def test_a_gpu_queue_flag_that_is_not_a_boolean_is_refused() -> None:
    from aws_cdk import App

    with pytest.raises(ConfigError, match="mlops:gpuJobs must be true or false, got 'yes'"):
        MlopsConfig.from_node(App(context={"mlops:gpuJobs": "yes"}).node)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({}, (365, "governance", False, ())),
        (
            {
                "mlops:auditRetentionDays": "1",
                "mlops:auditLockMode": "compliance",
                "mlops:separationOfDuties": "true",
                "mlops:governedModels": ["churn", "fraud"],
            },
            (1, "compliance", True, ("churn", "fraud")),
        ),
        ({"mlops:auditRetentionDays": "36500", "mlops:governedModels": "churn, fraud"}, (36500, "governance", False,
                                                                                          ("churn", "fraud"))),
    ],
)  # fmt: skip
def test_the_governance_options_are_read_from_the_context(context: dict[str, Any], expected: tuple[Any, ...]) -> None:
    from aws_cdk import App

    config = MlopsConfig.from_node(App(context=context).node)
    assert (
        config.audit_retention_days, config.audit_lock_mode, config.separation_of_duties, config.governed_models
    ) == expected  # fmt: skip


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"mlops:auditRetentionDays": "0"}, "mlops:auditRetentionDays must be 1 to 36500, got 0"),
        ({"mlops:auditRetentionDays": "36501"}, "mlops:auditRetentionDays must be 1 to 36500, got 36501"),
        ({"mlops:auditRetentionDays": "a year"}, "mlops:auditRetentionDays must be a whole number, got 'a year'"),
        ({"mlops:auditLockMode": "legal-hold"}, "mlops:auditLockMode must be governance or compliance"),
        ({"mlops:separationOfDuties": "yes"}, "mlops:separationOfDuties must be true or false, got 'yes'"),
        ({"mlops:governedModels": "Churn"}, "mlops:governedModels: 'Churn' is not a model name"),
    ],
)
def test_a_governance_option_out_of_range_is_refused_by_name(context: dict[str, Any], message: str) -> None:
    from aws_cdk import App

    with pytest.raises(ConfigError, match=message):
        MlopsConfig.from_node(App(context=context).node)
