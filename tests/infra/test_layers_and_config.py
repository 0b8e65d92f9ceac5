"""Layer requirements exported from pyproject.toml; typed config from the context."""

from __future__ import annotations

import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError, MlopsConfig
from infra.constructs import layers
from infra.constructs.layers import LAYER_PACKAGES, PLATFORM, PYPROJECT, check_lock, layer_requirements, pip_command
from infra.locks import (
    CONSTRAINTS,
    IMAGE_LOCK,
    LockError,
    image_requirements,
    inputs_sha256,
    layer_lock,
    locked,
    normalise,
    recorded_inputs,
    render_lock,
    wheel_hashes,
)
from infra.sbom import cyclonedx_sbom


def test_layer_requirements_are_the_pins_of_pyproject() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    for layer in ("core", "serving", "data"):
        for requirement in layer_requirements(layer):
            assert requirement in project["dependencies"]
    assert any(r.startswith("onnxruntime==") for r in layer_requirements("serving"))
    assert any(r.startswith("pyarrow==") for r in layer_requirements("data"))
    assert any(r.startswith("aws-lambda-powertools[tracer]==") for r in layer_requirements("core"))


def test_pip_installs_linux_cp312_wheels_of_the_layer_s_lock_only_each_checked_against_its_hash() -> None:
    command = pip_command("/out/python", "/in/locks/data.txt")
    for flag in ("--only-binary=:all:", "--platform", PLATFORM, "--python-version", "3.12", "--target"):
        assert flag in command
    assert "--require-hashes" in command and command[command.index("--requirement") + 1] == "/in/locks/data.txt"
    assert not [arg for arg in command if "==" in arg]  # nothing beside the lock


def constraint_pins() -> dict[str, str]:
    """The constraints' version of each distribution, by normalised name."""
    return {normalise(n): v for n, _, v in (line.partition("==") for line in CONSTRAINTS.read_text().splitlines())}


@pytest.mark.parametrize("layer", sorted(LAYER_PACKAGES))
def test_each_layer_s_lock_is_current_complete_and_at_the_versions_the_tests_ran_with(layer: str) -> None:
    lock = check_lock(layer)  # resolved from today's pins (else: run `make locks`)
    distributions = locked(lock)
    pins = constraint_pins()
    for name, (version, hashes) in distributions.items():
        assert version == pins[name], name
        assert hashes and all(len(digest) == 64 for digest in hashes), name
    for requirement in layer_requirements(layer):  # each top-level requirement, at its pin
        name, _, version = requirement.partition("==")
        assert distributions[normalise(name.split("[")[0])][0] == version


def test_a_lock_resolved_from_other_pins_stops_the_bundling_naming_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "core.txt"
    current = recorded_inputs(layer_lock("core"))
    assert current is not None
    stale.write_text(layer_lock("core").read_text().replace(current, "0" * 64))
    monkeypatch.setattr(layers, "layer_lock", lambda layer: stale)
    with pytest.raises(LockError, match=r"core.txt is missing or was resolved from other pins .* run `make locks`"):
        check_lock("core")
    stale.unlink()
    with pytest.raises(LockError, match="run `make locks`"):
        check_lock("core")


def test_a_lock_names_every_wheel_of_each_version_and_no_other_file() -> None:
    index = [
        {"filename": "numpy-2.4.6-cp312-cp312-manylinux_2_28_x86_64.whl", "hashes": {"sha256": "b" * 64}},
        {"filename": "numpy-2.4.6-cp312-cp312-win_amd64.whl", "hashes": {"sha256": "a" * 64}},
        {"filename": "numpy-2.4.6.tar.gz", "hashes": {"sha256": "c" * 64}},  # never built: --only-binary
        {"filename": "numpy-2.4.5-cp312-cp312-manylinux_2_28_x86_64.whl", "hashes": {"sha256": "d" * 64}},
    ]
    assert wheel_hashes("numpy", "2.4.6", lambda name: index) == ["a" * 64, "b" * 64]
    with pytest.raises(LockError, match=r"numpy==2.4.7: the index has no wheel of it"):
        wheel_hashes("numpy", "2.4.7", lambda name: index)
    text = render_lock("t", ["numpy==2.4.6"], [("numpy", "2.4.6")], lambda name, version: ["a" * 64, "b" * 64])
    path = Path(tempfile.mkdtemp()) / "t.txt"
    path.write_text(text)
    assert locked(path) == {"numpy": ("2.4.6", ["a" * 64, "b" * 64])}
    assert recorded_inputs(path) == inputs_sha256(["numpy==2.4.6"])


def test_the_training_image_installs_its_lock_with_hashes_and_the_project_without_dependencies() -> None:
    dockerfile = (PYPROJECT.parent / "containers" / "training" / "Dockerfile").read_text()
    assert "--require-hashes --only-binary=:all: -r containers/training/requirements.lock" in dockerfile
    assert "pip install --no-cache-dir --no-deps --no-build-isolation ." in dockerfile
    assert recorded_inputs(IMAGE_LOCK) == inputs_sha256(image_requirements())  # else: `make locks`
    distributions = locked(IMAGE_LOCK)
    for name in ("scikit-learn", "lightgbm", "xgboost-cpu", "skl2onnx", "onnxmltools", "setuptools"):
        assert distributions[name][1], name  # hashed
    pins = constraint_pins()
    assert all(version == pins[name] for name, (version, _) in distributions.items() if name != "setuptools")


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
    # read as EventBridge reads it: a schedule it refuses fails synthesis, not the deployment later
    with pytest.raises(ConfigError, match=r"mlops:monitorSchedule: 'cron\(0 6 \* \* \*\)': cron takes 6 fields"):
        MlopsConfig(monitor_schedule="cron(0 6 * * *)")
    with pytest.raises(ConfigError, match=r"mlops:retrainTick: 'rate\(0 minutes\)'"):
        MlopsConfig(retrain_tick="rate(0 minutes)")
    assert MlopsConfig(monitor_schedule="cron(0 6 * * ? *)").monitor_schedule == "cron(0 6 * * ? *)"


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
        # `cdk synth -c 'mlops:governedModels=["churn","fraud"]'`: the CDK CLI passes the JSON as text
        ({"mlops:governedModels": '["churn", "fraud"]'}, (365, "governance", False, ("churn", "fraud"))),
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
        ({"mlops:governedModels": '["churn",'}, "mlops:governedModels is not a JSON list"),
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


def test_a_bad_context_value_ends_the_synthesis_with_its_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from infra import app

    def refused(*_: Any, **__: Any) -> Any:
        MlopsConfig(monitor_schedule="cron(0 6 * * *)")

    monkeypatch.setattr(app, "build_app", refused)
    assert app.main() == 1
    assert capsys.readouterr().err.startswith("ConfigError: mlops:monitorSchedule: 'cron(0 6 * * *)': cron takes 6")
