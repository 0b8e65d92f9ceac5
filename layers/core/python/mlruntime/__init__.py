"""Lambda glue shared by the handlers: Powertools objects, cached boto3 clients and adapters.

Kept apart from `mlcore`, which stays pure: it never creates clients or imports Powertools.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer

from mlcore.registry import Registry
from mlcore.storage import ObjectStore

logger = Logger()
tracer = Tracer()
metrics = Metrics()
_lock = threading.Lock()


@functools.cache
def client(service: str) -> Any:
    """One boto3 client per service per container (boto3's standard configuration and endpoint)."""
    with _lock:  # creating clients from the default session is not thread-safe
        make: Any = boto3.client  # by service name, which the typed overloads do not take
        return make(service)


def registry(table: str) -> Registry:
    return Registry(table, client("dynamodb"))


def store(bucket: str) -> ObjectStore:
    return ObjectStore(bucket, client("s3"))
