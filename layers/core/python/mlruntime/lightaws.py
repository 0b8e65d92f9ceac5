"""Minimal SigV4 clients for the predict function's few AWS calls: DynamoDB GetItem/Query/BatchGetItem, S3
Get/PutObject, KMS GenerateMac.

boto3's import and its first S3 client cost ~0.5 s of every cold start, as much as all the rest of
the predict function. These clients speak the same wire protocols with the standard library and
return what boto3's low-level clients return for these calls, so `Registry` and `ObjectStore`
take them unchanged. Credentials, region and endpoint come from the standard environment variables
(Lambda sets them); `AWS_ENDPOINT_URL` points them at the local target, as it does boto3.
The signer is checked against botocore's in the tests.

Like botocore's standard retry mode, a call is retried with full-jitter exponential backoff on
throttling (DynamoDB answers HTTP 400 with a throttling code), on 429 and 5xx answers and on
dropped connections, within a time budget per call that leaves API Gateway's 29 s to the rest of
the request. The endpoint's domain follows the region's partition (`aws-cn` regions are under
`amazonaws.com.cn`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import io
import json
import os
import random
import threading
import time
import urllib.parse
import zlib
from datetime import UTC, datetime
from typing import Any

from mlcore.errors import DependencyError

MAX_ATTEMPTS = 4  # botocore's standard mode makes 3; one more fits the budget
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 1.0
ATTEMPT_TIMEOUT_SECONDS = 3.0
# The payload hash a signature carries when S3 is to check the body by its checksum header instead.
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
# All attempts of one call, backoff included: a request makes a few calls within API Gateway's 29 s.
CALL_BUDGET_SECONDS = 8.0
# Where requests go when no endpoint variable is set ("" is AWS itself); tests point it at moto.
DEFAULT_ENDPOINT = ""
# Error codes that mean "slow down" (DynamoDB sends them with HTTP 400, S3 with 503).
THROTTLING_CODES = frozenset({
    "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded", "Throttling",
    "ThrottledException", "RequestThrottledException", "TooManyRequestsException", "SlowDown",
    "RequestThrottled", "TransactionInProgressException",
})  # fmt: skip
# DNS suffix of each partition, by region prefix (botocore's partitions.json; a test compares them).
PARTITION_SUFFIXES = (
    ("cn-", "amazonaws.com.cn"),
    ("us-isob-", "sc2s.sgov.gov"),
    ("us-iso-", "c2s.ic.gov"),
    ("eu-isoe-", "cloud.adc-e.uk"),
    ("us-isof-", "csp.hci.ic.gov"),
    ("eusc-", "amazonaws.eu"),
)
DEFAULT_SUFFIX = "amazonaws.com"


def dns_suffix(region: str) -> str:
    """The domain of a region's endpoints: `amazonaws.com`, or its partition's (`amazonaws.com.cn`)."""
    return next((suffix for prefix, suffix in PARTITION_SUFFIXES if region.startswith(prefix)), DEFAULT_SUFFIX)


def backoff(attempt: int, rng: random.Random | None = None) -> float:
    """Full-jitter exponential backoff before retry number `attempt` (1, 2, ...)."""
    return (rng or random).uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))


def _dynamodb_error_code(status: int, body: bytes) -> str:
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        return str(status)
    return str(document.get("__type", status)).rsplit("#", 1)[-1]


def retryable(status: int, body: bytes) -> bool:
    """Whether an AWS answer is worth another attempt: 429, 5xx, or a throttling error code."""
    if status == 429 or status >= 500:
        return True
    if status != 400:
        return False
    text = body.decode(errors="replace")
    s3_code = text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else ""
    return _dynamodb_error_code(status, body) in THROTTLING_CODES or s3_code in THROTTLING_CODES


class AwsError(DependencyError):
    """An AWS error response: `aws_code` is the service's error code, `aws_status` its HTTP status (a client
    of the API sees 503: a service the request needed did not answer)."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.aws_code = code
        self.aws_status = status


class NoSuchKeyError(AwsError):
    """S3 has no object at that key (what boto3 raises as `client.exceptions.NoSuchKey`)."""


