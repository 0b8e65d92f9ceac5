"""The predict function's light AWS clients against a real HTTP endpoint (a moto server)."""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Any

import boto3
import pytest

from mlcore.registry import Registry, create_registry_table
from mlcore.spec import ModelSpec
from mlcore.storage import ObjectStore
from mlruntime.lightaws import S3, AwsError, DynamoDB, NoSuchKeyError


@pytest.fixture
def endpoint(moto_server: str) -> str:
    return moto_server


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def test_registry_reads_through_the_light_dynamodb_client(
    endpoint: str, credentials: None, churn_spec: ModelSpec
) -> None:
    boto = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    create_registry_table(boto, "light-registry")
    Registry("light-registry", boto).put_spec(churn_spec, actor="test")
    light = Registry("light-registry", DynamoDB(endpoint=endpoint))
    assert light.get_spec("churn") == churn_spec
    assert [a.action for a in light.audit_trail("churn")] == ["spec_registered"]  # a Query
    with pytest.raises(AwsError) as error:
        Registry("no-such-table", DynamoDB(endpoint=endpoint)).get_alias("churn")
    assert error.value.aws_code == "ResourceNotFoundException"


def test_object_store_writes_and_verifies_through_the_light_s3_client(endpoint: str, credentials: None) -> None:
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="light-bucket")
    store = ObjectStore("light-bucket", S3(endpoint=endpoint))
    key = "capture/model=churn/dt=2026-03-01/a b+c.parquet"
    artifact = store.put(key, b"PAR1 data PAR1", "application/vnd.apache.parquet")
    assert store.get_verified(artifact) == b"PAR1 data PAR1"
    boto_body = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").get_object(
        Bucket="light-bucket", Key=key
    )
    assert boto_body["Body"].read() == b"PAR1 data PAR1"  # the key was encoded the way S3 expects
    with pytest.raises(Exception) as missing:
        store.get("no/such/key")
    assert "no object at s3://light-bucket/no/such/key" in str(missing.value)
    assert isinstance(missing.value.__cause__, NoSuchKeyError)


def test_the_light_kms_client_derives_the_same_secret_as_boto3(endpoint: str, credentials: None) -> None:
    from mlcore.serving import RequestIds
    from mlruntime.lightaws import KMS

    boto = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1")
    key = boto.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    light, reference = RequestIds.derived(KMS(endpoint=endpoint), key), RequestIds.derived(boto, key)
    assert light.issue("r-1", "churn", 3) == reference.issue("r-1", "churn", 3)
    with pytest.raises(AwsError) as error:  # an encryption key cannot make MACs
        KMS(endpoint=endpoint).generate_mac(KeyId=boto.create_key()["KeyMetadata"]["Arn"], Message=b"x",
                                            MacAlgorithm="HMAC_SHA_256")  # fmt: skip
    assert error.value.aws_code == "InvalidKeyUsageException"


def test_a_put_carries_the_bodys_crc32_for_s3_to_check(endpoint: str, credentials: None) -> None:
    boto = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    boto.create_bucket(Bucket="light-checksums")
    body = b"PAR1" + bytes(range(256)) * 64 + b"PAR1"
    S3(endpoint=endpoint).put_object(Bucket="light-checksums", Key="capture/a.parquet", Body=body)
    stored = boto.get_object(Bucket="light-checksums", Key="capture/a.parquet", ChecksumMode="ENABLED")
    assert stored["ChecksumCRC32"] == base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    assert stored["Body"].read() == body


@pytest.mark.parametrize(
    ("endpoint_url", "payload_hash"),
    [
        ("http://127.0.0.1:4566", "UNSIGNED-PAYLOAD"),
        ("http://10.0.0.5:4566", hashlib.sha256(b"PAR1 data PAR1").hexdigest()),  # a network in between: signed
    ],
)
def test_a_put_signs_its_body_unless_no_one_can_alter_it_on_the_way(
    credentials: None, monkeypatch: pytest.MonkeyPatch, endpoint_url: str, payload_hash: str
) -> None:
    sent: list[dict[str, str]] = []

    def exchange(self: S3, *request: Any) -> tuple[int, dict[str, str], bytes]:
        sent.append(request[2])  # (method, url, headers, body, timeout)
        return 200, {"ETag": '"e"'}, b""

    monkeypatch.setattr(S3, "_exchange", exchange)
    S3(endpoint=endpoint_url).put_object(Bucket="capture", Key="a.parquet", Body=b"PAR1 data PAR1")
    assert sent[0]["x-amz-content-sha256"] == payload_hash
    assert "x-amz-checksum-crc32" in sent[0]["Authorization"]  # the checksum itself is signed
