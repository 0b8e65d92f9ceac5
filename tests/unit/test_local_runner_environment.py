"""The local target runs each function with its own environment, and puts back only what it replaced."""

from __future__ import annotations

import os
import threading

import pytest

from infra.local.runner import environment


def test_a_function_s_variables_are_put_back_and_a_change_made_meanwhile_by_another_thread_survives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REGISTRY_TABLE", "the-caller-s")
    monkeypatch.delenv("ONLY_IN_THE_FUNCTION", raising=False)
    monkeypatch.delenv("SET_MEANWHILE", raising=False)
    inside = threading.Event()
    done = threading.Event()

    def function() -> None:
        with environment({"REGISTRY_TABLE": "the-function-s", "ONLY_IN_THE_FUNCTION": "1"}):
            assert os.environ["REGISTRY_TABLE"] == "the-function-s"
            inside.set()
            done.wait(5)

    worker = threading.Thread(target=function)
    worker.start()
    assert inside.wait(5)
    monkeypatch.setenv("SET_MEANWHILE", "the test's")  # a test's change, while a stream's handler runs
    done.set()
    worker.join(5)
    assert os.environ["REGISTRY_TABLE"] == "the-caller-s"
    assert "ONLY_IN_THE_FUNCTION" not in os.environ
    assert os.environ["SET_MEANWHILE"] == "the test's"
