"""moto's conditional writes made atomic, as DynamoDB's are (infra.local.hooks.atomic_dynamodb_writes)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

from infra.local.hooks import DYNAMODB_WRITES, atomic_dynamodb_writes

WRITERS = 4


@pytest.fixture
def slow_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Widen the window between moto's read of the current item and its write, as a busy machine does."""
    read = Table.get_item

    def slow(self: Table, *args: Any, **kwargs: Any) -> Any:
        found = read(self, *args, **kwargs)
        time.sleep(0.05)
        return found

    monkeypatch.setattr(Table, "get_item", slow)


def _claims(atomic: bool) -> int:
    """How many of WRITERS threads create the same item with `attribute_not_exists`: DynamoDB lets one."""
    guard = atomic_dynamodb_writes() if atomic else contextlib.nullcontext()
    with guard:
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="claims", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        )  # fmt: skip
        start, won = threading.Barrier(WRITERS), []

        def claim(writer: int) -> None:
            start.wait()
            with contextlib.suppress(client.exceptions.ConditionalCheckFailedException):
                client.put_item(TableName="claims", Item={"pk": {"S": "model"}, "by": {"N": str(writer)}},
                                ConditionExpression="attribute_not_exists(pk)")  # fmt: skip
                won.append(writer)

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return len(won)


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


def test_concurrent_conditional_creates_let_exactly_one_writer_through(moto: None, slow_reads: None) -> None:
    assert _claims(atomic=True) == 1


def test_without_the_lock_moto_lets_more_than_one_through(
    moto: None, slow_reads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto's own writes, even where the local target (started by another test) has locked them for the session
    for name in DYNAMODB_WRITES:
        write = DynamoDBBackend.__dict__[name]
        monkeypatch.setattr(DynamoDBBackend, name, getattr(write, "__wrapped_write__", write))
    # the moto behaviour the lock exists for: checked and written in two steps another thread comes between
    assert _claims(atomic=False) > 1
