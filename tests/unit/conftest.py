"""Unit tests never touch the network (pytest-socket); Unix sockets stay allowed."""

from __future__ import annotations

import pytest
from pytest_socket import disable_socket


def pytest_runtest_setup(item: pytest.Item) -> None:
    disable_socket(allow_unix_socket=True)
