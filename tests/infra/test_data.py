"""DataStack: encryption, TLS, versioning, public access, logging, PITR."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_cdk.assertions import Match

if TYPE_CHECKING:
    from conftest import Synthesized


BLOCK_ALL = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}


def _buckets(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {lid: res for lid, (_, res) in synthesized.resources("AWS::S3::Bucket").items()}


def _encryption(bucket: dict[str, Any]) -> dict[str, Any]:
    rules = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    return rules[0]["ServerSideEncryptionByDefault"]


def test_data_buckets_are_kms_encrypted_versioned_private_and_logged(synthesized: Synthesized) -> None:
    buckets = _buckets(synthesized)
    kms_buckets = {lid: b for lid, b in buckets.items() if _encryption(b)["SSEAlgorithm"] == "aws:kms"}
    assert {lid.split("DataPlane")[1][:4] for lid in kms_buckets} == {"Data", "Arti", "Capt", "Audi"}
    for bucket in kms_buckets.values():
        props = bucket["Properties"]
        assert "KMSMasterKeyID" in _encryption(bucket)
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert props["PublicAccessBlockConfiguration"] == BLOCK_ALL
        assert "DestinationBucketName" in props["LoggingConfiguration"]


def test_access_log_bucket_uses_s3_managed_encryption(synthesized: Synthesized) -> None:
    logs = [b for b in _buckets(synthesized).values() if _encryption(b)["SSEAlgorithm"] == "AES256"]
    assert len(logs) == 1
    assert logs[0]["Properties"]["PublicAccessBlockConfiguration"] == BLOCK_ALL


def test_every_bucket_denies_insecure_transport(synthesized: Synthesized) -> None:
    buckets = set(_buckets(synthesized))
    policies = synthesized.resources("AWS::S3::BucketPolicy").values()
    tls_only = set()
    for _, policy in policies:
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition") == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                tls_only.add(policy["Properties"]["Bucket"]["Ref"])
    assert tls_only == buckets


def test_registry_table_has_keys_pitr_and_customer_managed_sse(synthesized: Synthesized) -> None:
    synthesized.templates["MlopsData"].has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": Match.any_value()},
        },
    )


def test_key_rotates_and_topic_is_encrypted_tls_only(synthesized: Synthesized) -> None:
    template = synthesized.templates["MlopsData"]
    template.resource_count_is("AWS::KMS::Key", 2)  # the data key, and the request ids' HMAC key
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def test_the_online_feature_store_is_keyed_by_entity_recoverable_and_customer_key_encrypted(
    synthesized: Synthesized,
) -> None:
    tables = synthesized.resources("AWS::DynamoDB::Table")
    online = next(table for logical_id, (_, table) in tables.items() if "OnlineFeatures" in logical_id)
    props = online["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEType"] == "KMS"
    assert online["DeletionPolicy"] == "Retain"


def test_the_offline_feature_store_is_a_glue_database_the_cli_finds(synthesized: Synthesized) -> None:
    template = synthesized.templates["MlopsData"]
    template.has_resource_properties(
        "AWS::Glue::Database", {"DatabaseInput": Match.object_like({"Name": Match.string_like_regexp("_features$")})}
    )
    outputs = synthesized.raw("MlopsData")["Outputs"]
    assert {"OnlineFeaturesTable", "FeaturesDatabase"} <= set(outputs)


def test_the_key_serves_aws_services_only_on_this_accounts_behalf(synthesized: Synthesized) -> None:
    [key] = [k for _, k in synthesized.resources("AWS::KMS::Key").values() if "KeySpec" not in k["Properties"]]
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    services = [s for s in statements if "Service" in s.get("Principal", {})]
    by_service: dict[str, dict[str, Any]] = {}
    for statement in services:
        named = statement["Principal"]["Service"]  # one statement may name several
        for name in [named] if not isinstance(named, list) else named:
            by_service[json.dumps(name)] = statement["Condition"]
    logs = json.dumps({"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]})
    assert sorted(by_service) == sorted(['"cloudwatch.amazonaws.com"', '"events.amazonaws.com"', logs])
    own = {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert by_service['"cloudwatch.amazonaws.com"'] == by_service['"events.amazonaws.com"'] == own
    # CloudWatch Logs: this account's log groups in this region only (the encryption context names the group)
    [(_, context)] = by_service[logs]["ArnLike"].items()
    assert context == {
        "Fn::Join": ["", ["arn:aws:logs:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"}, ":log-group:*"]]
    }
    assert list(by_service[logs]["ArnLike"]) == ["kms:EncryptionContext:aws:logs:arn"]


def test_every_log_group_is_encrypted_with_the_platform_key(synthesized: Synthesized) -> None:
    groups = synthesized.resources("AWS::Logs::LogGroup")
    assert len(groups) > 20
    for logical, (_, group) in groups.items():
        assert "KmsKeyId" in group["Properties"], logical


def test_the_registry_its_audit_and_the_online_store_are_protected_from_deletion(synthesized: Synthesized) -> None:
    tables = synthesized.resources("AWS::DynamoDB::Table")
    assert {k.split("DataPlane")[1][:8] for k in tables} == {"Registry", "Audit6CB", "OnlineFe"}
    for _, table in tables.values():
        assert table["Properties"]["DeletionProtectionEnabled"] is True


def test_request_ids_are_signed_with_an_hmac_key_only_the_predict_function_may_use(synthesized: Synthesized) -> None:
    [key] = [k for _, k in synthesized.resources("AWS::KMS::Key").values() if "KeySpec" in k["Properties"]]
    assert (key["Properties"]["KeySpec"], key["Properties"]["KeyUsage"]) == ("HMAC_256", "GENERATE_VERIFY_MAC")
    users = [
        (stack, json.dumps(policy["Properties"]["Roles"]))
        for _, (stack, policy) in synthesized.resources("AWS::IAM::Policy").items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "kms:GenerateMac" in json.dumps(statement["Action"])
    ]
    assert len(users) == 1 and users[0][0] == "MlopsServing" and "PredictRole" in users[0][1]
