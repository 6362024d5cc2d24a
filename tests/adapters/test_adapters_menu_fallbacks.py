"""The menu adapter in-process: the plugin's side when present, the host's when not."""

from __future__ import annotations

import importlib
import io
import json
from typing import Any

import pytest
from foundups_training.adapters import menu as menu_adapter
from foundups_training.adapters.menu import COMMANDS, LAUNCH, MenuInstrumentor

from foundups_training import bridge, plugins


@pytest.fixture
def no_plugins() -> Any:
    plugins.reset_plugin_manager(plugins.IsolatingPluginManager)
    bridge.connect()
    yield
    plugins.reset_plugin_manager()


def test_menu_calls_the_plugin_menu_with_the_one_trainer(monkeypatch: Any) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(menu_adapter, "_plugin_menu", lambda: lambda trainer: seen.append(trainer))
    monkeypatch.setattr(menu_adapter, "current_trainer", lambda: "THE-TRAINER")
    MenuInstrumentor().instrument()
    launch = importlib.import_module(LAUNCH)
    assert launch.run_training_system() is None
    assert seen == ["THE-TRAINER"]


def test_without_the_plugin_menu_the_hosts_menu_runs(monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.setattr(menu_adapter, "_plugin_menu", lambda: None)
    monkeypatch.setattr("sys.stdin", io.StringIO("0\n"))
    MenuInstrumentor().instrument()
    importlib.import_module(LAUNCH).run_training_system()
    assert "(host)" in capsys.readouterr().out


def test_a_failing_plugin_menu_returns_to_the_host(monkeypatch: Any, capsys: Any) -> None:
    def broken(trainer: Any) -> int:
        raise RuntimeError("menu bug")

    monkeypatch.setattr(menu_adapter, "_plugin_menu", lambda: broken)
    monkeypatch.setattr(menu_adapter, "current_trainer", lambda: object())
    inst = MenuInstrumentor()
    inst.instrument()
    assert importlib.import_module(LAUNCH).run_training_system() is None
    assert "menu bug" in capsys.readouterr().err and inst.errors["menu"] == 1


def test_batch_with_no_idle_plugin_runs_the_hosts_batch(no_plugins: None, capsys: Any) -> None:
    MenuInstrumentor().instrument()
    importlib.import_module(COMMANDS).execute_training_command("batch", None, True)
    response = json.loads(capsys.readouterr().out)
    assert response["result"]["error"] == "012.txt not found"  # the host's own answer


def test_unknown_commands_go_to_the_host(capsys: Any) -> None:
    MenuInstrumentor().instrument()
    importlib.import_module(COMMANDS).execute_training_command("nope", None, False)
    assert "Unknown training command 'nope'" in capsys.readouterr().out
