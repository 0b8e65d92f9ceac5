"""Lambda glue shared by the handlers: Powertools objects, cached boto3 clients and adapters.

Kept apart from `mlcore`, which stays pure: it never creates clients or imports Powertools.
`logger`, `tracer` and `metrics` are created on first use, so the predict function, which needs
none of them, does not pay their imports (X-Ray's SDK alone is ~0.25 s) on a cold start.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from mlcore.registry import Registry
from mlcore.storage import ObjectStore

_lock = threading.Lock()


def __getattr__(name: str) -> Any:
    """`logger`, `tracer` and `metrics` (Powertools), created when a handler first imports them."""
    if name == "logger":
        from aws_lambda_powertools.logging import Logger

        value: Any = Logger()
    elif name == "tracer":
        from aws_lambda_powertools.tracing import Tracer

        value = Tracer()
    elif name == "metrics":
        from aws_lambda_powertools.metrics import Metrics

        value = Metrics()
    else:
        raise AttributeError(name)
    globals()[name] = value
    return value


@functools.cache
def client(service: str) -> Any:
    """One boto3 client per service per container (boto3's standard configuration and endpoint)."""
    import boto3  # here, not at the top: the predict function never loads it (see lightaws)

    with _lock:  # creating clients from the default session is not thread-safe
        make: Any = boto3.client  # by service name, which the typed overloads do not take
        return make(service)


def registry(table: str) -> Registry:
    return Registry(table, client("dynamodb"))


def store(bucket: str) -> ObjectStore:
    return ObjectStore(bucket, client("s3"))


_shutdown_hooks: list[Callable[[], object]] = []


def on_shutdown(hook: Callable[[], object]) -> None:
    """Run `hook` when Lambda shuts the container down.

    Lambda sends the runtime SIGTERM at shutdown when an extension is registered; the core layer
    ships one (extensions/mlops-shutdown) for that. The local target calls `shutdown()` itself.
    """
    _shutdown_hooks.append(hook)
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is not _on_sigterm:
        signal.signal(signal.SIGTERM, _on_sigterm)


def shutdown() -> None:
    """Run every shutdown hook once (a failing hook does not stop the others)."""
    hooks, _shutdown_hooks[:] = list(_shutdown_hooks), []
    for hook in hooks:
        try:
            hook()
        except Exception:
            logging.getLogger(__name__).exception("shutdown hook failed")


def _on_sigterm(signum: int, frame: object) -> None:
    shutdown()
    sys.exit(0)


def emit_metrics(namespace: str, dimensions: dict[str, str], values: dict[str, tuple[float, str]]) -> None:
    """Write one CloudWatch embedded-metric-format line (`values`: name -> (value, unit)).

    The predict function's hot path uses this instead of Powertools' Metrics, which reads the
    environment and builds its metric set on every call.
    """
    if not values or os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true":
        return
    definitions = [{"Name": name, "Unit": unit} for name, (_, unit) in values.items()]
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": [list(dimensions)], "Metrics": definitions}],
        },
        **dimensions,
        **{name: value for name, (value, _) in values.items()},
    }
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
