"""The launcher and the host's training entry points: run-host, --train, option 11, commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from foundups_training.adapters.menu import translate_host_args
from standin_chat import write_log

from foundups_training.launcher import HostNotFound, run_host

STANDIN = Path(__file__).resolve().parent.parent / "standin_host"
MAIN = STANDIN / "main.py"
HOST_MENU = "(host)"  # what the stand-in host's own training menu prints


def _run(
    args: list[str], tmp_path: Path, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "FOUNDUPS_TRAINING_HOME": str(tmp_path / "home"), **env}
    environ.pop("FOUNDUPS_TRAINING_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "foundups_training", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environ,
        timeout=180,
        cwd=tmp_path,
    )


def test_translate_host_args() -> None:
    assert translate_host_args(["--train"]) == ["--training-menu"]
    assert translate_host_args(["--train", "--training-menu", "-v"]) == ["--training-menu", "-v"]
    assert translate_host_args(["--youtube"]) == ["--youtube"]


def test_the_hosts_strict_argparse_rejects_train_on_its_own(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(MAIN), "--train"],
        capture_output=True,
        text=True,
        cwd=STANDIN,
        timeout=60,
    )
    assert done.returncode == 2 and "--train" in done.stderr


def test_run_host_train_opens_the_plugin_menu(tmp_path: Path) -> None:
    done = _run(["run-host", str(MAIN), "--train"], tmp_path, stdin="0\n")
    assert done.returncode == 0, done.stderr
    assert HOST_MENU not in done.stdout
    assert "0. Back" in done.stdout  # the plugin menu's last option, then it read "0"


def test_option_11_of_the_hosts_menu_reaches_the_plugin(tmp_path: Path) -> None:
    done = _run(["run-host", str(MAIN)], tmp_path, stdin="11\n0\n10\n")
    assert done.returncode == 0, done.stderr
    assert "11. Qwen/Gemma Training System" in done.stdout
    assert HOST_MENU not in done.stdout and "0. Back" in done.stdout
    assert "[EXIT] Exiting..." in done.stdout  # back in the host's menu afterwards


def test_training_command_batch_mines_through_the_plugin(tmp_path: Path) -> None:
    log = write_log(tmp_path / "012.txt", rounds=40)
    data_dir = tmp_path / "chosen-data-dir"
    done = _run(
        [
            "run-host",
            "--data-dir",
            str(data_dir),
            str(MAIN),
            "--training-command",
            "batch",
            "--json-output",
        ],
        tmp_path,
        FOUNDUPS_TRAINING_LOG=str(log),
    )
    assert done.returncode == 0, done.stderr
    response = json.loads(done.stdout[done.stdout.index("{") :])
    assert response["command"] == "batch" and response["status"] == "ok"
    result = response["result"]
    assert result["task"] == "pattern_training" and result["success"] is True
    assert result["lines_processed"] == 200 and result["patterns_stored"] > 0
    assert (data_dir / "chroma").is_dir()  # --data-dir reached the plugin inside the host


def test_hosts_own_training_commands_still_run(tmp_path: Path) -> None:
    done = _run(["run-host", str(MAIN), "--training-command", "utf8_scan"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "[INFO] utf8_scan complete (host)" in done.stdout


def test_one_line_import_activates_everything(tmp_path: Path) -> None:
    code = (
        "import foundups_training.auto, runpy, sys; "
        "sys.path.insert(0, '.'); sys.argv = ['main.py', '--training-menu']; "
        "runpy.run_path('main.py', run_name='__main__')"
    )
    environ = {**os.environ, "FOUNDUPS_TRAINING_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        input="0\n",
        capture_output=True,
        text=True,
        cwd=STANDIN,
        env=environ,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert HOST_MENU not in done.stdout and "0. Back" in done.stdout


def test_run_host_in_process_sets_cwd_argv_and_restores_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = (os.getcwd(), list(sys.argv), list(sys.path))
    assert run_host(MAIN, ["--status"]) == 0
    out = capsys.readouterr().out
    assert f"[STATUS] cwd={STANDIN}" in out and "argv=['--status']" in out
    assert (os.getcwd(), sys.argv, sys.path) == before


def test_run_host_passes_the_hosts_exit_status(capsys: Any) -> None:
    assert run_host(MAIN, ["--no-such-flag"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_run_host_refuses_a_missing_main(tmp_path: Path) -> None:
    with pytest.raises(HostNotFound):
        run_host(tmp_path / "main.py")
    done = _run(["run-host", str(tmp_path / "nope.py")], tmp_path)
    assert done.returncode == 2 and "no such file" in done.stderr
