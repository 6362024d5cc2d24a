"""Leftovers of earlier reviews: ``status`` on a missing data directory, a host training
command that failed after printing, import hooks piling up over instrument cycles, metrics
observers in a forked child. (The encoder's threads: tests/memory/test_memory_threads.py.)"""

from __future__ import annotations

import importlib
import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from forking import in_child
from foundups_training.adapters import menu as menu_adapter
from foundups_training.adapters.base import instrumentors_in_place
from foundups_training.adapters.menu import COMMANDS, LAUNCH, MenuInstrumentor

from foundups_training import signals
from foundups_training.cli import main
from foundups_training.config import Settings
from foundups_training.metrics import MetricsStore, attach_observers
from foundups_training.metrics.observers import observer_for
from foundups_training.records import Answer, Query

# -- 1: status on a data directory that does not exist -----------------------------------------


def test_status_on_a_missing_data_dir_exits_2_as_report_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``status`` said "there is no data directory" and exited 0, ``report`` exited 2: a
    script running ``status`` could not tell a mistyped ``--data-dir`` from a good one."""
    typo = tmp_path / "dtaa"
    assert main(["--data-dir", str(typo), "report", "--out", str(tmp_path / "dash")]) == 2
    report_err = capsys.readouterr().err
    assert main(["--data-dir", str(typo), "status"]) == 2
    out, err = capsys.readouterr()
    assert not typo.exists()
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    said = report_err.split("report: ", 1)[1]  # what report says, word for word
    assert err == f"foundups-training status: {said}"
    assert said.startswith(f"there is no data directory at {typo}: ")


def test_status_json_on_a_missing_data_dir_is_the_failed_verbs_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "dtaa"
    assert main(["--data-dir", str(typo), "status", "--json"]) == 2
    out, err = capsys.readouterr()
    said = json.loads(out)
    assert said == {"error": err.strip(), "exit_code": 2}
    assert f"there is no data directory at {typo}" in said["error"]
    assert not typo.exists()


def test_status_on_an_empty_data_dir_still_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A data directory where nothing was learned yet is no error: 0 patterns, exit 0."""
    data = tmp_path / "data"
    data.mkdir()
    assert main(["--data-dir", str(data), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["patterns_total"] == 0 and "data_dir_error" not in status


# -- 2 and 4: the host's training commands and menu, through the adapters ---------------------

STANDIN = Path(__file__).resolve().parent.parent / "standin_host"


def _purge_host_modules() -> None:
    for name in list(sys.modules):
        if name in ("main", "modules") or name.startswith("modules."):
            del sys.modules[name]


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The stand-in host importable as the host is; no host module imported, nothing
    instrumented, before and after."""
    for inst in instrumentors_in_place():
        inst.uninstrument()
    _purge_host_modules()
    monkeypatch.syspath_prepend(str(STANDIN))
    yield STANDIN
    for inst in instrumentors_in_place():
        inst.uninstrument()
        inst.errors.clear()
    _purge_host_modules()


class _Trainer:
    def status(self) -> dict[str, Any]:
        return {
            "data_dir": "/srv/training",
            "patterns_total": 7,
            "log": "/logs/\u0142\u00f3d\u017a.txt",
        }


def test_a_command_that_fails_after_printing_is_not_run_again_by_the_host(
    standin: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--training-command status`` on a console that cannot show a character of the log's
    path: the plugin printed the first lines, failed, and the host's own command then ran
    and answered after them (``[ERROR] Unknown training command 'status'``)."""
    monkeypatch.setattr(menu_adapter, "current_trainer", _Trainer)
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="ascii"))
    inst = MenuInstrumentor()
    inst.instrument()
    assert importlib.import_module(COMMANDS).execute_training_command("status", None, False) is None
    sys.stdout.flush()
    out, err = raw.getvalue().decode("ascii"), capsys.readouterr().err
    assert out.startswith("  data_dir: /srv/training\n")
    assert "(host)" not in out and "Unknown training command" not in out
    assert err.count("training command status failed: UnicodeEncodeError") == 1
    assert inst.errors == {"status": 1}


