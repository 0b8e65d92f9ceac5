"""What the layers' bytecode saves on a Lambda cold start: a function's imports, with and without it.

Lambda extracts layers to /opt, which is read-only: a module without bytecode there is compiled on every cold
start, and the compiled code is thrown away. This program bundles the layers as `cdk synth` does
(infra/constructs/layers.py: the locked wheels for CPython 3.12 on Linux, our packages, the bytecode), keeps a
copy without the bytecode, and imports a function's handler in fresh CPython 3.12 processes from each copy,
interleaved, with PYTHONDONTWRITEBYTECODE=1 (nothing is cached between runs, as on /opt). It reports the median
import time and its spread per function, the ratio, and the bytes the bytecode adds to each layer.

Run `.venv/bin/python bench/layer_bytecode.py [--runs N]` (`make bench-cold-start`). It needs a CPython 3.12
(python3.12 on the PATH, or MLOPS_LAYER_PYTHON) and PyPI or pip's cache. A report, not a test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import serving  # noqa: E402 (the serving benchmark's import of a handler, as its cold starts do it)

from infra.constructs.layers import (  # noqa: E402
    CORE_PACKAGES,
    PROVIDED_BY_RUNTIME,
    PipLayerBundling,
    compile_layer,
    project_pins,
    runtime_python,
    target_flags,
)
from infra.locks import CONSTRAINTS  # noqa: E402
from mlcore.catalog.functions import FUNCTIONS  # noqa: E402

# A function of each set of layers: the API's (core + serving), a governance one (core), a pipeline step (core + data)
MEASURED = ("predict", "govern", "validate")
CHILD = (
    """
import importlib.util, sys, time
started = time.perf_counter()
"""
    + serving.IMPORT_HANDLER
    + """
print(time.perf_counter() - started)
"""
)
ENVIRONMENT = {  # what the runtime sets; no request is answered, so no AWS is reached
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def bundle(layer: str, into: Path) -> Path:
    """The layer as `cdk synth` bundles it (with bytecode when a CPython 3.12 is found)."""
    packages = CORE_PACKAGES if layer == "core" else ()
    print(f"bundling the {layer} layer …", file=sys.stderr, flush=True)
    if not PipLayerBundling(layer, packages).try_bundle(str(into)):
        raise SystemExit(f"bundling the {layer} layer failed")
    return into


def runtime_packages(python: str, into: Path) -> Path:
    """What the Lambda runtime provides beside the layers (boto3 at our pins), with its bytecode in both copies:
    it is AWS's, not ours to ship."""
    print("installing the runtime's boto3 …", file=sys.stderr, flush=True)
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    command += [*target_flags(), "--target", str(into / "python"), "--constraint", str(CONSTRAINTS)]
    command += [project_pins()[name] for name in PROVIDED_BY_RUNTIME if name in project_pins()]
    subprocess.run(command, check=True)
    compile_layer(into, python)
    return into


def without_bytecode(layer: Path, into: Path) -> tuple[Path, int]:
    """A copy of the layer without its bytecode, and the bytes the bytecode took."""
    shutil.copytree(layer, into, ignore=shutil.ignore_patterns("__pycache__"))
    added = sum(f.stat().st_size for f in layer.rglob("*.pyc"))
    return into, added


def import_seconds(python: str, handler: Path, roots: list[Path]) -> float:
    """One fresh process's import of the handler, with the layers' python/ folders first on its path (/opt/python)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}, **ENVIRONMENT}
    env["PYTHONPATH"] = os.pathsep.join(str(root / "python") for root in roots)  # the runtime's last, as on Lambda
    done = subprocess.run(
        [python, "-c", CHILD.format(handler=str(handler))], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"importing {handler} failed:\n{done.stderr[-3000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="fresh processes per function and layer copy (9)")
    args = parser.parse_args()
    python = runtime_python()
    if python is None:
        print("no CPython 3.12 here (python3.12, or MLOPS_LAYER_PYTHON): nothing to compare", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="layer-bytecode-") as tmp:
        compiled: dict[str, Path] = {}
        plain: dict[str, Path] = {}
        added: dict[str, int] = {}
        for layer in sorted({layer for name in MEASURED for layer in FUNCTIONS[name].layers}):
            compiled[layer] = bundle(layer, Path(tmp, "with", layer))
            plain[layer], added[layer] = without_bytecode(compiled[layer], Path(tmp, "without", layer))
        runtime = runtime_packages(python, Path(tmp, "runtime"))
        times: dict[tuple[str, str], list[float]] = {}
        for name in MEASURED:
            handler = ROOT / "functions" / name / "handler.py"
            layers = FUNCTIONS[name].layers
            for run in range(args.runs + 1):  # the first, discarded: the page cache warm
                print(f"  {name} {run}/{args.runs}", file=sys.stderr, flush=True)
                for kind, copies in (("without", plain), ("with", compiled)):  # interleaved: load hits both alike
                    seconds = import_seconds(python, handler, [*(copies[layer] for layer in layers), runtime])
                    if run:
                        times.setdefault((name, kind), []).append(seconds)
    report(python, times, added, args.runs)
    return 0


def report(python: str, times: dict[tuple[str, str], list[float]], added: dict[str, int], runs: int) -> None:
    version = subprocess.run([python, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"\nA handler's imports from the bundled layers in a fresh {version} process (PYTHONDONTWRITEBYTECODE=1,")
    print(f"as on Lambda's read-only /opt): median of {runs} runs (min-max), seconds; load {os.getloadavg()[0]:.2f}\n")
    print(f"{'function':<10} {'layers':<14} {'without bytecode':>20} {'with bytecode':>20} {'with/without':>13}")
    for name in MEASURED:
        without, with_ = times[name, "without"], times[name, "with"]
        cells = [f"{statistics.median(t):.3f} ({min(t):.3f}-{max(t):.3f})" for t in (without, with_)]
        ratio = statistics.median(with_) / statistics.median(without)
        layers = "+".join(FUNCTIONS[name].layers)
        print(f"{name:<10} {layers:<14} {cells[0]:>20} {cells[1]:>20} {ratio:>13.2f}")
    print("\nbytecode added per layer (unzipped): " + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in added.items()))
    print(f"measured at {time.strftime('%Y-%m-%d %H:%M')}")


if __name__ == "__main__":
    sys.exit(main())
