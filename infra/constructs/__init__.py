"""One L3 construct per capability of the platform."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# The settings models live in the core layer; a source checkout has it at layers/core/python
# even before `pip install -e .` (which maps the `mlcore` package to the same directory).
if importlib.util.find_spec("mlcore") is None:
    sys.path.append(str(Path(__file__).resolve().parents[2] / "layers" / "core" / "python"))
