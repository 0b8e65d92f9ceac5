"""Unzipped size of every Lambda function with its layers, from a bundled `cdk synth` (cdk.out).

Lambda's limit is 250 MB unzipped for a function and all its layers. Run `make layers-size`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "core" / "python"))

from mlcore.catalog import FUNCTION_TAG, tagged

LIMIT_MIB = 250  # 262,144,000 bytes


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def function_sizes(outdir: Path = Path("cdk.out")) -> list[tuple[str, int, int, int]] | None:
    """(function, code bytes, layer bytes, total bytes) per zipped Lambda function; None if layers are not bundled.

    A job's function is a container image (its limit is 10 GB, not the zip's 250 MB): it is not listed.
    """
    rows = []
    for template_file in sorted(outdir.glob("*.template.json")):
        resources = json.loads(template_file.read_text())["Resources"]
        for resource in resources.values():
            props = resource.get("Properties", {})
            asset = resource.get("Metadata", {}).get("aws:asset:path")
            if resource["Type"] != "AWS::Lambda::Function" or props.get("PackageType") == "Image" or asset is None:
                continue  # an image function, or inline code (a CDK helper's): no zip asset of ours to size
            name = tagged(props.get("Description", ""), FUNCTION_TAG) or props.get("FunctionName", "?")
            code = outdir / asset
            layers = [resources[layer["Ref"]] for layer in props.get("Layers", []) if "Ref" in layer]
            layer_paths = [outdir / layer["Metadata"]["aws:asset:path"] for layer in layers]
            if any(not (p / "python").exists() for p in layer_paths):
                return None
            sizes = [tree_size(code), *(tree_size(p) for p in layer_paths)]
            rows.append((name, sizes[0], sum(sizes[1:]), sum(sizes)))
    return rows


def main(outdir: Path = Path("cdk.out")) -> int:
    rows = function_sizes(outdir)
    if rows is None:
        print("layers are not bundled: run `make synth` (bundling is skipped in fast synths)", file=sys.stderr)
        return 1
    print(f"{'function':<14}{'code MiB':>10}{'layers MiB':>12}{'total MiB':>11}{'of limit':>10}")
    for name, code, layers, total in rows:
        mib = [size / 2**20 for size in (code, layers, total)]
        print(f"{name:<14}{mib[0]:>10.2f}{mib[1]:>12.1f}{mib[2]:>11.1f}{mib[2] / LIMIT_MIB:>10.0%}")
    return 0 if all(total / 2**20 <= LIMIT_MIB for *_, total in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
