"""The embedded AWS's endpoint keeps a connection open across requests, as AWS's endpoints do."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from infra.local.server import EmbeddedAwsServer, wsgi_server

LIST_TABLES = {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"}
SIGNED = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x"


@pytest.fixture
def endpoint(aws: Any) -> Iterator[tuple[str, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = EmbeddedAwsServer("127.0.0.1", port).start()
    yield "127.0.0.1", port
    server.stop()


def call(connection: http.client.HTTPConnection, body: bytes, headers: dict[str, str]) -> http.client.HTTPResponse:
    connection.request("POST", "/", body=body, headers={**LIST_TABLES, "Authorization": SIGNED, **headers})
    response = connection.getresponse()
    response.read()
    return response


def test_a_connection_carries_the_next_request(endpoint: tuple[str, int]) -> None:
    connection = http.client.HTTPConnection(*endpoint, timeout=10)
    first = call(connection, b"{}", {})
    opened = connection.sock
    # a request whose body the application does not need (a GET-style call with a body) leaves nothing behind
    second = call(connection, json.dumps({"Limit": 5, "padding": "x" * 70_000}).encode(), {})
    third = call(connection, b"{}", {})
    assert [r.status for r in (first, second, third)] == [200, 200, 200]
    assert first.getheader("Connection") is None and not first.will_close
    assert connection.sock is opened  # one TCP connection for the three
    connection.close()


def test_a_client_that_asks_to_close_is_closed(endpoint: tuple[str, int]) -> None:
    connection = http.client.HTTPConnection(*endpoint, timeout=10)
    answer = call(connection, b"{}", {"Connection": "close"})
    assert answer.status == 200 and answer.will_close and answer.getheader("Connection") == "close"
    connection.close()


def test_a_malformed_request_on_a_kept_connection_is_refused_and_closes_it(endpoint: tuple[str, int]) -> None:
    connection = http.client.HTTPConnection(*endpoint, timeout=10)
    assert call(connection, b"{}", {}).status == 200
    assert connection.sock is not None
    connection.sock.sendall(b"NOT A REQUEST LINE AT ALL\r\n\r\n")
    answer = b""
    while chunk := connection.sock.recv(65536):  # the server closes the connection after its answer
        answer += chunk
    connection.close()
    assert b"400 - Bad request syntax" in answer


def test_a_length_that_is_not_a_number_is_refused(endpoint: tuple[str, int]) -> None:
    connection = http.client.HTTPConnection(*endpoint, timeout=10)
    connection.putrequest("POST", "/")
    connection.putheader("Content-Length", "-5")
    connection.endheaders()
    answer = connection.getresponse()
    assert answer.status == 400 and answer.will_close
    connection.close()


def test_stopping_closes_the_kept_connections(aws: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = EmbeddedAwsServer("127.0.0.1", port).start()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    assert call(connection, b"{}", {}).status == 200
    server.stop()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        call(connection, b"{}", {})  # not answered by a server that was stopped
    connection.close()


def test_each_service_is_reached_through_one_endpoint_with_its_backend_looked_up_once(
    endpoint: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from moto import backends

    scans = []
    listed = backends.list_of_moto_modules
    monkeypatch.setattr(backends, "list_of_moto_modules", lambda: scans.append(1) or listed())
    url = "http://{}:{}".format(*endpoint)
    dynamodb = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1")
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    s3.create_bucket(Bucket="routed")
    for _ in range(3):  # alternating: a cached host never sends one service's call to the other
        assert "TableNames" in dynamodb.list_tables()
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["routed"]
    first_round = len(scans)
    dynamodb.list_tables()
    s3.list_buckets()
    assert first_round > 0 and len(scans) == first_round  # hosts seen before are not matched again


def test_dynamodb_items_of_every_type_come_back_as_written(endpoint: tuple[str, int]) -> None:
    import boto3

    dynamodb = boto3.client("dynamodb", endpoint_url="http://{}:{}".format(*endpoint), region_name="us-east-1")
    dynamodb.create_table(
        TableName="items",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    plain = {"pk": {"S": "plain"}, "n": {"N": "12.5"}, "ok": {"BOOL": False}, "none": {"NULL": True}}
    rich = {
        "pk": {"S": "rich"},
        "raw": {"B": b"\x00\xff"},
        "tags": {"SS": ["a", "b"]},
        "nested": {"M": {"inner": {"S": "v"}, "bytes": {"B": b"zz"}}},
        "list": {"L": [{"N": "1"}, {"BS": [b"q"]}]},
    }
    for item in (plain, rich):
        dynamodb.put_item(TableName="items", Item=item)
    got = dynamodb.batch_get_item(RequestItems={"items": {"Keys": [{"pk": {"S": "plain"}}, {"pk": {"S": "rich"}}]}})
    assert sorted(got["Responses"]["items"], key=lambda item: item["pk"]["S"]) == [plain, rich]
    assert dynamodb.get_item(TableName="items", Key={"pk": {"S": "plain"}})["Item"] == plain


def test_each_response_class_is_listed_once_and_unknown_actions_are_still_refused(
    endpoint: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    import inspect

    from moto.dynamodb.responses import DynamoHandler

    listed: list[Any] = []
    members = inspect.getmembers
    monkeypatch.setattr(inspect, "getmembers", lambda of, *args, **kw: listed.append(of) or members(of, *args, **kw))
    connection = http.client.HTTPConnection(*endpoint, timeout=10)
    for _ in range(3):
        answer = call(connection, b"{}", {})
        assert answer.status == 200
    unknown = call(connection, b"{}", {"X-Amz-Target": "DynamoDB_20120810.NoSuchAction"})
    connection.close()
    assert listed.count(DynamoHandler) <= 1  # without the cache moto lists it on every call
    assert unknown.status >= 400


def test_projected_reads_answer_as_moto_does_and_top_level_ones_skip_its_projection(
    endpoint: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from infra.local import dynamodb_answers

    projected_by_moto: list[list[list[str]]] = []
    moto_project = dynamodb_answers.MOTO_PROJECT

    def spied(item: Any, paths: list[list[str]]) -> Any:
        projected_by_moto.append(paths)
        return moto_project(item, paths)

    monkeypatch.setattr(dynamodb_answers, "MOTO_PROJECT", spied)
    dynamodb = boto3.client("dynamodb", endpoint_url="http://{}:{}".format(*endpoint), region_name="us-east-1")
    dynamodb.create_table(
        TableName="projected",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    item = {
        "pk": {"S": "a"},
        "sk": {"N": "1"},
        "doc": {"S": "{}"},
        "photo": {"B": b"\x00"},
        "nested": {"M": {"inner": {"S": "v"}, "other": {"N": "2"}}},
        "entries": {"L": [{"S": "first"}, {"S": "second"}]},
        "a.b": {"S": "dotted name"},
    }
    dynamodb.put_item(TableName="projected", Item=item)
    key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    top = {
        "ProjectionExpression": "doc, photo, #n, absent, #d",  # an absent attribute is left out
        "ExpressionAttributeNames": {"#n": "nested", "#d": "a.b"},  # a name with a dot is still top-level
    }
    wanted = {name: item[name] for name in ("doc", "photo", "nested", "a.b")}
    assert dynamodb.get_item(TableName="projected", Key=key, **top)["Item"] == wanted  # type: ignore[arg-type]
    batch = dynamodb.batch_get_item(RequestItems={"projected": {"Keys": [key], **top}})  # type: ignore[dict-item]
    assert batch["Responses"]["projected"] == [wanted]
    query = dynamodb.query(
        TableName="projected", KeyConditionExpression="pk = :a", ExpressionAttributeValues={":a": {"S": "a"}}, **top
    )  # type: ignore[arg-type]
    assert query["Items"] == [wanted]
    assert projected_by_moto == []  # top-level names only: copied, not projected by moto
    deep = dynamodb.get_item(TableName="projected", Key=key, ProjectionExpression="nested.inner, entries[1], doc")
    assert deep["Item"] == {
        "nested": {"M": {"inner": {"S": "v"}}},
        "entries": {"L": [{"S": "second"}]},
        "doc": {"S": "{}"},
    }
    assert len(projected_by_moto) == 1
    assert dynamodb.get_item(TableName="projected", Key=key)["Item"] == item  # the stored item is left whole


def dynamodb_request(operation: str, body: Any) -> dict[str, Any]:
    """A DynamoDB call as werkzeug's test client takes it."""
    return {
        "path": "/",
        "method": "POST",
        "data": body if isinstance(body, str) else json.dumps(body),
        "headers": {**LIST_TABLES, "X-Amz-Target": f"DynamoDB_20120810.{operation}", "Authorization": SIGNED},
    }


