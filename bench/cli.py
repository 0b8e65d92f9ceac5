"""How long the `mlops` CLI takes before it answers: `mlops --help` and `mlops models list` against a local target.

Each command runs as a user runs it, in a fresh process (`.venv/bin/mlops`), repeatedly, reading the bytecode
its first run wrote (as Python does for a user, even where PYTHONDONTWRITEBYTECODE is set here); the local
target (synthesized app on moto, with the example model registered) runs in this process. Wall
times are the median of the runs with their spread, against the targets of issue 8 (≤ 0.3 s and
≤ 0.5 s). Before: every command imported the embedded AWS to read the local target's state file
(about 1.6 s here).

Run `.venv/bin/python bench/cli.py [--runs N]`. A report, not a test: it exits 0 unless it crashed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from memory import verdict  # noqa: E402
from serving import child_env  # noqa: E402

from infra.local.example_data import EXAMPLE_SPEC  # noqa: E402
from infra.local.state import LOCAL_DIR_VARIABLE  # noqa: E402

MLOPS = ROOT / ".venv" / "bin" / "mlops"
TARGETS = {"mlops --help": 0.3, "mlops models list": 0.5}


def wall(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([str(MLOPS), *argv], capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"mlops {' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    from infra.local.target import LocalTarget
    from infra.operations import Platform, Resources

    with tempfile.TemporaryDirectory() as outdir, tempfile.TemporaryDirectory() as bytecode:
        print("starting the local target (synth + deploy into moto)…", file=sys.stderr, flush=True)
        target = LocalTarget(Path(outdir), idle_seconds=None).start()
        try:
            Platform(Resources.discover(target.names()), target.client).register_spec(EXAMPLE_SPEC)
            # the variables `mlops local up` tells its user to export
            user = {"AWS_ENDPOINT_URL": target.endpoint, "AWS_DEFAULT_REGION": "us-east-1"}
            user |= {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
            env = child_env({LOCAL_DIR_VARIABLE: outdir, **user}, bytecode)
            commands = {"mlops --help": ["--help"], "mlops models list": ["models", "list"]}
            for argv in commands.values():  # file system cache and bytecode, as a user's second command finds them
                wall(argv, env)
            times = {name: [wall(argv, env) for _ in range(args.runs)] for name, argv in commands.items()}
        finally:
            target.stop()
    print(f"\nmlops CLI wall time, {args.runs} fresh processes each (Python {sys.version.split()[0]})\n")
    print(f"  {'command':<20} {'median':>8} {'min':>8} {'max':>8} {'target':>8}  verdict")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(
            f"  {name:<20} {median:>7.3f}s {min(samples):>7.3f}s {max(samples):>7.3f}s {TARGETS[name]:>7.1f}s  "
            f"{verdict(median <= TARGETS[name])}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
