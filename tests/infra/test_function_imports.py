"""Each function imports only what Lambda gives it: its layers and the runtime's boto3.

The local target runs every handler in one virtualenv that has everything, so a handler importing
pyarrow without the data layer would work here and fail on AWS. These tests import each handler
in a fresh interpreter in which the heavy packages its layers do not provide cannot be imported.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from infra.constructs.layers import LAYER_PACKAGES
from mlcore.catalog import FUNCTION_TAG, FUNCTIONS, LAYER_TAG, tagged

if TYPE_CHECKING:
    from conftest import Synthesized

ROOT = Path(__file__).resolve().parents[2]
# Import names of what the training image has and no function may need, and of the layers' packages.
NEVER_IN_LAMBDA = {"sklearn", "scipy", "pandas", "skl2onnx", "onnx", "awswrangler", "moto"}
IMPORT_NAMES = {"onnxruntime": "onnxruntime", "numpy": "numpy", "pyarrow": "pyarrow", "orjson": "orjson"}
BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (not in this function's layers)")
sys.meta_path.insert(0, Block())
sys.path.insert(0, FOLDER)
import handler
"""


def functions_and_layers(synthesized: Synthesized) -> dict[str, set[str]]:
    """`{function folder: {layer names}}` from the synthesized templates."""
    found = {}
    for stack in synthesized.stacks:
        resources = synthesized.raw(stack)["Resources"]
        for resource in resources.values():
            if resource["Type"] != "AWS::Lambda::Function" or resource["Properties"].get("PackageType") == "Image":
                continue  # a job's function is the training image: no folder, no layers
            folder = tagged(resource["Properties"]["Description"], FUNCTION_TAG)
            layers = {
                tagged(resources[ref["Ref"]]["Properties"]["Description"], LAYER_TAG)
                for ref in resource["Properties"].get("Layers", [])
            }
            assert folder is not None and None not in layers
            found[folder] = {layer for layer in layers if layer is not None}
    return found


def test_every_function_folder_is_a_catalog_function(synthesized: Synthesized) -> None:
    folders = {p.name for p in (ROOT / "functions").iterdir() if p.is_dir()}
    assert set(functions_and_layers(synthesized)) == folders == set(FUNCTIONS)


@pytest.mark.parametrize("folder", sorted(FUNCTIONS))
def test_handler_imports_with_only_its_layers(synthesized: Synthesized, folder: str) -> None:
    layers = functions_and_layers(synthesized)[folder]
    provided = {IMPORT_NAMES[p] for layer in layers for p in LAYER_PACKAGES[layer] if p in IMPORT_NAMES}
    blocked = NEVER_IN_LAMBDA | (set(IMPORT_NAMES.values()) - provided)
    script = f"BLOCKED = {sorted(blocked)!r}\nFOLDER = {str(ROOT / 'functions' / folder)!r}\n" + BLOCKER
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{folder} (layers {sorted(layers)}) cannot import:\n{result.stderr[-1500:]}"


def test_the_predict_function_starts_without_an_sdk() -> None:
    """Its cold start stays fast: no boto3 (~0.5 s with a client), no Powertools, no X-Ray SDK, no YAML parser
    (a spec comes from the registry as JSON)."""
    blocked = sorted(
        NEVER_IN_LAMBDA | {"pyarrow", "boto3", "botocore", "aws_lambda_powertools", "aws_xray_sdk", "yaml"}
    )
    script = f"BLOCKED = {blocked!r}\nFOLDER = {str(ROOT / 'functions' / 'predict')!r}\n" + BLOCKER
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-1500:]