def seen(answer: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """What a client sees of an answer: status, headers (but the random request id), body."""
    headers = sorted((k, v) for k, v in answer.headers.items() if k.lower() != "x-amzn-requestid")
    return answer.status_code, headers, answer.data


def test_dynamodb_answers_without_flask_are_moto_s_flask_answers(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.moto_server.werkzeug_app import create_backend_app
    from werkzeug.test import Client

    from infra.local.dynamodb_answers import answer_dynamodb

    flask, lane = Client(create_backend_app("dynamodb")), Client(answer_dynamodb)
    table = {"TableName": "answers"}
    created = {
        **table,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    item = {"pk": {"S": "a"}, "photo": {"B": "AP8="}, "n": {"N": "2"}, "nested": {"M": {"x": {"SS": ["p", "q"]}}}}
    assert lane.open(**dynamodb_request("CreateTable", created)).status_code == 200
    assert lane.open(**dynamodb_request("PutItem", {**table, "Item": item})).status_code == 200
    key = {"Key": {"pk": {"S": "a"}}}
    calls = [  # each gives the same answer however often it is made
        ("GetItem", {**table, **key}),
        ("GetItem", {**table, **key, "ProjectionExpression": "photo, n"}),
        ("BatchGetItem", {"RequestItems": {"answers": {"Keys": [key["Key"], {"pk": {"S": "absent"}}]}}}),
        ("Query", {**table, "KeyConditionExpression": "pk = :a", "ExpressionAttributeValues": {":a": {"S": "a"}}}),
        ("PutItem", {**table, "Item": item, "ReturnValues": "ALL_OLD"}),
        ("PutItem", {**table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}),  # 400
        ("GetItem", {"TableName": "no-such-table", **key}),  # 400
        ("CreateTable", created),  # 400: it exists
        ("ListTables", {}),
    ]
    statuses = []
    for operation, body in calls:
        by_flask, by_lane = (seen(client.open(**dynamodb_request(operation, body))) for client in (flask, lane))
        assert by_lane == by_flask, operation
        statuses.append(by_lane[0])
    assert statuses == [200, 200, 200, 200, 200, 400, 400, 400, 200]
    assert ("Access-Control-Allow-Origin", "*") in by_lane[1]  # moto's CORS header, kept
    for client in (flask, lane):  # moto fails on these alike (werkzeug's server answers 500)
        with pytest.raises(Exception, match="NoSuchAction"):
            client.open(**dynamodb_request("NoSuchAction", {}))
        with pytest.raises(AttributeError):
            client.open(**dynamodb_request("GetItem", '"a JSON text, not an object"'))
    from botocore.exceptions import ClientError
    from moto.dynamodb.responses import DynamoHandler

    def refusing(*_: Any) -> Any:
        raise ClientError({"Error": {"Code": "Refused", "Message": "refused by a client call"}}, "GetItem")

    monkeypatch.setattr(DynamoHandler, "_dispatch", refusing)  # a botocore error in the handler: 400, its message
    refused = [seen(client.open(**dynamodb_request("GetItem", {**table, **key}))) for client in (flask, lane)]
    assert refused[0] == refused[1] and refused[0][::2] == (400, b"refused by a client call")


def test_dynamodb_requests_reach_moto_without_flask_and_other_services_through_it(
    endpoint: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from flask import Flask

    flask_apps: list[str] = []
    through_flask = Flask.__call__
    monkeypatch.setattr(Flask, "__call__", lambda app, *a: flask_apps.append(app.service) or through_flask(app, *a))
    url = "http://{}:{}".format(*endpoint)
    dynamodb = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1")
    assert dynamodb.list_tables()["TableNames"] == []
    assert flask_apps == []
    boto3.client("s3", endpoint_url=url, region_name="us-east-1").list_buckets()
    streams = boto3.client("dynamodbstreams", endpoint_url=url, region_name="us-east-1")
    assert streams.list_streams()["Streams"] == []  # DynamoDB Streams' target is not DynamoDB's
    assert flask_apps == ["s3", "dynamodbstreams"]
    # a browser's call (flask-cors answers its Origin), and a path that is not DynamoDB's, go through Flask
    connection = http.client.HTTPConnection(*endpoint, timeout=10)
    browser = call(connection, b"{}", {"Origin": "http://localhost:3000"})
    assert browser.status == 200 and browser.getheader("Access-Control-Allow-Origin") == "http://localhost:3000"
    connection.request("POST", "/elsewhere", body=b"{}", headers={**LIST_TABLES, "Authorization": SIGNED})
    answer = connection.getresponse()
    assert (answer.status, answer.read()[:15]) == (404, b"<!doctype html>")  # moto's Flask app has no such route
    connection.request("GET", "/", headers={**LIST_TABLES, "Authorization": SIGNED})  # not how SDKs call
    assert connection.getresponse().read()
    connection.close()
    assert flask_apps == ["s3", "dynamodbstreams", "dynamodb", "dynamodb", "dynamodb"]


def failing_after_headers(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    if environ["PATH_INFO"] == "/before":
        raise RuntimeError("failed before answering")
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "100")])
    yield b'{"partial": '
    raise RuntimeError("failed while writing the body")


def test_an_application_that_fails_midway_closes_its_connection_rather_than_leave_the_client_waiting() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = wsgi_server("127.0.0.1", port, failing_after_headers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(2):  # before answering: werkzeug's 500 is whole, and the connection carries the next request
            connection.request("POST", "/before", body=b"{}")
            answer = connection.getresponse()
            assert answer.status == 500 and answer.read() and not answer.will_close
        opened = connection.sock
        connection.request("POST", "/after", body=b"{}")
        assert connection.sock is opened
        answer = connection.getresponse()
        assert answer.status == 200
        with pytest.raises(http.client.IncompleteRead):  # at once: not after the client's 30 s timeout
            answer.read()
        connection.close()
    finally:
        server.shutdown()
        server.server_close()


def test_a_kept_connection_left_idle_is_closed_without_an_error_in_the_log(
    aws: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import time

    from infra.local.server import KeepAliveHandler

    monkeypatch.setattr(KeepAliveHandler, "timeout", 0.3)  # IDLE_SECONDS, shortened
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = EmbeddedAwsServer("127.0.0.1", port).start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        with caplog.at_level(logging.INFO):
            assert call(connection, b"{}", {}).status == 200
            time.sleep(1.0)  # idle past the timeout: the server closes it, as AWS closes an idle connection
            assert [r.getMessage() for r in caplog.records if "timed out" in r.getMessage()] == []
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            call(connection, b"{}", {})
        connection.close()
    finally:
        server.stop()
