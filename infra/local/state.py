"""Where a running local target says what it deployed (read by the CLI, which must not import moto)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LOCAL_OUTDIR = ROOT / "cdk.out" / "local"
STATE_FILE = "local-target.json"
# Where the CLI looks for a running target's state when it was not started in the default folder.
LOCAL_DIR_VARIABLE = "MLOPS_LOCAL_DIR"
# A local-only route of the local API (not of API Gateway): recycle every function's container now.
RECYCLE_PATH = "/_local/recycle"
# Another: deliver the retraining schedule's event now, for the model named in the body's `model_name`.
FIRE_PATH = "/_local/fire"
# The queue the local target subscribes to the alerts topic (`mlops local alerts` reads it), named in the state file.
LOCAL_ALERTS, LOCAL_ALERTS_QUEUE = "local_alerts_queue", "mlops-local-alerts"


def write_state(state: dict[str, Any], outdir: Path = LOCAL_OUTDIR) -> None:
    (outdir / STATE_FILE).write_text(json.dumps(state, indent=2))


def read_state(outdir: Path | None = None) -> dict[str, Any] | None:
    path = (outdir or Path(os.environ.get(LOCAL_DIR_VARIABLE) or LOCAL_OUTDIR)) / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def clear_state(outdir: Path = LOCAL_OUTDIR) -> None:
    (outdir / STATE_FILE).unlink(missing_ok=True)
