"""Lambda layers, bundled without Docker: `pip install --platform` into the asset directory.

The requirements are exported from the pins of pyproject.toml, never kept by hand; what a layer installs
is its lock (infra.locks: the whole set at the versions the tests ran with, .ci/constraints.txt, each
wheel by its SHA-256, installed with --require-hashes), and each layer carries a CycloneDX SBOM of what
it installed (`sbom.cdx.json` at the layer's root, /opt in Lambda).

Each layer also carries the bytecode of its modules for the runtime's Python (3.12), when this machine has a
CPython 3.12 to compile with: Lambda's /opt is read-only, so without it every cold start compiles each module
it imports, and the predict function's imports took twice as long (`bench/layer_bytecode.py`).
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling, Stage
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.locks import CONSTRAINTS, LOCKS_DIR, LockError, inputs_sha256, layer_lock, normalise, recorded_inputs
from infra.sbom import SBOM_FILE, cyclonedx_sbom
from mlcore.catalog import LAYER_TAG

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"

CORE_SOURCE = ROOT / "layers" / "core"
PYTHON_VERSION = "3.12"
PLATFORM = "manylinux_2_28_x86_64"
# pip does not widen an explicit --platform to older glibc tags: list every manylinux tag that the
# Lambda python3.12 runtime (Amazon Linux 2023, glibc 2.34) accepts, newest first.
PLATFORMS = (PLATFORM, *(f"manylinux_2_{minor}_x86_64" for minor in range(27, 16, -1)), "manylinux2014_x86_64")
FALLBACK_IMAGE = "public.ecr.aws/sam/build-python3.12"
CORE_PACKAGES = ("python/mlcore", "python/mlruntime", "extensions")
# The packages of each layer, by distribution name; their exact pins come from pyproject.toml.
# aws-xray-sdk arrives with the `tracer` extra of aws-lambda-powertools.
LAYER_PACKAGES: dict[str, tuple[str, ...]] = {
    "core": ("pydantic", "pyyaml", "aws-lambda-powertools", "sqlglot"),
    "serving": ("onnxruntime", "numpy", "orjson", "msgspec"),
    "data": ("pyarrow", "numpy"),
}
# The Lambda runtime ships boto3; a second copy in a layer would shadow it and waste ~100 MB.
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer")
# Never read in Lambda, so not shipped: the packages' test suites, and the C headers and Cython sources for
# building against them (16 MiB of the data layer: room for the bytecode under Lambda's 250 MB).
NOT_SHIPPED_FOLDERS = ("tests", "test")
NOT_SHIPPED_FILES = ("*.h", "*.hpp", "*.c", "*.cc", "*.cpp", "*.pyx", "*.pxd", "*.pxi")
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


class LayerPinError(LookupError):
    """A layer package has no exact pin in pyproject.toml."""


def project_pins(pyproject: Path = PYPROJECT) -> dict[str, str]:
    """Every `name[extra]==version` requirement of pyproject.toml, keyed by normalised name."""
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    pins: dict[str, str] = {}
    for requirement in requirements:
        match = _NAME.match(requirement)
        if match and "==" in requirement:
            pins.setdefault(normalise(match.group(1)), requirement.replace(" ", ""))
    return pins


def layer_requirements(layer: str, pyproject: Path = PYPROJECT) -> list[str]:
    """The pinned requirements of one layer, exported from pyproject.toml."""
    pins = project_pins(pyproject)
    missing = [name for name in LAYER_PACKAGES[layer] if normalise(name) not in pins]
    if missing:
        raise LayerPinError(f"layer {layer!r}: no exact pin in {pyproject.name} for {missing}")
    return [pins[normalise(name)] for name in LAYER_PACKAGES[layer]]


def target_flags() -> list[str]:
    """pip's flags for Linux x86_64 CPython 3.12 wheels, whatever the host is."""
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    return [*platforms, "--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp"]


def pip_command(target: str, lock: str, python: str = sys.executable) -> list[str]:
    """`pip install` into `target` of exactly the layer's locked set, each wheel checked against its SHA-256."""
    return [
        python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile", *target_flags(),
        "--upgrade", "--require-hashes", "--requirement", lock, "--target", target,
    ]  # fmt: skip


