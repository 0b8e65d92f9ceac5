"""The local target's hooks into moto come off as they went on."""

from __future__ import annotations

from typing import Any

import pytest


def test_uninstall_puts_moto_s_settings_back_as_they_were(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core.config import default_user_config

    from infra.local import hooks

    # as if no target were running (the end-to-end tests' may be, in this session: what it holds stays untouched)
    monkeypatch.setattr(hooks, "_installed", {})
    monkeypatch.setattr(hooks, "_config_before", {})
    for service in hooks.MOTO_CONFIG:
        monkeypatch.setitem(default_user_config, service, {"kept": True})  # type: ignore[misc]
    unused: Any = None  # the runners are only called once a function, a job or an event runs
    hooks.install(unused, unused, unused)
    hooks.install(unused, unused, unused)  # idempotent: the second does not take the first one's settings as "before"
    assert default_user_config["stepfunctions"]["execute_state_machine"] is True
    hooks.uninstall()
    assert {service: default_user_config[service] for service in hooks.MOTO_CONFIG} == {  # type: ignore[misc]
        service: {"kept": True} for service in hooks.MOTO_CONFIG
    }
