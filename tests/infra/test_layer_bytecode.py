"""Layers carry the bytecode of their modules for the runtime's Python, so that no cold start compiles them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra.constructs import layers
from infra.constructs.layers import (
    PipLayerBundling,
    compile_command,
    compile_layer,
    prune,
    prune_command,
    runtime_python,
)

RUNTIME_PYTHON = runtime_python()
needs_runtime_python = pytest.mark.skipif(RUNTIME_PYTHON is None, reason="no CPython 3.12 on this machine")


def fake_python(tmp_path: Path, name: str, answer: str, code: int = 0) -> str:
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\necho '{answer}'\nexit {code}\n")
    script.chmod(0o755)
    return str(script)


INSTALLED = {  # an installed layer: path -> bytes
    "numpy/__init__.py": 10,
    "numpy/testing/__init__.py": 20,  # numpy.testing is a module of numpy, not a test suite
    "numpy/_core/tests/test_api.py": 300,
    "numpy/_core/tests/data/umath.csv": 4000,
    "numpy/_core/include/numpy/ndarrayobject.h": 500,
    "numpy/_core/_multiarray_umath.cpython-312-x86_64-linux-gnu.so": 60,
    "pyarrow/tests/test_table.py": 700,
    "pyarrow/lib.pyx": 800,
    "pyarrow/lib.pxd": 90,
    "pyarrow/src/arrow/python/helpers.cc": 1000,
    "pyarrow/includes/common.pxd": 30,
    "pyarrow/libarrow.so.2500": 70,
    "pkg/test/helpers.py": 40,
    "pkg/attestations/core.py": 5,
    "pkg/contest.py": 6,
    "pkg/py.typed": 0,
}
SHIPPED = {
    "numpy/__init__.py",
    "numpy/testing/__init__.py",
    "numpy/_core/_multiarray_umath.cpython-312-x86_64-linux-gnu.so",
    "pyarrow/libarrow.so.2500",
    "pkg/attestations/core.py",
    "pkg/contest.py",
    "pkg/py.typed",
}


def installed(root: Path) -> Path:
    for name, size in INSTALLED.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x" * size)
    return root


def files(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


def test_test_suites_headers_and_cython_sources_are_not_shipped(tmp_path: Path) -> None:
    root = installed(tmp_path)
    removed = prune(root)
    assert files(root) == SHIPPED
    assert removed == sum(size for name, size in INSTALLED.items() if name not in SHIPPED)


def test_the_docker_fallback_prunes_the_same_files(tmp_path: Path) -> None:
    root = installed(tmp_path)
    subprocess.run(["sh", "-c", prune_command(str(root))], check=True)
    assert files(root) == SHIPPED


def test_the_bytecode_is_used_without_a_look_at_the_sources() -> None:
    command = compile_command("/asset-output", "/usr/bin/python3.12")
    assert command[:3] == ["/usr/bin/python3.12", "-m", "compileall"] and command[-1] == "/asset-output"
    assert command[command.index("--invalidation-mode") + 1] == "unchecked-hash"


def test_only_a_cpython_of_the_runtime_s_version_compiles_the_layers(tmp_path: Path) -> None:
    older = fake_python(tmp_path, "older", "CPython 3 11 /usr/bin/python3.11")
    pypy = fake_python(tmp_path, "pypy", "PyPy 3 12 /usr/bin/pypy3")
    broken = fake_python(tmp_path, "broken", "CPython 3 12 /usr/bin/python3.12", code=1)
    right = fake_python(tmp_path, "right", "CPython 3 12 /opt/python/bin/python3.12")
    missing = str(tmp_path / "missing")
    silent = fake_python(tmp_path, "silent", "")
    assert runtime_python((older, pypy, broken, missing, silent)) is None
    assert runtime_python((older, missing, right)) == "/opt/python/bin/python3.12"  # the interpreter, not a shim


def test_a_machine_without_the_runtime_s_python_ships_sources_and_says_how_to_do_better(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "python").mkdir()
    (tmp_path / "python" / "module.py").write_text("VALUE = 1\n")
    assert compile_layer(tmp_path, None) is False
    assert not list(tmp_path.rglob("*.pyc"))
    assert "MLOPS_LAYER_PYTHON" in capsys.readouterr().err


@needs_runtime_python
def test_a_compiled_layer_is_imported_from_its_bytecode_whatever_its_files_times(tmp_path: Path) -> None:
    package = tmp_path / "python" / "package"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "module.py").write_text("VALUE = 'compiled'\n")
    assert compile_layer(tmp_path, RUNTIME_PYTHON) is True
    assert sorted(p.name for p in (package / "__pycache__").iterdir()) == [
        "__init__.cpython-312.pyc",
        "module.cpython-312.pyc",
    ]
    # A zip keeps no exact file times: a source newer (or older) than its bytecode must not make Lambda compile
    # it again. Changing the source after the build shows which one the runtime ran.
    (package / "module.py").write_text("VALUE = 'compiled again at the cold start'\n")
    os.utime(package / "module.py", (315532800, 315532800))  # 1980-01-01, a zip's earliest time
    assert RUNTIME_PYTHON is not None
    ran = subprocess.run(
        [RUNTIME_PYTHON, "-c", "import package.module; print(package.module.VALUE)"],
        env={**os.environ, "PYTHONPATH": str(tmp_path / "python"), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.strip() == "compiled"


def test_bundling_prunes_then_compiles_the_layer_with_our_packages_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def pip(command: list[str], check: bool) -> Any:  # installs a package with its tests where pip would install
        target = Path(command[command.index("--target") + 1])
        (target / "installed" / "tests").mkdir(parents=True)
        (target / "installed" / "__init__.py").write_text("")
        (target / "installed" / "tests" / "test_it.py").write_text("")
        return subprocess.CompletedProcess(command, 0)

    compiled: list[tuple[Path, str | None, list[str]]] = []

    def spy(directory: Path, python: str | None) -> bool:
        found = sorted(str(p.relative_to(directory)) for p in directory.glob("python/*/*"))
        compiled.append((directory, python, found))
        return True

    monkeypatch.setattr(layers.subprocess, "run", pip)
    monkeypatch.setattr(layers, "runtime_python", lambda: "/found/python3.12")
    monkeypatch.setattr(layers, "compile_layer", spy)
    assert PipLayerBundling("core", ("python/mlcore",)).try_bundle(str(tmp_path)) is True
    # compiled once, pruned of the test suite, with our packages in
    assert [(directory, python) for directory, python, _ in compiled] == [(tmp_path, "/found/python3.12")]
    assert "python/installed/__init__.py" in compiled[0][2] and "python/mlcore/__init__.py" in compiled[0][2]
    assert "python/installed/tests" not in compiled[0][2]