class _S3Exceptions:
    NoSuchKey = NoSuchKeyError


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def sign(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    *,
    service: str,
    region: str,
    credentials: tuple[str, str, str | None],
    now: datetime | None = None,
    payload_hash: str | None = None,
) -> dict[str, str]:
    """The headers of a SigV4-signed request (`Authorization`, `X-Amz-Date`, ...), added to `headers`; the body's
    SHA-256 is signed unless `payload_hash` says otherwise (`UNSIGNED_PAYLOAD`)."""
    access_key, secret_key, token = credentials
    now = now or datetime.now(UTC)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    parts = urllib.parse.urlsplit(url)
    payload_hash = payload_hash or hashlib.sha256(body).hexdigest()
    signed = {**headers, "host": parts.netloc, "x-amz-date": stamp, "x-amz-content-sha256": payload_hash}
    if token:
        signed["x-amz-security-token"] = token
    canonical_headers = {k.lower().strip(): " ".join(v.split()) for k, v in signed.items()}
    names = sorted(canonical_headers)
    query = sorted(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    # S3 signs the path as sent (encoded once); the other services sign it encoded twice.
    path = parts.path or "/"
    canonical = "\n".join([
        method,
        path if service == "s3" else urllib.parse.quote(path, safe="/~"),
        "&".join(f"{urllib.parse.quote(k, safe='~')}={urllib.parse.quote(v, safe='~')}" for k, v in query),
        "".join(f"{name}:{canonical_headers[name]}\n" for name in names),
        ";".join(names),
        payload_hash,
    ])  # fmt: skip
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    del signed["host"]
    return signed


def untamperable(url: str) -> bool:
    """Whether no one between here and `url` can alter a request: TLS, or a host on this machine."""
    parts = urllib.parse.urlsplit(url)
    return parts.scheme == "https" or parts.hostname in {"localhost", "127.0.0.1", "::1"}


class _Client:
    """Signs and sends requests for one service, retrying throttling, server errors and dropped connections."""

    service = ""

    def __init__(
        self,
        region: str | None = None,
        endpoint: str | None = None,
        *,
        clock: Any = time.monotonic,
        sleep: Any = time.sleep,
    ) -> None:
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        variable = f"AWS_ENDPOINT_URL_{self.service.upper()}"
        self.endpoint = (
            endpoint or os.environ.get(variable) or os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT
        ).rstrip("/")
        self.clock = clock
        self.sleep = sleep
        self.retries = 0  # retried attempts, for tests and metrics
        self._local = threading.local()  # each thread's connections (http.client's are not thread-safe)

    def service_url(self, host_prefix: str = "") -> str:
        """`https://<prefix><service>.<region>.<partition domain>`, or the configured endpoint."""
        return self.endpoint or f"https://{host_prefix}{self.service}.{self.region}.{dns_suffix(self.region)}"

    @staticmethod
    def _credentials() -> tuple[str, str, str | None]:
        return os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], os.environ.get("AWS_SESSION_TOKEN")

    def _connection(self, scheme: str, netloc: str, timeout: float) -> http.client.HTTPConnection:
        """This thread's kept-alive connection to the endpoint (a TLS handshake per call would cost more
        than the call)."""
        connections: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault("c", {})
        connection = connections.get((scheme, netloc))
        if connection is None:
            kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            connection = connections[scheme, netloc] = kind(netloc, timeout=timeout)
        connection.timeout = timeout
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        return connection

    def _drop(self, scheme: str, netloc: str) -> None:
        connection = self._local.__dict__.get("c", {}).pop((scheme, netloc), None)
        if connection is not None:
            connection.close()

    def _exchange(
        self, method: str, url: str, headers: dict[str, str], body: bytes, timeout: float
    ) -> tuple[int, dict[str, str], bytes]:
        """One request and its answer over the kept-alive connection; a connection the server closed while it
        idled is replaced once (every call here is a read or an idempotent put)."""
        parts = urllib.parse.urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for reused in (True, False):
            connection = self._connection(parts.scheme, parts.netloc, timeout)
            was_open = connection.sock is not None
            try:
                connection.request(method, target, body=body or None, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._drop(parts.scheme, parts.netloc)
                if reused and was_open:
                    continue
                raise
            except BaseException:
                self._drop(parts.scheme, parts.netloc)  # a half-read answer must not reach the next request
                raise
            if response.will_close:
                self._drop(parts.scheme, parts.netloc)
            return response.status, dict(response.getheaders()), data
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self, method: str, url: str, headers: dict[str, str], body: bytes = b"", payload_hash: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """One call: attempts until an answer that is not worth retrying, or the attempts or budget run out."""
        deadline = self.clock() + CALL_BUDGET_SECONDS
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - self.clock()
            signed = sign(
                method,
                url,
                headers,
                body,
                service=self.service,
                region=self.region,
                credentials=self._credentials(),
                payload_hash=payload_hash,
            )
            try:
                timeout = max(0.1, min(ATTEMPT_TIMEOUT_SECONDS, remaining))
                answer = self._exchange(method, url, signed, body, timeout)
                if answer[0] < 300 or not retryable(answer[0], answer[2]):
                    return answer
                failure: Exception | None = None
            except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as error:
                failure, answer = error, (0, {}, b"")
            pause = backoff(attempt)
            if attempt >= MAX_ATTEMPTS or self.clock() + pause >= deadline:
                if failure is not None:  # no answer at all (a timeout, a dropped connection): a dependency error
                    raise AwsError(type(failure).__name__, str(failure), 0) from failure
                return answer
            self.retries += 1
            self.sleep(pause)


class DynamoDB(_Client):
    """`get_item`, `query` and `batch_get_item` of boto3's DynamoDB client (JSON 1.0 protocol)."""

    service = "dynamodb"

    def _call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"DynamoDB_20120810.{action}"}
        status, _, data = self._send("POST", self.service_url() + "/", headers, json.dumps(payload).encode())
        if status >= 300:
            try:
                message = str(json.loads(data or b"{}").get("message") or "")
            except ValueError:
                message = data[:200].decode(errors="replace")
            raise AwsError(_dynamodb_error_code(status, data), message, status)
        document: dict[str, Any] = json.loads(data or b"{}")
        return document

    def get_item(self, **request: Any) -> dict[str, Any]:
        return self._call("GetItem", request)

    def query(self, **request: Any) -> dict[str, Any]:
        return self._call("Query", request)

    def batch_get_item(self, **request: Any) -> dict[str, Any]:
        return self._call("BatchGetItem", request)


