"""One local target (synthesized app on moto) for the end-to-end tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from rich.console import Console

from infra.local.demo import Demo, DemoResult
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
