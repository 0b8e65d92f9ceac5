"""Layer requirements exported from pyproject.toml; typed config from the context."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError, MlopsConfig
from infra.constructs.layers import CONSTRAINTS, PLATFORM, PYPROJECT, layer_requirements, pip_command
from infra.sbom import cyclonedx_sbom


def test_layer_requirements_are_the_pins_of_pyproject() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    for layer in ("core", "serving", "data"):
        for requirement in layer_requirements(layer):
            assert requirement in project["dependencies"]
    assert any(r.startswith("onnxruntime==") for r in layer_requirements("serving"))
    assert any(r.startswith("pyarrow==") for r in layer_requirements("data"))
    assert any(r.startswith("aws-lambda-powertools[tracer]==") for r in layer_requirements("core"))


def test_pip_installs_linux_cp312_wheels_only_at_the_versions_the_tests_ran_with() -> None:
    command = pip_command("/out/python", ["numpy==2.4.6"])
    for flag in ("--only-binary=:all:", "--platform", PLATFORM, "--python-version", "3.12", "--target"):
        assert flag in command
    # what the pins pull in is pinned too: the project's whole resolved set
    assert command[command.index("--constraint") + 1] == str(CONSTRAINTS)
    pinned = [line for line in CONSTRAINTS.read_text().splitlines() if line and not line.startswith("#")]
    assert pinned and all("==" in line or line.startswith("-e ") for line in pinned)


def test_a_layer_s_sbom_lists_every_installed_distribution_and_our_own_packages(tmp_path: Path) -> None:
    for name, version in (("pydantic_core", "2.50.4"), ("PyYAML", "6.0.3")):
        dist_info = tmp_path / f"{name}-{version}.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nName: not-a-header\n"
        )
    sbom = cyclonedx_sbom(tmp_path, "mlops-layer-core", ("mlcore",))
    assert (sbom["bomFormat"], sbom["specVersion"]) == ("CycloneDX", "1.5")
    assert sbom["metadata"]["component"]["name"] == "mlops-layer-core"
    assert [(c["name"], c["version"], c.get("purl")) for c in sbom["components"]] == [
        ("PyYAML", "6.0.3", "pkg:pypi/pyyaml@6.0.3"),
        ("pydantic_core", "2.50.4", "pkg:pypi/pydantic-core@2.50.4"),
        ("mlcore", tomllib.loads(PYPROJECT.read_text())["project"]["version"], None),
    ]


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


def test_the_training_image_writes_the_sbom_of_what_it_installed() -> None:
    import json
    import subprocess
    import sys
    import sysconfig

    dockerfile = (PYPROJECT.parent / "containers" / "training" / "Dockerfile").read_text()
    assert "python -m infra.sbom" in dockerfile and "> /app/sbom.cdx.json" in dockerfile
    # the same command on this environment: every installed distribution, pinned as the constraints say
    ran = subprocess.run(
        [sys.executable, "-m", "infra.sbom", sysconfig.get_paths()["purelib"], "mlops-training-image"],
        capture_output=True, text=True, check=True, cwd=PYPROJECT.parent, timeout=60,
    )  # fmt: skip
    sbom = json.loads(ran.stdout)
    versions = {c["purl"].split("@")[0].removeprefix("pkg:pypi/"): c["version"] for c in sbom["components"]}
    pins = dict(line.split("==", 1) for line in CONSTRAINTS.read_text().splitlines() if "==" in line)
    assert versions["scikit-learn"] == pins["scikit-learn"] and versions["onnxruntime"] == pins["onnxruntime"]
