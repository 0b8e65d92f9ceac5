"""The predict function's SigV4 signer agrees with botocore's, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest import mock

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from mlruntime.lightaws import UNSIGNED_PAYLOAD, sign, untamperable

NOW = datetime(2026, 3, 1, 12, 30, 45, tzinfo=UTC)
CREDENTIALS = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token/with+chars==")


def botocore_signature(auth_class: type, service: str, *, method: str, url: str, headers: dict, body: bytes) -> str:
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    credentials = Credentials(*CREDENTIALS)
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        auth_class(credentials, service, "eu-west-1").add_auth(request)
    return request.headers["Authorization"]


@pytest.mark.parametrize(
    ("service", "method", "url", "headers", "body"),
    [
        (
            "dynamodb",
            "POST",
            "https://dynamodb.eu-west-1.amazonaws.com/",
            {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.GetItem"},
            b'{"TableName": "registry", "Key": {"pk": {"S": "MODEL#churn"}}}',
        ),
        ("s3", "GET", "https://artifacts.s3.eu-west-1.amazonaws.com/runs/churn/run%201/model.onnx", {}, b""),
        (
            "s3",
            "PUT",
            "http://127.0.0.1:5000/capture/capture/model%3Dchurn/dt%3D2026-03-01/1230-abc.parquet",
            {"Content-Type": "application/vnd.apache.parquet", "x-amz-meta-sha256": "abc"},
            b"PAR1...PAR1",
        ),
    ],
)
def test_signature_matches_botocore(service: str, method: str, url: str, headers: dict, body: bytes) -> None:
    ours = sign(method, url, headers, body, service=service, region="eu-west-1", credentials=CREDENTIALS, now=NOW)
    auth_class = S3SigV4Auth if service == "s3" else SigV4Auth
    # botocore signs x-amz-content-sha256 only for S3; give it the same header so both sign the same set.
    theirs_headers = {**headers, "X-Amz-Content-SHA256": ours["x-amz-content-sha256"]}
    theirs = botocore_signature(auth_class, service, method=method, url=url, headers=theirs_headers, body=body)
    assert ours["Authorization"] == theirs
    assert ours["x-amz-security-token"] == CREDENTIALS[2]


def test_a_put_checked_by_its_checksum_leaves_the_body_out_of_the_signature_as_botocore_does() -> None:
    """Over TLS, with a checksum header, botocore signs a streamed S3 body as UNSIGNED-PAYLOAD: so do we."""
    url = "https://capture.s3.eu-west-1.amazonaws.com/capture/model%3Dchurn/dt%3D2026-03-01/1230-abc.parquet"
    headers = {"Content-Type": "application/vnd.apache.parquet", "x-amz-checksum-crc32": "NSRBwg=="}
    ours = sign(
        "PUT", url, headers, b"PAR1...PAR1", service="s3", region="eu-west-1", credentials=CREDENTIALS, now=NOW,
        payload_hash=UNSIGNED_PAYLOAD,
    )  # fmt: skip
    assert ours["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    request = AWSRequest(method="PUT", url=url, data=b"PAR1...PAR1", headers=dict(headers))
    request.context.update(
        has_streaming_input=True, checksum={"request_algorithm": {"in": "header", "name": "x-amz-checksum-crc32"}}
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        S3SigV4Auth(Credentials(*CREDENTIALS), "s3", "eu-west-1").add_auth(request)
    assert request.headers["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    assert ours["Authorization"] == request.headers["Authorization"]


@pytest.mark.parametrize(
    ("url", "untampered"),
    [
        ("https://capture.s3.us-east-1.amazonaws.com/k", True),
        ("http://127.0.0.1:5000/capture/k", True),
        ("http://localhost:4566/capture/k", True),
        ("http://[::1]:4566/capture/k", True),
        ("http://10.0.0.5:4566/capture/k", False),
        ("http://s3.example.internal/capture/k", False),
        ("http://127.0.0.1.example.com/capture/k", False),
    ],
)
def test_only_tls_and_this_machine_count_as_channels_no_one_can_alter(url: str, untampered: bool) -> None:
    assert untamperable(url) is untampered