def compile_command(directory: str, python: str) -> list[str]:
    """Byte-compile every module under `directory` with `python`. unchecked-hash: the runtime uses the bytecode
    without comparing it with the source's time (a layer's zip does not keep the build's file times, and /opt
    never changes), so no cold start compiles again."""
    return [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", directory]


def prune(target: Path) -> int:
    """Remove what Lambda never reads from installed packages (NOT_SHIPPED_*); the bytes removed."""
    removed = 0
    folders = {path for name in NOT_SHIPPED_FOLDERS for path in target.rglob(name) if path.is_dir()}
    for folder in sorted(folders, key=lambda path: len(path.parts)):  # outer first; an inner one goes with it
        if folder.exists():
            removed += sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            shutil.rmtree(folder)
    for pattern in NOT_SHIPPED_FILES:
        for file in target.rglob(pattern):
            if file.is_file():
                removed += file.stat().st_size
                file.unlink()
    return removed


def prune_command(target: str) -> str:
    """`prune` as a shell command, for the Docker fallback (which has our rule, not our code)."""
    folders = " -o ".join(f"-name {shlex.quote(name)}" for name in NOT_SHIPPED_FOLDERS)
    files = " -o ".join(f"-name {shlex.quote(pattern)}" for pattern in NOT_SHIPPED_FILES)
    return (
        f"find {target} -depth -type d \\( {folders} \\) -exec rm -rf {{}} + && "
        f"find {target} -type f \\( {files} \\) -delete"
    )


def runtime_python(candidates: tuple[str, ...] | None = None) -> str | None:
    """The path of a CPython of the Lambda runtime's version on this machine (bytecode is made for one minor
    version), or None. Looks at $MLOPS_LAYER_PYTHON, then `python3.12` (under pyenv, whatever version is
    selected)."""
    if candidates is None:
        candidates = tuple(filter(None, (os.environ.get("MLOPS_LAYER_PYTHON"), f"python{PYTHON_VERSION}")))
    probe = "import platform, sys; print(platform.python_implementation(), *sys.version_info[:2], sys.executable)"
    for candidate in candidates:
        try:
            answer = subprocess.run(
                [candidate, "-c", probe],
                env={**os.environ, "PYENV_VERSION": PYTHON_VERSION},  # a pyenv shim: any installed 3.12.x
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        words = answer.stdout.split(maxsplit=3)
        if answer.returncode == 0 and len(words) == 4 and words[:3] == ["CPython", *PYTHON_VERSION.split(".")]:
            return words[3].strip()
    return None


def compile_layer(directory: Path, python: str | None) -> bool:
    """Add the bytecode of every module under `directory` (True), or say why the layer goes without (False)."""
    if python is None:
        print(
            f"no CPython {PYTHON_VERSION} here (set MLOPS_LAYER_PYTHON to one): the layer ships without bytecode, "
            "and each cold start compiles the modules it imports",
            file=sys.stderr,
        )
        return False
    done = subprocess.run(compile_command(str(directory), python), check=False, capture_output=True, text=True)
    if done.returncode != 0:  # a module that does not compile is still shipped, as its package published it
        print(f"some modules were not byte-compiled:\n{done.stdout[-2000:]}{done.stderr[-2000:]}", file=sys.stderr)
    return True


def check_lock(layer: str) -> Path:
    """The layer's lock, if it was resolved from the layer's current pins and constraints.

    Raises
    ------
    LockError
        When pyproject.toml or the constraints changed since `make locks` wrote it.
    """
    lock = layer_lock(layer)
    if not lock.exists() or recorded_inputs(lock) != inputs_sha256(layer_requirements(layer)):
        shown = lock.relative_to(ROOT) if lock.is_relative_to(ROOT) else lock
        raise LockError(
            f"{shown} is missing or was resolved from other pins than pyproject.toml and "
            f"{CONSTRAINTS.relative_to(ROOT)} hold now: run `make locks`"
        )
    return lock


@jsii.implements(ILocalBundling)
class PipLayerBundling:
    """Local bundling of a layer: its locked wheels under python/ (hash-checked), plus our own folders.

    `packages` are paths relative to the core layer's source (python/mlcore, extensions), copied
    to the same place in the layer.
    """

    def __init__(self, layer: str, packages: tuple[str, ...] = ()) -> None:
        self.layer = layer
        self.packages = packages

    def try_bundle(self, output_dir: str, options: Any = None, **_: Any) -> bool:
        """Install into `<output_dir>/python`; False (Docker fallback) only if pip is unusable."""
        target = Path(output_dir) / "python"
        try:  # Layers._layer checked the lock is current
            subprocess.run(pip_command(str(target), str(layer_lock(self.layer))), check=True)
        except (OSError, subprocess.CalledProcessError) as error:
            print(f"local layer bundling failed ({error}); falling back to Docker", file=sys.stderr)
            return False
        for name in PROVIDED_BY_RUNTIME:
            for path in target.glob(f"{name}"):
                shutil.rmtree(path)
            for path in target.glob(f"{name}-*.dist-info"):
                shutil.rmtree(path)
        prune(target)
        for package in self.packages:
            shutil.copytree(
                CORE_SOURCE / package, Path(output_dir) / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        compile_layer(Path(output_dir), runtime_python())
        sbom = cyclonedx_sbom(target, f"mlops-layer-{self.layer}", tuple(Path(p).name for p in self.packages))
        (Path(output_dir) / SBOM_FILE).write_text(json.dumps(sbom, indent=2))
        return True


def _lock_dir(scope: Construct, layer: str) -> Path:
    """A source directory holding only the layer's lock, where the Docker fallback finds it (the asset hash
    follows the lock)."""
    stage = Stage.of(scope)
    directory = (Path(stage.outdir) if stage else ROOT / "cdk.out") / ".layer-sources" / layer
    (directory / LOCKS_DIR.name).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(layer_lock(layer), directory / LOCKS_DIR.name / layer_lock(layer).name)
    return directory


_BUNDLERS: dict[str, PipLayerBundling] = {}


def _bundler(name: str, packages: tuple[str, ...]) -> PipLayerBundling:
    """One bundler per layer and process, so equal assets in several stacks share the staging cache."""
    if name not in _BUNDLERS:
        _BUNDLERS[name] = PipLayerBundling(name, packages)
    return _BUNDLERS[name]


class Layers(Construct):
    """The layers a stack needs: core (mlcore, pydantic, Powertools), serving (onnxruntime), data (pyarrow)."""

    layers: dict[str, lambda_.LayerVersion]

    def __init__(
        self, scope: Construct, construct_id: str, *, names: tuple[str, ...] = ("core", "serving", "data")
    ) -> None:
        super().__init__(scope, construct_id)
        unknown = sorted(set(names) - LAYER_PACKAGES.keys())
        if unknown:
            raise KeyError(f"unknown layers {unknown}; known: {sorted(LAYER_PACKAGES)}")
        self.layers = {name: self._layer(name) for name in names}

    def _layer(self, name: str) -> lambda_.LayerVersion:
        check_lock(name)  # here, not in the bundling: CDK skips bundling an asset it staged before
        requirements = layer_requirements(name)
        # The core layer carries the domain library, the handlers' Lambda glue and the shutdown extension.
        packages = CORE_PACKAGES if name == "core" else ()
        source = CORE_SOURCE if name == "core" else _lock_dir(self, name)
        copy = "".join(
            f" && mkdir -p /asset-output/{posixpath.dirname(p) or '.'} && cp -r /asset-input/{p} /asset-output/{p}"
            for p in packages
        )
        lock = f"/asset-input/{LOCKS_DIR.name}/{layer_lock(name).name}"
        docker_command = " && ".join(
            (
                " ".join(pip_command("/asset-output/python", lock, python="python")) + copy,
                prune_command("/asset-output/python"),
                shlex.join(compile_command("/asset-output", "python")),  # the image's python is the runtime's
            )
        )
        return lambda_.LayerVersion(
            self,
            name.capitalize(),
            description=f"{LAYER_TAG}{name} " + " ".join(requirements),
            code=lambda_.Code.from_asset(
                str(source),
                asset_hash_type=AssetHashType.SOURCE,
                exclude=["__pycache__", "*.pyc"],
                bundling=BundlingOptions(
                    image=DockerImage.from_registry(FALLBACK_IMAGE),
                    command=["bash", "-c", docker_command],
                    local=_bundler(name, packages),
                ),
            ),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
            compatible_architectures=[lambda_.Architecture.X86_64],
        )
