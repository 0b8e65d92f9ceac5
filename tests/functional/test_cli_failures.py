"""What the CLI says when the platform it talks to is not there: a line for a person, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_a_stopped_local_target_is_named_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import socket

    from infra import cli
    from infra.local.state import LOCAL_DIR_VARIABLE, STATE_FILE
    from mlcore.catalog import OUTPUTS

    with socket.socket() as sock:  # a port nothing listens on: the target was killed, its state file left behind
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
    outputs = {o.resource: f"mlops-{o.resource}" for o in OUTPUTS}
    (tmp_path / STATE_FILE).write_text(json.dumps({"endpoint": endpoint, "outputs": outputs}))
    monkeypatch.setenv(LOCAL_DIR_VARIABLE, str(tmp_path))
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    assert cli.main(["models", "list"]) == 1
    said = " ".join(capsys.readouterr().err.split())
    assert said.startswith("EndpointConnectionError: Could not connect to the endpoint URL")
    assert said.endswith("No local target answers there: start one with `mlops local up`.")


@pytest.mark.parametrize("region", ["us-east-1", None])
def test_a_cleanly_stopped_local_target_or_no_region_says_what_to_do(
    region: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from infra import cli
    from infra.local.state import LOCAL_DIR_VARIABLE

    with socket.socket() as sock:  # a port nothing listens on: `mlops local up` stopped, its state file gone with it
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv(LOCAL_DIR_VARIABLE, str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)  # the export line a shell still holds
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_REGION", raising=False)
    if region:
        monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    else:
        monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert cli.main(["models", "list"]) == 1
    said = " ".join(capsys.readouterr().err.split())
    assert said.startswith("DeploymentNotFoundError: cannot read the stacks' outputs (")
    if region:
        assert said.endswith(
            f"no local target answers at {endpoint}: start one with `mlops local up` (or unset AWS_ENDPOINT_URL)"
        )
    else:
        assert said.endswith(
            "set AWS_DEFAULT_REGION to the deployment's region, or start `mlops local up` and run its export line"
        )
