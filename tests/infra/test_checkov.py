"""checkov on the synthesized templates: every failed check is fixed, or acknowledged in the template with its reason.

checkov runs from its own virtualenv (`.venv-checkov`, made by `make test` from .ci/checkov-constraints.txt): its
pins would fight the project's. A new finding that is neither fixed nor acknowledged fails this test.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Synthesized

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def _checkov(template: Path) -> dict[str, Any]:
    assert CHECKOV.exists(), f"{CHECKOV} is missing: `make test` (or `make .venv-checkov/.installed`) installs it"
    ran = subprocess.run(
        [str(CHECKOV), "-f", str(template), "--framework", "cloudformation", "-o", "json", "--compact"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(ran.stdout)
    return report[0] if isinstance(report, list) else report  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def reports(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {template.stem: _checkov(template) for template in sorted(synthesized.outdir.glob("Mlops*.template.json"))}


def test_checkov_finds_nothing_unacknowledged_in_any_stack(reports: dict[str, dict[str, Any]]) -> None:
    assert sorted(reports) == [f"{stack}.template" for stack in ("MlopsData", "MlopsMonitoring", "MlopsServing",
                                                                  "MlopsTraining")]  # fmt: skip
    failed = [
        f"{stack}: {check['check_id']} {check['check_name']} ({check['resource']})"
        for stack, report in reports.items()
        for check in report["results"]["failed_checks"]
    ]
    assert failed == []
    assert all(
        report["summary"]["passed"] > 0 and report["summary"]["parsing_errors"] == 0 for report in reports.values()
    )


def test_every_acknowledged_check_says_why(reports: dict[str, dict[str, Any]]) -> None:
    skipped = [check for report in reports.values() for check in report["results"]["skipped_checks"]]
    assert skipped  # the functions' reasons, at least
    for check in skipped:
        assert len(check["check_result"].get("suppress_comment", "").strip()) > 20, check["check_id"]
