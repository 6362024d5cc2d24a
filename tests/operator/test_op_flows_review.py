"""A review of the operator's flows: the Trainer's close, run-host, demo."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from foundups_training.cli import main
from foundups_training.config import Settings
from foundups_training.engine import Trainer
from foundups_training.launcher import run_host

HERE = Path(__file__).resolve().parent
STANDIN = HERE.parent / "standin_host"


# -- Trainer.close ------------------------------------------------------------------------------


class _Part:
    def __init__(self, closed: list[str], name: str, fail: BaseException | None = None) -> None:
        self.closed, self.name, self.fail = closed, name, fail

    def close(self) -> None:
        self.closed.append(self.name)
        if self.fail is not None:
            raise self.fail


def test_close_closes_every_part_when_one_is_interrupted(settings: Settings) -> None:
    """Ctrl-C while the model unloads (the router closes first) left the store locked and
    the metrics' queued rows unwritten: the other parts were never closed."""
    closed: list[str] = []
    trainer = Trainer(settings)
    trainer._parts.update(
        router=_Part(closed, "router", KeyboardInterrupt()),
        memory=_Part(closed, "memory"),
        metrics=_Part(closed, "metrics", RuntimeError("disk full")),
    )
    with pytest.raises(KeyboardInterrupt):
        trainer.close()
    assert closed == ["router", "memory", "metrics"]
    assert not trainer._parts
    trainer.close()  # a second close is a no-op
    assert closed == ["router", "memory", "metrics"]


# -- run-host -----------------------------------------------------------------------------------


def _host(tmp_path: Path, source: str, name: str = "host") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    main_py = folder / "main.py"
    main_py.write_text(source, encoding="utf-8")
    return main_py


def test_run_host_shows_the_hosts_traceback_when_it_raises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A host whose main.py raised gave one line (``foundups-training run-host: ValueError:
    host blew up``), not the traceback ``python main.py`` shows: no file, no line."""
    main_py = _host(
        tmp_path,
        "def boom():\n    raise ValueError('host blew up')\n\n\nboom()\n",
        "hôst with space",
    )
    assert run_host(main_py) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last):" in err
    assert f'File "{main_py}", line 2, in boom' in err
    assert err.rstrip().endswith("ValueError: host blew up")
    assert "runpy" not in err and "launcher.py" not in err  # from the host's frames on

    assert main(["run-host", str(main_py)]) == 1  # the CLI: same account, same status
    err = capsys.readouterr().err
    assert f'File "{main_py}", line 2, in boom' in err
    assert "foundups-training run-host:" not in err


def test_run_host_reports_a_syntax_error_in_main_py_as_python_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main_py = _host(tmp_path, "print('a'\n")
    assert run_host(main_py) == 1
    err = capsys.readouterr().err
    assert f'File "{main_py}", line 1' in err and "SyntaxError" in err
    assert "runpy" not in err


def test_run_host_keeps_the_hosts_state_for_the_threads_it_left_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python main.py`` keeps running the host's non-daemon threads after main.py returns,
    in the host's folder with the host's argv. run-host put the launcher's working
    directory, argv and environment back under them: what such a thread wrote relative to
    its folder landed where the operator stood."""
    out = tmp_path / "seen.json"
    gate = f"op_flows_gate_{os.getpid()}"
    main_py = _host(
        tmp_path,
        f"import json, os, sys, threading\n"
        f"import {gate}\n"
        f"def work():\n"
        f"    {gate}.go.wait(30)\n"
        f"    seen = {{'cwd': os.getcwd(), 'argv': sys.argv,\n"
        f"            'root': os.environ.get('FOUNDUPS_TRAINING_HOST_ROOT')}}\n"
        f"    open({str(out)!r}, 'w').write(json.dumps(seen))\n"
        f"threading.Thread(target=work, name='op-flows-host-worker').start()\n",
    )
    (main_py.parent / f"{gate}.py").write_text(
        "import threading\ngo = threading.Event()\n", encoding="utf-8"
    )
    monkeypatch.delenv("FOUNDUPS_TRAINING_HOST_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    saved_argv, saved_path = list(sys.argv), list(sys.path)
    try:
        assert run_host(main_py, ["--flag"]) == 0
        sys.modules[gate].go.set()  # type: ignore[attr-defined]
        for thread in threading.enumerate():
            if thread.name == "op-flows-host-worker":
                thread.join(30)
        seen = json.loads(out.read_text())
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        sys.modules.pop(gate, None)
        # not monkeypatch.delenv: it would put the host's value back at teardown
        os.environ.pop("FOUNDUPS_TRAINING_HOST_ROOT", None)
    assert seen == {
        "cwd": str(main_py.parent),
        "argv": [str(main_py), "--flag"],
        "root": str(main_py.parent),
    }


# -- demo ---------------------------------------------------------------------------------------


def test_demo_never_clears_the_configured_chroma_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a Chroma server configured (``FOUNDUPS_TRAINING_CHROMA_URL``), the demo opened the
    operator's real collection on it, and cleared it: every pattern learned was deleted."""
    import foundups_training.cli.demo as demo
    import foundups_training.memory as memory_pkg

    monkeypatch.setattr(demo, "_samples", lambda: (STANDIN, HERE / "data" / "012_sample.txt"))
    monkeypatch.setattr(
        demo,
        "demo_questions",
        lambda: (
            [{"id": "q", "kind": "module_location", "query": "youtube auth?", "expected": []}],
            "test questions",
        ),
    )
    opened: list[str] = []
    real_open = memory_pkg.open_memory

    def recording_open(settings: Settings, read_only: bool = False) -> Any:
        opened.append(settings.chroma_url)
        if settings.chroma_url:
            raise AssertionError(f"the demo opened the server {settings.chroma_url}")
        return real_open(settings, read_only=read_only)

    monkeypatch.setattr(memory_pkg, "open_memory", recording_open)
    monkeypatch.setenv("FOUNDUPS_TRAINING_CHROMA_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("FOUNDUPS_TRAINING_CHROMA_TOKEN", "secret")
    assert main(["--data-dir", str(tmp_path), "demo", "--no-models", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert opened and not any(opened)
    assert (tmp_path / "demo" / "chroma").is_dir() and data["mine"]["lines_processed"] == 9


def test_demo_says_how_to_explore_a_data_dir_with_a_space_in_one_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The closing hint ``foundups-training --data-dir /home/Jane Doe/demo menu``, copied as
    it was printed, named the data directory ``/home/Jane`` and passed ``Doe/demo`` on."""
    import shlex

    import foundups_training.cli.demo as demo

    monkeypatch.setattr(demo, "_samples", lambda: (STANDIN, HERE / "data" / "012_sample.txt"))
    monkeypatch.setattr(demo, "demo_questions", lambda: ([], "no questions"))
    home = tmp_path / "Jane Doe"
    assert main(["--data-dir", str(home), "demo", "--no-models"]) == 0
    hint = capsys.readouterr().out.rsplit("Explore it: ", 1)[1].strip()
    assert shlex.split(hint) == ["foundups-training", "--data-dir", str(home / "demo"), "menu"]


# -- index --------------------------------------------------------------------------------------


def test_index_of_a_link_loop_says_what_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ls`` lists it, and index said ``host root not found``."""
    loop = tmp_path / "host"
    loop.symlink_to(loop)
    assert main(["index", str(loop)]) == 2
    err = capsys.readouterr().err
    assert "broken symbolic link or a link loop" in err and str(loop) in err
