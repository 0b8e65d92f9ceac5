"""cdk-nag AwsSolutions: no finding left unacknowledged, and every acknowledgement has a reason.

`app.synth()` in the session fixture already fails on an unacknowledged finding (cdk-nag 3 runs as
a validation plugin); these tests state it explicitly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from aws_cdk.assertions import Match
from cdk_nag import AwsSolutionsChecks

from infra.constructs.nag import PATTERNS_METADATA, acknowledged_rules

if TYPE_CHECKING:
    from conftest import Synthesized

NAG = Match.string_like_regexp("AwsSolutions-.*")


def test_no_unacknowledged_finding_in_the_synthesized_app(synthesized: Synthesized) -> None:
    report = AwsSolutionsChecks(verbose=True).validate_scope(synthesized.app)
    assert [(v.rule_name, [r.construct_path for r in v.violating_resources]) for v in report.violations] == []


@pytest.mark.parametrize("stack", ["MlopsData", "MlopsTraining", "MlopsServing", "MlopsMonitoring"])
def test_no_cdk_nag_error_or_warning_annotations(synthesized: Synthesized, stack: str) -> None:
    annotations = synthesized.annotations[stack]
    assert annotations.find_error("*", NAG) == []
    assert annotations.find_warning("*", NAG) == []


def test_every_acknowledgement_states_its_reason(synthesized: Synthesized) -> None:
    rules = acknowledged_rules(synthesized.app)
    assert rules
    for path, findings in rules.items():
        for finding, reason in findings.items():
            assert len(reason.strip()) > 20, f"{path}: {finding}"
    for construct in synthesized.app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == PATTERNS_METADATA:
                assert all(len(reason.strip()) > 20 for reason in entry.data.values())
