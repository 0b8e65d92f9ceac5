"""`make layers-size` sizes the zipped functions with their layers, and leaves the image functions out."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

from mlcore.catalog import FUNCTION_TAG, IMAGE_FUNCTION_TAG, LAYER_TAG, tagged

PROGRAM = Path(__file__).resolve().parents[2] / "bench" / "package_size.py"


def package_size() -> ModuleType:
    spec = importlib.util.spec_from_file_location("package_size_under_test", PROGRAM)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def test_a_zipped_function_counts_its_layers_and_an_image_function_is_left_out(tmp_path: Path) -> None:
    write(tmp_path / "asset.code" / "handler.py", 1000)
    write(tmp_path / "asset.layer" / "python" / "numpy" / "core.so", 5000)
    resources = {
        "Layer": {
            "Type": "AWS::Lambda::LayerVersion",
            "Properties": {"Description": f"{LAYER_TAG}data numpy==2.0"},
            "Metadata": {"aws:asset:path": "asset.layer"},
        },
        "Predict": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"Description": f"{FUNCTION_TAG}predict", "Layers": [{"Ref": "Layer"}]},
            "Metadata": {"aws:asset:path": "asset.code"},
        },
        # CDK's helpers may have inline code: no asset of ours
        "Inline": {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"ZipFile": "def handler(e, c): pass"}}},
        # an image function has no zip asset (its code is the training image in ECR)
        "ScoreChunk": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"Description": f"{IMAGE_FUNCTION_TAG}score_chunk", "PackageType": "Image"},
        },
    }
    (tmp_path / "Serving.template.json").write_text(json.dumps({"Resources": resources}))
    assert package_size().function_sizes(tmp_path) == [("predict", 1000, 5000, 6000)]


def test_unbundled_layers_are_reported_rather_than_sized(tmp_path: Path) -> None:
    write(tmp_path / "asset.code" / "handler.py", 10)
    (tmp_path / "asset.layer").mkdir()  # a fast synth leaves the layer's folder without its packages
    resources = {
        "Layer": {"Type": "AWS::Lambda::LayerVersion", "Metadata": {"aws:asset:path": "asset.layer"}},
        "Predict": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"Description": f"{FUNCTION_TAG}predict", "Layers": [{"Ref": "Layer"}]},
            "Metadata": {"aws:asset:path": "asset.code"},
        },
    }
    (tmp_path / "Serving.template.json").write_text(json.dumps({"Resources": resources}))
    assert package_size().function_sizes(tmp_path) is None


def test_a_description_names_what_follows_its_tag() -> None:
    assert tagged(f"{LAYER_TAG}data numpy==2.0 pyarrow==17", LAYER_TAG) == "data"
    assert tagged(f"{IMAGE_FUNCTION_TAG}score_chunk", IMAGE_FUNCTION_TAG) == "score_chunk"
    assert tagged(f"{IMAGE_FUNCTION_TAG}score_chunk", FUNCTION_TAG) is None  # a job's function is not a folder
    assert tagged(FUNCTION_TAG, FUNCTION_TAG) is None  # a tag naming nothing
    assert tagged(f"{FUNCTION_TAG} predict", FUNCTION_TAG) is None  # nor a word after it
    assert tagged(f"x{FUNCTION_TAG}predict", FUNCTION_TAG) is None  # a tag is the start of a word
    assert tagged(f"serves {FUNCTION_TAG}predict", FUNCTION_TAG) == "predict"
    assert tagged("", FUNCTION_TAG) is None
