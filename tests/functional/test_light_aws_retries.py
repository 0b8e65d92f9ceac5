"""The light clients retry like botocore's standard mode, within a time budget, on the partition's endpoints."""

from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore
import pytest

from mlruntime import lightaws
from mlruntime.lightaws import S3, AwsError, DynamoDB, backoff, dns_suffix


class Scripted:
    """A loopback HTTP server answering each request with the next scripted answer."""

    def __init__(self, answers: list[tuple[int, str] | str], *, keep_alive: bool = False) -> None:
        self.answers = list(answers)
        self.requests = 0
        self.connections: set[tuple[str, int]] = set()
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                scripted.requests += 1
                scripted.connections.add(self.client_address)
                answer = scripted.answers.pop(0) if len(scripted.answers) > 1 else scripted.answers[0]
                if answer == "drop":  # close the connection without an answer
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if answer == "idle-close":  # answer, then close the kept-alive connection (as a server does idle)
                    answer, self.close_connection = OK_ITEM, True
                status, body = answer
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def throttled(code: str) -> tuple[int, str]:
    return 400, json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "slow down"})


OK_ITEM = (200, json.dumps({"Item": {"pk": {"S": "MODEL#churn"}}}))


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def server() -> Iterator[type[Scripted]]:
    started: list[Scripted] = []

    def start(answers: list[tuple[int, str] | str], keep_alive: bool = False) -> Scripted:
        started.append(Scripted(answers, keep_alive=keep_alive))
        return started[-1]

    yield start  # type: ignore[misc]
    for scripted in started:
        scripted.server.shutdown()


def client(url: str, **kwargs: object) -> DynamoDB:
    return DynamoDB(endpoint=url, sleep=lambda seconds: None, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"]
)
def test_dynamodb_throttling_sent_as_http_400_is_retried(server: type[Scripted], code: str) -> None:
    scripted = server([throttled(code), throttled(code), OK_ITEM])
    dynamodb = client(scripted.url)
    assert dynamodb.get_item(TableName="t", Key={})["Item"]["pk"] == {"S": "MODEL#churn"}
    assert (scripted.requests, dynamodb.retries) == (3, 2)


def test_a_client_error_is_not_retried(server: type[Scripted]) -> None:
    scripted = server([throttled("ValidationException"), OK_ITEM])
    with pytest.raises(AwsError) as error:
        client(scripted.url).get_item(TableName="t", Key={})
    assert (error.value.aws_code, error.value.aws_status, scripted.requests) == ("ValidationException", 400, 1)


@pytest.mark.parametrize("answer", [(500, "{}"), (503, "{}"), (429, "{}"), "drop"])
def test_server_errors_too_many_requests_and_dropped_connections_are_retried(
    server: type[Scripted], answer: tuple[int, str] | str
) -> None:
    scripted = server([answer, OK_ITEM])
    assert "Item" in client(scripted.url).get_item(TableName="t", Key={})
    assert scripted.requests == 2


def test_persistent_throttling_gives_up_after_the_last_attempt(server: type[Scripted]) -> None:
    scripted = server([throttled("ThrottlingException")])
    with pytest.raises(AwsError) as error:
        client(scripted.url).get_item(TableName="t", Key={})
    assert error.value.aws_code == "ThrottlingException"
    assert scripted.requests == lightaws.MAX_ATTEMPTS


def test_no_attempt_starts_after_the_call_budget(server: type[Scripted]) -> None:
    """A slow dependency: each attempt is seen to take 3 s, so only what fits the budget is tried."""
    scripted = server([(503, "{}")])
    ticks = iter(range(0, 1000, 3))
    dynamodb = client(scripted.url, clock=lambda: float(next(ticks)))
    with pytest.raises(AwsError):
        dynamodb.get_item(TableName="t", Key={})
    assert 1 < scripted.requests < lightaws.MAX_ATTEMPTS
    assert scripted.requests * 3 <= lightaws.CALL_BUDGET_SECONDS + 3


def test_s3_slow_down_is_retried(server: type[Scripted]) -> None:
    slow_down = (503, "<Error><Code>SlowDown</Code><Message>Reduce your request rate</Message></Error>")
    scripted = server([slow_down, (200, "PAR1")])
    s3 = S3(endpoint=scripted.url, sleep=lambda seconds: None)
    assert s3.get_object(Bucket="b", Key="k")["Body"].read() == b"PAR1"
    assert scripted.requests == 2


def test_backoff_is_full_jitter_capped() -> None:
    rng = random.Random(1)
    for attempt in range(1, 10):
        ceiling = min(lightaws.BACKOFF_CAP_SECONDS, lightaws.BACKOFF_BASE_SECONDS * 2**attempt)
        pauses = [backoff(attempt, rng) for _ in range(200)]
        assert min(pauses) >= 0 and max(pauses) <= ceiling
        assert max(pauses) > ceiling / 2  # jittered over the whole range, not a fixed delay


def test_every_partition_of_botocore_gets_its_dns_suffix() -> None:
    path = os.path.join(os.path.dirname(botocore.__file__), "data", "partitions.json")
    with open(path) as handle:
        partitions = json.load(handle)["partitions"]
    for partition in partitions:
        for region in partition["regions"]:
            if not region.endswith("-global"):
                assert dns_suffix(region) == partition["outputs"]["dnsSuffix"], region


def test_endpoints_follow_the_region_partition(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr(lightaws, "DEFAULT_ENDPOINT", "")
    assert DynamoDB(region="cn-north-1").service_url() == "https://dynamodb.cn-north-1.amazonaws.com.cn"
    assert S3(region="cn-northwest-1")._url("b", "a/k") == "https://b.s3.cn-northwest-1.amazonaws.com.cn/a/k"
    assert DynamoDB(region="eu-west-1").service_url() == "https://dynamodb.eu-west-1.amazonaws.com"


def test_a_dependency_that_never_answers_is_a_dependency_error(server: type[Scripted]) -> None:
    # the serving layer keeps its cached champion on a DependencyError, and answers 503 in the envelope
    from mlcore.errors import DependencyError

    scripted = server(["drop"] * lightaws.MAX_ATTEMPTS)
    with pytest.raises(DependencyError) as error:
        client(scripted.url).get_item(TableName="t", Key={})
    assert error.value.status == 503 and isinstance(error.value, AwsError)
    assert scripted.requests == lightaws.MAX_ATTEMPTS


def test_calls_share_one_kept_alive_connection(server: type[Scripted]) -> None:
    scripted = server([OK_ITEM], keep_alive=True)  # type: ignore[call-arg]
    dynamodb = client(scripted.url)
    for _ in range(5):
        assert dynamodb.get_item(TableName="registry", Key={})["Item"]
    assert (scripted.requests, len(scripted.connections)) == (5, 1)


def test_a_connection_the_server_closed_while_idle_is_replaced_without_a_retry(server: type[Scripted]) -> None:
    # GIVEN a server that closes the kept-alive connection after its first answer (without saying so)
    scripted = server(["idle-close", OK_ITEM], keep_alive=True)  # type: ignore[call-arg]
    dynamodb = client(scripted.url)
    assert dynamodb.get_item(TableName="registry", Key={})["Item"]
    # WHEN the next call finds the connection closed THEN it is sent again on a new one, at once
    assert dynamodb.get_item(TableName="registry", Key={})["Item"]
    assert (scripted.requests, len(scripted.connections), dynamodb.retries) == (2, 2, 0)
