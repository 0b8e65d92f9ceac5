"""A model's own training code (`estimator.kind: custom`): packaged, stored by its SHA-256, loaded by the job.

Uploaded by `mlops code upload NAME PATH` (a folder, zipped here, or a wheel), the code lives at
`code/<model>/<sha256>/<file>` in the artifacts bucket; the validate step pins the run to the
current upload, and every job of the run imports that exact archive. It goes on the import path
after the platform's packages, so it cannot replace them. Standard library only: the CLI packages
code with it.
"""

from __future__ import annotations

import importlib
import io
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from mlcore.catalog import Artifact
from mlcore.errors import BadRequestError, TrainingError
from mlcore.storage import ObjectStore

# A zip's entries carry times: fixed, so the same folder always packages to the same SHA-256.
_EPOCH = (1980, 1, 1, 0, 0, 0)
_SKIPPED = {"__pycache__", ".git", ".venv", ".mypy_cache", ".pytest_cache", ".ruff_cache"}


def package_code(path: Path) -> tuple[str, bytes]:
    """The file name and bytes to upload for a folder (a reproducible zip) or a wheel (as it is).

    Raises
    ------
    BadRequestError
        When the path is neither a folder with Python files nor a `.whl` file.
    """
    if path.is_file() and path.suffix == ".whl":
        return path.name, path.read_bytes()
    if not path.exists():
        raise BadRequestError(f"{path}: no such file or folder", field="path")
    if not path.is_dir():
        raise BadRequestError(f"{path}: expected a folder of Python code or a .whl file", field="path")
    files = sorted(f for f in path.rglob("*") if f.is_file() and not _SKIPPED.intersection(f.relative_to(path).parts))
    if not any(f.suffix == ".py" for f in files):
        raise BadRequestError(f"{path}: no Python files in the folder", field="path")
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            entry = zipfile.ZipInfo(file.relative_to(path).as_posix(), _EPOCH)
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, file.read_bytes(), zipfile.ZIP_DEFLATED)
    return "code.zip", sink.getvalue()


def _extract(archive: zipfile.ZipFile, target: Path) -> None:
    """Extract into `target`, refusing entries that would land outside it."""
    for name in archive.namelist():
        parts = PurePosixPath(name).parts
        if PurePosixPath(name).is_absolute() or ".." in parts:
            raise TrainingError(f"the uploaded code has an entry outside its folder: {name!r}")
    staging = Path(tempfile.mkdtemp(dir=target.parent))
    archive.extractall(staging)
    try:
        os.rename(staging, target)  # atomic: a concurrent job sees all of it or none
    except OSError:  # another job of the run extracted it first
        shutil.rmtree(staging, ignore_errors=True)


def install_code(code: Artifact, artifacts: ObjectStore) -> Path:
    """Fetch the run's code (SHA-256 verified) and put it on the import path after the platform's packages."""
    blob = artifacts.get_verified(code)  # every time: the upload must still be what the run pinned
    target = Path(tempfile.gettempdir()) / "mlops-code" / code.sha256
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:  # a wheel is a zip too
            _extract(archive, target)
    _only_this_code(target)
    return target


def _only_this_code(target: Path) -> None:
    """Put the run's code on the import path after the platform's packages, as the only uploaded code there, and
    forget modules another run's code loaded: a process that trains again (the local target's) would otherwise
    import the package as an earlier upload had it, and record code that never ran."""
    uploads, here = str(target.parent), str(target)
    sys.path[:] = [entry for entry in sys.path if entry == here or str(Path(entry).parent) != uploads]
    if here not in sys.path:
        sys.path.append(here)
    for name, module in list(sys.modules.items()):
        source = getattr(module, "__file__", None) or ""
        if source.startswith(uploads + os.sep) and not source.startswith(here + os.sep):
            del sys.modules[name]
    importlib.invalidate_caches()


def entrypoint(spec_entrypoint: str) -> Any:
    """The object `package.module:name` names, from the installed code.

    Raises
    ------
    TrainingError
        When the module or the name cannot be found, naming both.
    """
    module_name, _, name = spec_entrypoint.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TrainingError(f"estimator.entrypoint '{spec_entrypoint}': cannot import {module_name}: {exc}") from exc
    if not hasattr(module, name):
        raise TrainingError(f"estimator.entrypoint '{spec_entrypoint}': {module_name} has no '{name}'")
    return getattr(module, name)


def register_custom_converters(spec_entrypoint: str) -> None:
    """Call the entrypoint module's `register_converters()`, when it has one (ONNX converters of its estimators)."""
    module = importlib.import_module(spec_entrypoint.partition(":")[0])
    register = getattr(module, "register_converters", None)
    if register is not None:
        register()
