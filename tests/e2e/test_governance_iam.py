"""Governance through IAM on the local target: SigV4-signed calls by different people, each with their duty's policy.

The local API checks a route's IAM authorization as API Gateway does: the signature with the secret
of the embedded IAM's access key, and the key's user's policies (the stacks' managed policies,
attached to users here) for `execute-api:Invoke` on the route.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from e2e_helpers import Cli, register_copy

from infra.local import hooks
from infra.local.target import LocalTarget
from infra.operations import Platform
from mlcore.catalog import GOVERNANCE_POLICIES, OUTPUTS
from mlcore.registry import ModelVersion, VersionStatus, utc_now

pytestmark = pytest.mark.e2e
MOTO_DEFAULT_IDENTITY = "arn:aws:sts::123456789012:user/moto"  # any key the embedded IAM does not know


@dataclass
class Person:
    arn: str
    credentials: Credentials


def policy_arn(target: LocalTarget, duty: str) -> str:
    """The stacks' output of a duty's managed policy (e.g. ModelApprover), as the local target deployed it."""
    [output] = [o for o in OUTPUTS if o.key == f"{duty}PolicyArn"]
    return str(target.names()["outputs"][output.resource])


def person(target: LocalTarget, platform: Platform, name: str, *duties: str) -> Person:
    """An IAM user of the embedded AWS with access keys and the stacks' managed policies of `duties` attached."""
    iam = platform.client("iam")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    for duty in duties:
        iam.attach_user_policy(UserName=name, PolicyArn=policy_arn(target, duty))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Person(arn, Credentials(key["AccessKeyId"], key["SecretAccessKey"]))


