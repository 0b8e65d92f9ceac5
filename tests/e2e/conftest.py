"""One local target (synthesized app on moto) for the end-to-end tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from e2e_helpers import Cli
from rich.console import Console

from infra.cli import main
from infra.local.demo import Demo, DemoResult
from infra.local.state import LOCAL_DIR_VARIABLE
from infra.local.target import LocalTarget
from infra.operations import Platform, Resources


@pytest.fixture(scope="session")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTarget]:
    saved = dict(os.environ)
    local = LocalTarget(tmp_path_factory.mktemp("cdk.out")).start()
    yield local
    local.stop()
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def platform(target: LocalTarget) -> Platform:
    return Platform(Resources.discover(target.names()), target.client)


@pytest.fixture(scope="session")
def demo(target: LocalTarget, tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    """The demo's lifecycle, run once; the tests assert on what it did and left behind."""
    return Demo(tmp_path_factory.mktemp("report"), console=Console(quiet=True)).run(target)


@pytest.fixture
def cli(target: LocalTarget, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`cli(*argv)` -> (exit code, stdout, stderr), with the environment `mlops local up` tells users to export."""
    monkeypatch.setenv(LOCAL_DIR_VARIABLE, str(target.outdir))
    monkeypatch.setenv("AWS_ENDPOINT_URL", target.endpoint)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run
