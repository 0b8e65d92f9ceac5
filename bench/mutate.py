"""Mutation testing of the core's decision modules with mutmut: the score per module and the survivors.

`make mutate` runs this program (never CI: it takes a while). mutmut mutates code under `src/`, so
the program stages a copy: `.mutate/src/mlcore` (the core), `.mutate/tests` (the unit and functional
tests that exercise it) and a pyproject.toml naming the modules to mutate. mutmut then runs, for each
mutant, the tests that cover the mutated function; a mutant is killed when one of them fails.

    python bench/mutate.py [--module drift ...] [--max-children 2]

Prints a table (killed, survived, no tests, timeouts, score) per module and every surviving mutant
with its diff; `bench/mutate-equivalent.toml` lists the survivors that cannot change behaviour, each
with its reason, which the score counts as killed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGE = ROOT / ".mutate"
CORE = ROOT / "layers" / "core" / "python" / "mlcore"
EQUIVALENT = ROOT / "bench" / "mutate-equivalent.toml"
TARGET = 0.90
# The decision modules (issue 13): drift, contract, gate, registry, the retrain guard, request validation, capture.
MODULES = {
    "drift": "mlcore/monitoring/drift.py",
    "contract": "mlcore/data/contract.py",
    "gate": "mlcore/training/gate.py",
    "registry": "mlcore/registry/table.py",
    "retrain guard": "mlcore/monitoring/retraining.py",
    "request validation": "mlcore/serving/inputs.py",
    "capture": "mlcore/serving/capture.py",
}
# The tests that exercise them (fast ones: no CDK synth, no local target).
TESTS = [
    "unit/test_drift.py",
    "unit/test_boundaries.py",
    "unit/test_contract.py",
    "unit/test_evaluation.py",
    "unit/test_input_validation.py",
    "unit/test_request_decoding.py",
    "unit/test_capture_buffer.py",
    "unit/test_performance_check.py",
    "unit/test_split.py",
    "unit/test_drift_math.py",
    "unit/test_run_record.py",
    "unit/test_retrain_name.py",
    "functional/test_run_records.py",
    "functional/test_registry.py",
    "functional/test_retraining.py",
    "functional/test_storage_capture.py",
    "functional/test_pipeline_steps.py",
    "functional/test_monitor_steps.py",
    # the registry's governance (spec proposals, approvals), audit trail and feature views
    "functional/test_governance_routes.py",
    "functional/test_audit_trail.py",
    "functional/test_feature_store.py",
    "functional/test_view_drift.py",
]
# What some functional tests load from the repository: the Lambda handlers and their sample events.
ALSO_COPY = ("functions", "events")
KILLED = {1, 3, 36, 37, -24, 24, 152, 255}  # failed tests, a pytest error, a timeout, the type check
SURVIVED, NO_TESTS = {0}, {5, 33}


def stage(modules: dict[str, str]) -> None:
    """A fresh `.mutate/` with the core under src/, the chosen tests and the mutmut configuration."""
    shutil.rmtree(STAGE, ignore_errors=True)
    shutil.copytree(CORE, STAGE / "src" / "mlcore", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ALSO_COPY:
        shutil.copytree(ROOT / folder, STAGE / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (STAGE / "tests" / "unit").mkdir(parents=True)
    (STAGE / "tests" / "functional").mkdir()
    # the tests, their conftest files and the helper modules they import (every non-test module beside them)
    helpers = [p.relative_to(ROOT / "tests").as_posix() for p in (ROOT / "tests").glob("*/*.py")]
    for name in ("conftest.py", *(h for h in helpers if not Path(h).name.startswith("test_")), *TESTS):
        if (ROOT / "tests" / name).exists() and (STAGE / "tests" / name).parent.exists():
            shutil.copy(ROOT / "tests" / name, STAGE / "tests" / name)
    only = ", ".join(f'"src/{path}"' for path in modules.values())
    selection = ", ".join(f'"tests/{test}"' for test in TESTS)
    (STAGE / "pyproject.toml").write_text(
        "[tool.mutmut]\n"
        'source_paths = ["src"]\n'
        f"also_copy = [{', '.join(f'{folder!r}' for folder in ALSO_COPY)}]\n"
        f"only_mutate = [{only}]\n"
        f"pytest_add_cli_args_test_selection = [{selection}]\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x", "-m", "not boosting"]\n'
        "\n[tool.pytest.ini_options]\n"
        'filterwarnings = ["ignore::DeprecationWarning"]\n'
        'markers = ["boosting: trains LightGBM or XGBoost", "e2e: the local target"]\n'
    )


def results(modules: dict[str, str]) -> dict[str, dict[str, int | None]]:
    """`{module: {mutant name: exit code}}` from mutmut's .meta files."""
    found = {}
    for module, path in modules.items():
        meta = STAGE / "mutants" / "src" / f"{path}.meta"
        found[module] = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
    return found


def equivalent() -> dict[str, str]:
    """Survivors that cannot change behaviour: `{mutant name: why}`."""
    if not EQUIVALENT.exists():
        return {}
    return {name: entry["why"] for name, entry in tomllib.loads(EQUIVALENT.read_text()).items()}


def show(mutant: str) -> str:
    """The mutant's change: its removed and added lines."""
    shown = subprocess.run(
        [sys.executable, "-m", "mutmut", "show", mutant], cwd=STAGE, capture_output=True, text=True, check=False
    )
    changed = [line for line in shown.stdout.splitlines() if line[:1] in "-+" and line[:3] not in ("---", "+++")]
    return "\n".join(f"    {line.strip()[:1]} {line[1:].strip()}" for line in changed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--module", action="append", choices=sorted(MODULES), help="only these (all by default)")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once (one per core)")
    args = parser.parse_args()
    modules = {name: MODULES[name] for name in (args.module or MODULES)}
    stage(modules)
    started = time.perf_counter()
    # mutmut forks each mutant's test run from a process that already ran the tests: an OpenMP pool
    # (LightGBM, XGBoost) does not survive a fork, and a hung child would count as a kill, so the
    # tests that train them are left out (`-m "not boosting"`; they exercise no decision module).
    run = subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)], cwd=STAGE, check=False
    )
    elapsed = time.perf_counter() - started
    found, known = results(modules), equivalent()
    print(f"\nmutmut on {len(modules)} modules in {elapsed / 60:.1f} min (exit {run.returncode}); target {TARGET:.0%}")
    print(f"{'module':20} {'mutants':>8} {'killed':>7} {'equiv.':>7} {'survived':>9} {'no tests':>9} {'score':>7}")
    survivors: list[str] = []
    missed = []
    for module, codes in found.items():
        counts = Counter(
            "killed" if code in KILLED else "equivalent" if name in known else
            "survived" if code in SURVIVED else "no tests" if code in NO_TESTS else "other"
            for name, code in codes.items()
        )  # fmt: skip
        scored = counts["killed"] + counts["equivalent"]
        total = sum(counts.values())
        score = scored / total if total else 0.0
        if score < TARGET:
            missed.append(module)
        print(
            f"{module:20} {total:8} {counts['killed']:7} {counts['equivalent']:7} {counts['survived']:9} "
            f"{counts['no tests']:9} {score:7.1%}"
        )
        survivors += [name for name, code in codes.items() if code not in KILLED and name not in known]
    if survivors:
        print(f"\n{len(survivors)} surviving mutants (not listed as equivalent in {EQUIVALENT.name}):")
        for name in survivors:
            print(f"{name}\n{show(name)}")
    print(f"\ntarget {TARGET:.0%}: " + (f"MISSED by {', '.join(missed)}" if missed else "met by every module"))
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
