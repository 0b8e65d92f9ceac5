"""Lazy public surfaces for the core's packages.

A package's `__init__` names its public surface once, as the imports of its `if TYPE_CHECKING:`
block (which is what type checkers and readers see). `surface()` reads that block and imports each
name when it is first used, so importing a package or one of its modules costs nothing more: a
function whose layers lack numpy can import `mlcore.training.gate`, and the predict function's
cold start pays for no module it does not use.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def declared(init_file: str) -> dict[str, str]:
    """`{public name: module}` from the `if TYPE_CHECKING:` imports of a package's `__init__`."""
    tree = ast.parse(Path(init_file).read_text())
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    names.update({alias.asname or alias.name: statement.module for alias in statement.names})
    return names


def surface(package: str, init_file: str) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """`__all__`, `__getattr__` and `__dir__` of a package whose surface is its TYPE_CHECKING imports."""
    names = declared(init_file)

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # `from <package> import <submodule>` names a submodule of the package itself.
        value = (
            importlib.import_module(f"{package}.{name}")
            if module == package
            else getattr(importlib.import_module(module), name)
        )
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return sorted(names), __getattr__, __dir__
