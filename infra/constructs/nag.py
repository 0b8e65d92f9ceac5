"""cdk-nag 3.x acknowledgements, each with its reason.

cdk-nag 3 matches an acknowledgement by its exact finding id, e.g.
`AwsSolutions-IAM5[Resource::MlopsData:ExportsOutputFnGetAtt...Arn.../*]`; the id of a wildcard
on a cross-stack bucket exists only once references are resolved at synthesis. `acknowledge_matching`
restores cdk-nag 2's `applies_to` with a regular expression: `MatchingAcknowledgements`, a validation
plugin registered before `AwsSolutionsChecks`, evaluates the pack on the resolved tree and records
an exact acknowledgement (with the pattern's reason) for each finding that a pattern of the
construct or of one of its scopes matches. Anything else still fails the synthesis.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import jsii
from aws_cdk import Acknowledgment, IPolicyValidationPlugin, PolicyValidationPluginReport, Validations
from cdk_nag import AwsSolutionsChecks, NagPack
from constructs import IConstruct

from mlcore.catalog import MODEL_OBJECTS, QUERY_OBJECTS

PATTERNS_METADATA = "mlops:nag-acknowledged-patterns"


def _check_reason(finding: str, reason: str) -> None:
    if not reason.strip():
        raise ValueError(f"a cdk-nag acknowledgement needs a reason: {finding}")


def acknowledge(scope: IConstruct, findings: Mapping[str, str]) -> None:
    """Acknowledge exact findings on `scope` and its children: `{"AwsSolutions-L1": reason}`."""
    for finding, reason in findings.items():
        _check_reason(finding, reason)
        Validations.of(scope).acknowledge(Acknowledgment(id=finding, reason=reason))


def acknowledge_matching(scope: IConstruct, patterns: Mapping[str, str]) -> None:
    """Acknowledge, on `scope` and its children, the findings whose whole id matches a regex."""
    for pattern, reason in patterns.items():
        _check_reason(pattern, reason)
        re.compile(pattern)
    scope.node.add_metadata(PATTERNS_METADATA, dict(patterns))


def _patterns(construct: IConstruct) -> dict[str, str]:
    found: dict[str, str] = {}
    for scope in construct.node.scopes:
        for entry in scope.node.metadata:
            if entry.type == PATTERNS_METADATA:
                found.update(entry.data)
    return found


@jsii.implements(IPolicyValidationPlugin)
class MatchingAcknowledgements:
    """Turns `acknowledge_matching` patterns into exact acknowledgements before the pack runs."""

    def __init__(self, root: IConstruct, pack: Callable[[], NagPack] = AwsSolutionsChecks) -> None:
        self.root = root
        self.pack = pack

    @property
    def name(self) -> str:
        """Name shown in the validation report."""
        return "MatchingAcknowledgements"

    @property
    def rule_ids(self) -> list[str] | None:
        """No rules of its own."""
        return None

    @property
    def version(self) -> str | None:
        """Unversioned."""
        return None

    def validate(self, context: Any = None) -> PolicyValidationPluginReport:
        """Acknowledge each finding of the pack that a pattern of its construct matches."""
        constructs = {construct.node.path: construct for construct in self.root.node.find_all()}
        report = self.pack().validate_scope(self.root)
        for violation in report.violations:
            for resource in violation.violating_resources:
                construct = constructs.get(resource.construct_path or "")
                if construct is None:
                    continue
                for pattern, reason in _patterns(construct).items():
                    if re.fullmatch(pattern, violation.rule_name):
                        Validations.of(construct).acknowledge(Acknowledgment(id=violation.rule_name, reason=reason))
                        break
        return PolicyValidationPluginReport(success=True, violations=[])


def acknowledged_rules(root: IConstruct) -> dict[str, dict[str, str]]:
    """Every acknowledgement in the tree: `{construct path: {finding id: reason}}`."""
    found: dict[str, dict[str, str]] = {}
    for construct in root.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                found.setdefault(construct.node.path, {}).update(entry.data)
    return found


# Findings that Bucket/Table/Key `grant_*` produce by design, each scoped to one resource.
GRANT_PATTERNS: dict[str, str] = {
    r"AwsSolutions-IAM5\[Action::s3:(GetObject|GetBucket|List|DeleteObject|Abort|PutObject)\*\]": (
        "S3 action groups chosen by Bucket.grant_read/grant_put/grant_read_write, limited to one named bucket"
    ),
    r"AwsSolutions-IAM5\[Resource::[^*]+/\*(predictions|rejects)/batch_id=\*\]": (
        "s3:DeleteObject alone (a delete marker: the versioned data bucket keeps every version) on batches' outputs, "
        "whatever output prefix a spec names: the publish step withdraws a failed batch's own"
    ),
    r"AwsSolutions-IAM5\[Action::kms:(GenerateDataKey|ReEncrypt)\*\]": (
        "KMS action groups that SSE-KMS S3/DynamoDB access needs, limited to the platform's one data key"
    ),
    r"AwsSolutions-IAM5\[Resource::(?!arn:<AWS::Partition>:glue:)[^*]+/\*\]": (
        "Object keys (bucket ARN + /*) of one named bucket, granted by Bucket.grant_*; keys are per model/run"
    ),
    r"AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:"
    r"table/[A-Za-z0-9:]+RunsDatabase[A-Za-z0-9]+/\*\]": (
        "The tables of one named Glue database (the run export's `runs` table and any its partitions need)"
    ),
    r"AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:"
    r"table/[A-Za-z0-9:]+Datasets[A-Za-z0-9]+/\*\]": (
        "Read only: the tables of the one datasets database, whichever a spec names as its data.source.glue_table "
        "(specs are registered after deployment)"
    ),
    rf"AwsSolutions-IAM5\[Resource::[^*]+/{re.escape(QUERY_OBJECTS)}\]": (
        "The queries/ folder of the data bucket (Access.READ_PUT_QUERIES): where a run's Athena query unloads "
        "its rows and Validate names them by content; under a run's own folder, never a dataset"
    ),
    rf"AwsSolutions-IAM5\[Resource::[^*]+/{re.escape(MODEL_OBJECTS)}\]": (
        "The runs' model.onnx files of one named bucket (Access.READ_MODELS): serving reads the version it "
        "serves, by the registry's URI and SHA-256, and no dataset"
    ),
    r"AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>:"
    r"job-definition/[a-z0-9-]+-image-\*\]": (
        "The job definitions of the models' own training images: Validate registers one per model at run time, "
        "all under this deployment's name prefix"
    ),
    r"AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
    r"execution:[a-z0-9-]+:\*\]": (
        "The executions of one named state machine (the training pipeline, whose record step reads each "
        "run's history); execution names are per run"
    ),
}
XRAY_REASON = "X-Ray PutTraceSegments/PutTelemetryRecords (Active tracing) support no resource-level permissions"


CHECKOV_METADATA = "checkov"


def checkov_skip(scope: IConstruct, checks: Mapping[str, str]) -> None:
    """Acknowledge checkov findings on a construct's CloudFormation resource, each with its reason: the template
    metadata `checkov: {skip: [{id, comment}]}` checkov reads (tests/infra/test_checkov.py runs it)."""
    from aws_cdk import CfnResource

    resource = scope.node.default_child if not isinstance(scope, CfnResource) else scope
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{scope.node.path} has no CloudFormation resource to acknowledge checkov findings on")
    skips = list((resource.get_metadata(CHECKOV_METADATA) or {}).get("skip", []))
    for check, reason in checks.items():
        _check_reason(check, reason)
        skips.append({"id": check, "comment": reason})
    resource.add_metadata(CHECKOV_METADATA, {"skip": skips})
