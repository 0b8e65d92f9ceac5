"""The local target runs each function with its own environment, and puts back only the values it replaced."""

from __future__ import annotations

import os
import threading

import pytest

from infra.local.runner import JOB_BLANKED, environment


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
    assert os.environ["ONLY_IN_THE_FUNCTION"] == "1"  # left set: removing it races with copies of os.environ
    assert os.environ["SET_MEANWHILE"] == "the test's"


def test_a_thread_copying_the_environment_never_meets_a_variable_removed_under_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a stream's function sets and puts back its variables while a state machine's thread copies os.environ
    monkeypatch.delenv("EVENT_BUS", raising=False)
    stop, failures = threading.Event(), []

    def copier() -> None:
        while not stop.is_set():
            try:
                dict(os.environ)
            except KeyError as error:  # the race: a key listed, then gone before it was read
                failures.append(error)

    thread = threading.Thread(target=copier)
    thread.start()
    try:
        for _ in range(3000):
            with environment({"EVENT_BUS": "default", **{f"MLOPS_TEST_{n}": "x" for n in range(20)}}):
                pass
    finally:
        stop.set()
        thread.join(5)
    assert failures == []


def test_a_jobs_variable_is_left_empty_so_the_next_job_does_not_read_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIAL", raising=False)
    monkeypatch.delenv("BATCH_ROWS", raising=False)
    with environment({"TRIAL": "3", "BATCH_ROWS": "65536"}, blank=JOB_BLANKED):
        assert os.environ["TRIAL"] == "3"
    assert os.environ["TRIAL"] == ""  # the entrypoint's `os.environ.get("TRIAL")` reads no trial
    # a typed setting is left as the job set it, never empty: a later reader of it parses a number
    assert os.environ["BATCH_ROWS"] == "65536"
    monkeypatch.delenv("BATCH_ROWS")