def signed(
    target: LocalTarget, method: str, path: str, body: Any = None, *, who: Person | None, tamper: bool = False
) -> tuple[int, dict[str, Any]]:
    """A request to the local API, SigV4-signed by `who` (None: unsigned)."""
    assert target.api is not None
    url = target.api.url + path
    data = json.dumps(body).encode() if body is not None else None
    request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    if who is not None:
        SigV4Auth(who.credentials, "execute-api", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    if tamper:  # a body other than the one signed
        data = json.dumps({"reason": "not what was signed"}).encode()
    sent = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(sent, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def pending(platform: Platform, tmp_path: Path) -> Callable[[str], int]:
    """`pending(model)`: a copy of the example model registered with a pending version; its number."""

    def make(name: str) -> int:
        register_copy(platform, tmp_path, name)
        registry = platform.registry
        number = registry.allocate_version(name)
        registry.register_version(
            ModelVersion(
                model_name=name,
                run_id=f"{name}-run",
                artifacts={},
                metrics={"auc": 0.9},
                signature=[],
                version=number,
                status=VersionStatus.PENDING,
                created_at=utc_now(),
            ),
            actor="pipeline",
        )
        return number

    return make


def test_each_person_may_do_only_their_duty_and_the_audit_names_who_did_it(
    target: LocalTarget, platform: Platform, pending: Callable[[str], int]
) -> None:
    version = pending("churn-iam")
    approver = person(target, platform, "alice", "ModelApprover")
    reader = person(target, platform, "rita", "ModelReader")
    approve = f"/models/churn-iam/versions/{version}/approve"
    before = hooks.CALLS["iam_authorization"]
    # an unsigned call is refused by the gateway, in the API's envelope
    status, body = signed(target, "POST", approve, {"reason": "x"}, who=None)
    assert (status, body["error"]["code"]) == (403, "forbidden")
    assert "not signed" in body["error"]["message"]
    # a reader may not approve: ACCESS_DENIED, and the version stays pending
    status, body = signed(target, "POST", approve, {"reason": "x"}, who=reader)
    assert (status, body["error"]["message"]) == (403, "the caller may not call this route")
    # a signature over another body is refused
    status, body = signed(target, "POST", approve, {"reason": "x"}, who=approver, tamper=True)
    assert (status, body["error"]["message"]) == (403, "the request's signature does not match")
    assert platform.registry.get_version("churn-iam", version).status is VersionStatus.PENDING
    # the approver approves: recorded with her user's ARN, which the body cannot name
    status, body = signed(target, "POST", approve, {"reason": "AUC 0.90"}, who=approver)
    assert (status, body["actor"], body["status"]) == (200, approver.arn, "approved")
    assert approver.arn == "arn:aws:iam::123456789012:user/alice"
    # she may not read the audit trail (not her policy); the reader may, and it names her
    assert signed(target, "GET", "/models/churn-iam/audit", who=approver)[0] == 403
    status, trail = signed(target, "GET", "/models/churn-iam/audit", who=reader)
    assert status == 200
    [change] = [r for r in trail["records"] if r["action"] == "status_changed"]
    assert (change["actor"], change["details"]["reason"]) == (approver.arn, "AUC 0.90")
    assert hooks.CALLS["iam_authorization"] - before == 6  # the local API asked IAM every time


def test_a_model_s_own_policy_reaches_that_model_only(
    target: LocalTarget, platform: Platform, pending: Callable[[str], int]
) -> None:
    mine, other = pending("churn-own"), pending("churn-other")
    iam = platform.client("iam")
    approver = person(target, platform, "omar")
    # a policy like ModelApprover-<model> (mlops:governedModels): the stacks' own, for churn-own only
    document = iam.get_policy_version(PolicyArn=policy_arn(target, "ModelApprover"), VersionId="v1")
    text = json.dumps(document["PolicyVersion"]["Document"])
    assert text.count("/models/*/") == len(GOVERNANCE_POLICIES["ModelApprover"])
    document = json.loads(text.replace("/models/*/", "/models/churn-own/"))
    arn = iam.create_policy(PolicyName="approver-churn-own", PolicyDocument=json.dumps(document))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="omar", PolicyArn=arn)
    assert signed(target, "POST", f"/models/churn-other/versions/{other}/approve", {}, who=approver)[0] == 403
    assert signed(target, "POST", f"/models/churn-own/versions/{mine}/approve", {}, who=approver)[0] == 200
    # and a body-less call is refused at the door, naming what the body must be
    status, body = signed(target, "POST", f"/models/churn-own/versions/{mine}/archive", who=approver)
    assert status == 400 and "for governance, `{}`" in body["error"]["message"]


def test_the_cli_signs_with_the_caller_s_credentials(
    target: LocalTarget, cli: Cli, platform: Platform, pending: Callable[[str], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    version = pending("churn-cli-iam")
    # with credentials the embedded IAM does not know: the account's default identity, as for every other call
    code, out, err = cli("models", "approve", "churn-cli-iam", str(version), "--reason", "reviewed")
    assert (code, out.strip()) == (0, f"churn-cli-iam v{version} is approved"), err
    # with a user's keys: that user, and a duty it lacks is a clear refusal
    promoter = person(target, platform, "paula", "ModelPromoter")
    with monkeypatch.context() as signing_as:
        signing_as.setenv("AWS_ACCESS_KEY_ID", promoter.credentials.access_key)
        signing_as.setenv("AWS_SECRET_ACCESS_KEY", promoter.credentials.secret_key)
        signing_as.delenv("AWS_SESSION_TOKEN")  # the local target's own credentials have one; a user's keys do not
        # (a promotion that expects another champion than the one serving is refused: none serves yet)
        code, _, err = cli("models", "promote", "churn-cli-iam", str(version), "--expected-version", "1")
        assert code == 1 and err.startswith("ConflictError: "), err
        code, out, err = cli("models", "promote", "churn-cli-iam", str(version), "--reason", "go")
        assert code == 0, err
        # when the API answers with it: each container trusts its cached aliases a while
        assert f"champion → v{version} (none before) (the API answers with it within 30 s" in " ".join(out.split())
        code, _, err = cli("models", "archive", "churn-cli-iam", str(version))
        assert code == 1 and "ForbiddenError: the caller may not call this route" in err
        # and which policy would let them
        assert (
            "POST /models/{name}/versions/{version}/archive needs the ModelApprover managed policy attached to the "
            "caller (the serving stack's ModelApproverPolicyArn output; or <prefix>-ModelApprover-churn-cli-iam, if "
            "'churn-cli-iam' is in mlops:governedModels)"
        ) in " ".join(err.split())
        code, _, err = cli("models", "audit", "churn-cli-iam")
        assert code == 1  # the promoter does not hold ModelReader either
    code, out, err = cli("models", "audit", "churn-cli-iam", "--output", "json")
    assert code == 0, err
    actors = {(r["action"], r["actor"]) for r in json.loads(out)["records"]}
    assert ("status_changed", MOTO_DEFAULT_IDENTITY) in actors
    assert ("alias_moved", promoter.arn) in actors
    assert platform.registry.get_version("churn-cli-iam", version).status is VersionStatus.APPROVED


def test_a_waiting_spec_change_is_shown_out_of_date_once_the_spec_is_registered_again(
    cli: Cli, platform: Platform, tmp_path: Path
) -> None:
    import yaml

    path = register_copy(platform, tmp_path, "churn-spec-stale", approval="manual")
    document = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**document, "approval": "auto"}))
    assert cli("models", "register", str(path))[0] == 0  # waits for an approver
    path.write_text(yaml.safe_dump({**document, "description": "a new description"}))
    code, out, err = cli("models", "register", str(path))  # tightens nothing, loosens nothing: applied
    assert code == 0 and "Registered 'churn-spec-stale'" in out, err
    code, out, err = cli("models", "register", str(path))  # again, as a CI job on every build
    assert (code, " ".join(out.split())) == (
        0,
        "'churn-spec-stale' is registered with this spec already; nothing changed",
    )
    code, out, err = cli("models", "show", "churn-spec-stale")
    assert code == 0, err
    assert "Out of date: a spec change by" in out and "propose it again (mlops models register)" in out
    assert "Waiting for an approver" not in out
    code, out, err = cli("models", "show", "churn-spec-stale", "--output", "json")
    assert json.loads(out)["spec_proposal"]["stale"] is True


