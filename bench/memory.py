"""Peak-memory and timing helpers for benchmark children (standard library only: runs in either virtualenv).

Peak memory of a step is the process's peak resident set size during the step minus its resident set size
just before it: Linux's high-water mark (VmHWM) is reset by writing "5" to /proc/self/clear_refs, read from
/proc/self/status after the step. Where the reset is refused, the step's peak is taken from
`resource.getrusage(RUSAGE_SELF).ru_maxrss`, which can then only show a peak above the earlier ones.
"""

from __future__ import annotations

import gc
import json
import re
import resource
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

METHOD = (
    "peak RSS during the step (VmHWM, reset via /proc/self/clear_refs just before it) minus RSS before it, "
    "in a fresh process after the data is loaded"
)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        match = re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.MULTILINE)
    return int(match.group(1)) if match else 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def measure(step: Callable[[], Any]) -> tuple[Any, float, float, str]:
    """Run `step` once; returns (its result, wall seconds, peak RSS increase in MiB, how the peak was read)."""
    gc.collect()
    before = _status_kib("VmRSS")
    exact = _reset_peak()
    start = time.perf_counter()
    result = step()
    elapsed = time.perf_counter() - start
    peak = _status_kib("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return result, elapsed, max(peak - before, 0) / 1024, "VmHWM" if exact else "ru_maxrss"


def rss_mib() -> float:
    return _status_kib("VmRSS") / 1024


def run_child(script: str, python: Path, role: str, data: Path, extra: list[str] | None = None) -> dict[str, Any]:
    """Run `script --child ROLE --data DATA` in a fresh interpreter; its last stdout line is its JSON result."""
    done = subprocess.run(
        [str(python), str(Path(script).resolve()), "--child", role, "--data", str(data), *(extra or [])],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the {role} child failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"
