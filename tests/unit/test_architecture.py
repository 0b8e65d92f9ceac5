"""The core's architecture, as docs/architecture.md draws it: packages in layers, imports only downwards.

- a module imports only from its own package or from a lower layer (never sideways);
- code outside a package imports from the package's public surface (its `__init__`), never its modules;
- a surface name never shadows a module of its package, and every one resolves;
- the package diagram in docs/architecture.md shows the imports the code makes (transitively reduced);
- the names that tie the layers together are spelled once in the platform's code (the catalog).
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlcore._surface import declared
from mlcore.catalog import ESTIMATORS, FUNCTIONS, OUTPUTS, ROUTES

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "layers" / "core" / "python" / "mlcore"
# From the bottom up; a package may import from the layers below its own.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_surface", "errors"),
    ("catalog",),
    ("schedules", "queries"),
    ("spec", "storage", "html", "tables"),
    ("registry", "images", "routing"),
    ("data", "serving", "runs", "governance"),
    ("training", "batch", "features"),
    ("monitoring",),
)
LAYER_OF = {package: index for index, layer in enumerate(LAYERS) for package in layer}
PACKAGES = sorted(p.name for p in CORE.iterdir() if (p / "__init__.py").exists())
# Code that imports the core: the handlers, the Lambda glue, the CDK app and CLI, the training image.
CLIENTS = [ROOT / "functions", ROOT / "layers" / "core" / "python" / "mlruntime", ROOT / "infra", ROOT / "containers"]


def python_files(*roots: Path) -> Iterator[Path]:
    for root in roots:
        yield from (path for path in root.rglob("*.py") if "__pycache__" not in path.parts)


def core_package(module: str) -> str:
    """`mlcore.data.contract` -> `data`; `mlcore.spec` -> `spec`."""
    return module.split(".")[1]


def imports(path: Path) -> Iterator[str]:
    """Every module of mlcore a file imports (TYPE_CHECKING and function-level imports included)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != "mlcore" else [f"mlcore.{a.name}" for a in node.names]
            yield from (name for name in names if name.startswith("mlcore."))
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("mlcore."))


def package_of_file(path: Path) -> str:
    relative = path.relative_to(CORE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def package_edges() -> set[tuple[str, str]]:
    """`(importer, imported)` between different core packages (`_surface` serves every `__init__`)."""
    edges = set()
    for path in python_files(CORE):
        source = package_of_file(path)
        edges |= {(source, target) for target in map(core_package, imports(path)) if target not in (source, "_surface")}
    return edges


def transitive_reduction(edges: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The edges no longer path implies: what a diagram needs to show the same order."""

    def reachable(start: str, skip: tuple[str, str]) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            for source, target in edges:
                if source == node and (source, target) != skip and target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    return {(source, target) for source, target in edges if target not in reachable(source, (source, target))}


def test_every_package_has_a_layer() -> None:
    modules = {path.stem for path in CORE.glob("*.py") if path.stem != "__init__"}
    assert set(LAYER_OF) == modules | set(PACKAGES)


def test_imports_go_only_to_lower_layers() -> None:
    upward_or_sideways = sorted(
        (source, target) for source, target in package_edges() if LAYER_OF[target] >= LAYER_OF[source]
    )
    assert upward_or_sideways == []


@pytest.mark.parametrize("package", PACKAGES)
def test_other_code_imports_a_package_through_its_surface(package: str) -> None:
    offenders = []
    for path in python_files(CORE, *CLIENTS):
        inside = path.is_relative_to(CORE / package)
        for module in imports(path):
            if not inside and module.startswith(f"mlcore.{package}."):
                offenders.append(f"{path.relative_to(ROOT)}: {module}")
    assert offenders == []


@pytest.mark.parametrize("package", PACKAGES)
def test_a_surface_resolves_and_shadows_no_module(package: str) -> None:
    surface = declared(str(CORE / package / "__init__.py"))
    modules = {path.stem for path in (CORE / package).glob("*.py")}
    shadowed = sorted(name for name, module in surface.items() if name in modules and module != f"mlcore.{package}")
    assert shadowed == []
    imported = importlib.import_module(f"mlcore.{package}")
    assert sorted(imported.__all__) == sorted(surface)
    for name in surface:
        assert getattr(imported, name) is not None


def test_the_architecture_page_draws_the_imports_the_code_makes() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    diagram = page.split("```mermaid", 1)[1].split("```", 1)[0].split("%% packages", 1)[1].split("%% end", 1)[0]
    drawn = set(re.findall(r"^\s*(\w+)\s*-->\s*(\w+)\s*$", diagram, flags=re.MULTILINE))
    drawn = {(source.removeprefix("pkg_"), target.removeprefix("pkg_")) for source, target in drawn}
    assert drawn == transitive_reduction(package_edges())


# -- names declared once -------------------------------------------------------------------------

# argparse verbs of the CLI: a namespace of their own, fixed by the README's contract, that happen
# to equal function names.
CLI_VERBS = {("infra/cli.py", name) for name in ("predict", "promote", "register")}
KEY_PATTERNS = ("datasets/", "runs/", "monitoring/")


def string_literals(path: Path) -> set[str]:
    """The string constants of a file, docstrings excepted (f-string parts included)."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    }


def spelled_in() -> dict[str, set[str]]:
    """`{name: files}` for every catalog name (and S3 key pattern) found as a literal in the platform's code."""
    names = {*FUNCTIONS, *(r.path for r in ROUTES), *(o.key for o in OUTPUTS), *ESTIMATORS}
    found: dict[str, set[str]] = {}
    for path in python_files(CORE, *CLIENTS):
        relative = str(path.relative_to(ROOT))
        for literal in string_literals(path):
            keys = {literal} & names
            keys |= {p for p in KEY_PATTERNS if literal.startswith(p)}
            keys |= {"model=/dt=" for marker in ("model=", "dt=") if marker in literal}
            for key in keys:
                if (relative, key) not in CLI_VERBS:
                    found.setdefault(key, set()).add(relative)
    return found


def test_each_shared_name_is_spelled_in_one_file() -> None:
    twice = {name: sorted(files) for name, files in spelled_in().items() if len(files) > 1}
    assert twice == {}


def test_the_check_finds_the_names_where_the_catalog_declares_them() -> None:
    found = spelled_in()
    assert found["/models/{name}/predict"] == {"layers/core/python/mlcore/catalog/routes.py"}
    assert found["RegistryTable"] == {"layers/core/python/mlcore/catalog/outputs.py"}
    assert found["ridge"] == {"layers/core/python/mlcore/catalog/estimators.py"}
    assert found["runs/"] == {"layers/core/python/mlcore/catalog/keys.py"}


def test_test_modules_have_unique_basenames() -> None:
    # pytest's default import mode refuses a second module of the same name in another folder (make test collects all)
    names = [path.name for path in (ROOT / "tests").rglob("test_*.py")]
    assert sorted({name for name in names if names.count(name) > 1}) == []