def test_a_spec_change_that_loosens_governance_waits_for_another_person(
    target: LocalTarget, cli: Cli, platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    path = register_copy(platform, tmp_path, "churn-spec-iam", approval="manual")
    document = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**document, "approval": "auto"}))
    # the CLI's caller (the default identity) proposes approval: auto
    code, out, err = cli("models", "register", str(path))
    assert code == 0, err
    assert "loosens its governance (approval: manual -> auto): it waits for an approver" in out
    assert "Until then nothing of it applies: a run trains, and is gated, under the spec as it was" in " ".join(
        out.split()
    )
    assert platform.registry.get_spec("churn-spec-iam").approval == "manual"
    # a script reads the same from the API's answer
    code, out, err = cli("models", "register", str(path), "--output", "json")
    assert code == 0, err
    answer = json.loads(out)
    assert (answer["applied"], answer["loosens"], answer["spec"]["approval"]) == (
        False,
        ["approval: manual -> auto"],
        "auto",
    )
    # models show says that it waits, and for what
    code, out, err = cli("models", "show", "churn-spec-iam")
    assert code == 0, err
    waiting = f"Waiting for an approver: a spec change by {MOTO_DEFAULT_IDENTITY} at "
    assert waiting in out and "(approval: manual -> auto); apply it with `mlops models approve-spec" in out
    code, out, err = cli("models", "show", "churn-spec-iam", "--output", "json")
    proposal = json.loads(out)["spec_proposal"]
    assert (proposal["proposed_by"], proposal["spec"]["approval"], proposal["stale"]) == (
        MOTO_DEFAULT_IDENTITY, "auto", False
    )  # fmt: skip
    # and may not apply it; a person with ModelApprover may
    code, _, err = cli("models", "approve-spec", "churn-spec-iam")
    assert code == 1 and "ForbiddenError" in err and "another approver must apply it" in err
    approver = person(target, platform, "aaron", "ModelApprover")
    with monkeypatch.context() as signing_as:
        signing_as.setenv("AWS_ACCESS_KEY_ID", approver.credentials.access_key)
        signing_as.setenv("AWS_SECRET_ACCESS_KEY", approver.credentials.secret_key)
        signing_as.delenv("AWS_SESSION_TOKEN")
        code, out, err = cli("models", "approve-spec", "churn-spec-iam", "--reason", "agreed")
    assert code == 0, err
    assert (
        out.strip()
        == f"Applied the change to 'churn-spec-iam' proposed by {MOTO_DEFAULT_IDENTITY} (approval: manual -> auto)"
    )
    assert platform.registry.get_spec("churn-spec-iam").approval == "auto"
    code, out, err = cli("models", "show", "churn-spec-iam")
    assert code == 0 and "Waiting for an approver" not in out, err