def test_a_batch_that_fails_after_printing_is_not_run_twice(
    standin: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The batch ran and printed its result, then failed: the host's batch ran after it and
    printed a second result."""

    def batch(json_output: bool, out: Any) -> dict[str, Any]:
        print("[INFO] Training batch: 3 patterns from 10 lines in 0.1s", file=out)
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(menu_adapter, "run_batch", batch)
    MenuInstrumentor().instrument()
    importlib.import_module(COMMANDS).execute_training_command("batch", None, False)
    out, err = capsys.readouterr()
    assert out == "[INFO] Training batch: 3 patterns from 10 lines in 0.1s\n"
    assert "training command batch failed: BrokenPipeError" in err


def test_a_command_that_fails_before_printing_still_falls_back_to_the_host(
    standin: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unchanged: the plugin's side failing before any output leaves the command to the host."""

    def batch(json_output: bool, out: Any) -> dict[str, Any]:
        raise RuntimeError("no trainer")

    monkeypatch.setattr(menu_adapter, "run_batch", batch)
    MenuInstrumentor().instrument()
    importlib.import_module(COMMANDS).execute_training_command("batch", None, True)
    assert json.loads(capsys.readouterr().out)["command"] == "batch"  # the host's answer


def _hooks(inst: object, module: str) -> int:
    """The post-import hooks of ``inst`` that wrapt holds for ``module``."""
    registry = importlib.import_module("wrapt.importer")._post_import_hooks
    held = registry.get(module, [])
    return sum(1 for hook in held if getattr(hook, "__self__", None) is inst)


def test_instrument_cycles_leave_one_import_hook(
    standin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each ``instrument`` registered one more post-import hook and ``uninstrument`` took
    none back: after five cycles one import of the host's module ran six hooks."""
    inst = MenuInstrumentor()
    for _ in range(5):
        inst.instrument()
        inst.uninstrument()
    inst.instrument()
    assert _hooks(inst, LAUNCH) == 1 and _hooks(inst, COMMANDS) == 1
    applied: list[str] = []
    apply = inst._apply

    def counted(module: Any) -> None:
        applied.append(module.__name__)
        apply(module)

    monkeypatch.setattr(inst, "_apply", counted)
    importlib.import_module(LAUNCH)
    assert applied == [LAUNCH]
    assert inst.applied() == [f"{LAUNCH}:run_training_system"]


def test_an_imported_module_is_instrumented_at_once_after_cycles(standin: Path) -> None:
    """Cycles after the host's module was imported still wrap it, and unwrap it."""
    launch = importlib.import_module(LAUNCH)
    original = launch.run_training_system
    inst = MenuInstrumentor()
    for _ in range(3):
        inst.instrument()
        assert launch.run_training_system is not original
        inst.uninstrument()
        assert launch.run_training_system is original
    assert _hooks(inst, LAUNCH) == 0


# -- 5: metrics observers in a forked child -----------------------------------------------------


def _ask(text: str) -> None:
    signals.answer_given.send("cli", query=Query(text), answer=Answer("livechat", "memory"))


def _answers(path: Path) -> list[str]:
    """The questions recorded, oldest first."""
    with MetricsStore(path, read_only=True) as store:
        return [a.query for a in reversed(store.answers())]


def _in_child(parent_observer: object, path: Path) -> dict[str, object]:
    """What a forked child sees of the parent's observer, and records with its own store."""
    said: dict[str, object] = {"inherited": observer_for(path) is not None}
    store = MetricsStore(path)
    observer = attach_observers(store)
    said["own_observer"] = observer is not parent_observer
    _ask("asked in the child")
    store.close()  # writes what its observer queued
    said["answers"] = _answers(path)
    return said


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_records_through_its_own_observer(settings: Settings) -> None:
    """The child kept the parent's observer: its signals went to a queue whose writer thread
    exists only in the parent, a store it opened joined that observer (its rows were never
    written, its close waited for them), and the parent's SQLite connection was the one to
    write through. Now the child starts with no observer and records through its own."""
    settings.ensure_data_dir()
    path = settings.metrics_path
    parent = MetricsStore(path)
    observer = attach_observers(parent)
    _ask("asked before the fork")
    assert observer.flush(5.0)
    said = in_child(lambda: _in_child(observer, path))
    assert said == {
        "inherited": False,
        "own_observer": True,
        "answers": ["asked before the fork", "asked in the child"],
    }
    # the parent goes on recording through its observer, each answer once
    _ask("asked after the fork")
    parent.close()
    assert _answers(path) == [
        "asked before the fork",
        "asked in the child",
        "asked after the fork",
    ]
    assert observer_for(path) is None