class KMS(_Client):
    """`generate_mac` of boto3's KMS client (JSON 1.1 protocol): the predict function derives its secret once."""

    service = "kms"

    def generate_mac(self, *, KeyId: str, Message: bytes, MacAlgorithm: str) -> dict[str, Any]:
        payload = {"KeyId": KeyId, "Message": base64.b64encode(Message).decode(), "MacAlgorithm": MacAlgorithm}
        headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.GenerateMac"}
        status, _, data = self._send("POST", self.service_url() + "/", headers, json.dumps(payload).encode())
        if status >= 300:
            document = json.loads(data or b"{}") if data.startswith(b"{") else {}
            code = str(document.get("__type", status)).rsplit("#", 1)[-1]
            raise AwsError(code, str(document.get("message") or document.get("Message") or ""), status)
        answer: dict[str, Any] = json.loads(data)
        return {**answer, "Mac": base64.b64decode(answer["Mac"])}


class S3(_Client):
    """`get_object` and `put_object` of boto3's S3 client (REST, SigV4)."""

    service = "s3"
    exceptions = _S3Exceptions

    def _url(self, bucket: str, key: str) -> str:
        path = urllib.parse.quote(key, safe="/~")
        if self.endpoint:  # path-style for custom endpoints (the local target), as boto3 does
            return f"{self.endpoint}/{bucket}/{path}"
        return f"{self.service_url(f'{bucket}.')}/{path}"

    @staticmethod
    def _raise(status: int, data: bytes) -> None:
        text = data.decode(errors="replace")
        code = text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else str(status)
        message = text.split("<Message>", 1)[1].split("</Message>", 1)[0] if "<Message>" in text else text[:200]
        raise (NoSuchKeyError if code == "NoSuchKey" else AwsError)(code, message, status)

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        status, headers, data = self._send("GET", self._url(Bucket, Key), {})
        if status >= 300:
            self._raise(status, data)
        return {"Body": io.BytesIO(data), "ContentLength": len(data), "ContentType": headers.get("Content-Type")}

    def put_object(
        self,
        *,
        Bucket: str,
        Key: str,
        Body: bytes,
        ContentType: str = "application/octet-stream",
        Metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        headers = {
            "Content-Type": ContentType,
            **{f"x-amz-meta-{k}": v for k, v in (Metadata or {}).items()},
            "x-amz-sdk-checksum-algorithm": "CRC32",  # the headers botocore sends
            "x-amz-checksum-crc32": base64.b64encode(zlib.crc32(Body).to_bytes(4, "big")).decode(),
        }
        url = self._url(Bucket, Key)
        # As botocore puts a body: S3 checks it by its CRC32 (a third of SHA-256's CPU, on ~1 MB capture files) and
        # the signature leaves it out, where no one can alter it on the way (TLS, or this machine's loopback).
        status, response_headers, data = self._send(
            "PUT", url, headers, Body, payload_hash=UNSIGNED_PAYLOAD if untamperable(url) else None
        )
        if status >= 300:
            self._raise(status, data)
        return {"ETag": response_headers.get("ETag")}
