"""The CLI where things go wrong, as an operator meets it: real stores, real files, the real
console script; one clear line (never a traceback) unless ``-vv`` asks for one.

Each test reproduces a confirmed report (the CLI review's numbers in the names' docstrings).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from foundups_training.cli import main, readable
from foundups_training.config import load_settings
from foundups_training.metrics import MetricsStore
from foundups_training.samples import sample_host, sample_log

REPO = Path(__file__).resolve().parent.parent
QA = REPO / "foundups_training" / "evalsets" / "sample_qa_dev.jsonl"
QUESTION = "which module handles youtube auth"


def _env(models_dir: Path) -> dict[str, str]:
    """A child's environment: no user settings, the session's models folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOUNDUPS_TRAINING_")}
    env.update(
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        FOUNDUPS_TRAINING_MODELS_DIR=str(models_dir),
    )
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def _cli(*args: str | Path, env: dict[str, str], user: int | None = None) -> Any:
    """The console script in its own process (``user``: run as that uid, through setpriv)."""
    cmd = [sys.executable, "-m", "foundups_training", *map(str, args)]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)


def _log(path: Path, lines: int) -> Path:
    text = sample_log().read_text(encoding="utf-8").splitlines(keepends=True)[:lines]
    path.write_text("".join(text), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    """A data directory holding the sample host's code patterns (copy it to change it)."""
    data = tmp_path_factory.mktemp("indexed") / "data"
    done = _cli("-q", "index", sample_host(), "--data-dir", data, env=_env(models_dir))
    assert done.returncode == 0, done.stderr
    return data


@pytest.fixture
def store_copy(indexed: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(indexed, copy)
    return copy


# -- mine -------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["environment", "config file"])
def test_mine_verifies_against_the_configured_host_root(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """#2: install.md says set FOUNDUPS_TRAINING_HOST_ROOT (or host_root), then `mine`."""
    host = sample_host()
    extra: list[str] = []
    if where == "environment":
        monkeypatch.setenv("FOUNDUPS_TRAINING_HOST_ROOT", str(host))
    else:
        config = tmp_path / "hr.toml"
        config.write_text(f"host_root = {json.dumps(str(host))}\n", encoding="utf-8")
        extra = ["--config", str(config)]
    log = _log(tmp_path / "012.txt", 400)
    argv = ["-q", "mine", str(log), "--data-dir", str(tmp_path / "d"), "--json", *extra]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["with_module"] > 0
    assert report["verified"] > 0.9 * report["with_module"]
    assert report["host_root"] == str(host)


def test_mine_reports_what_the_memory_holds_after_the_command_patterns(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """#13: the telemetry's command patterns are added after the log's count was taken."""
    data = tmp_path / "d"
    log = _log(tmp_path / "012.txt", 100)
    # an earlier verb's telemetry: the chain of commands the miner learns from
    assert main(["-q", "index", str(sample_host()), "--data-dir", str(data), "--json"]) == 0
    capsys.readouterr()
    assert main(["-q", "mine", str(log), "--data-dir", str(data), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert main(["status", "--data-dir", str(data), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["by_kind"].get("command", 0) > 0  # the run's own telemetry was mined
    assert report["patterns_total"] == status["patterns_total"]


# -- status -----------------------------------------------------------------------------------


def test_status_on_a_checkpoint_whose_count_is_not_a_number(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """#12: status is the diagnostics tool; its docstring says it never raises."""
    data = tmp_path / "d"
    data.mkdir()
    (data / "checkpoint.json").write_text(
        '{"lines_processed": "many", "offset": "x", "path": 5}', encoding="utf-8"
    )
    assert main(["status", "--data-dir", str(data), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["lines_processed"] == 0
    assert "'many'" in status["checkpoint_error"]
    assert main(["status", "--data-dir", str(data)]) == 0
    assert "problem        : the checkpoint" in capsys.readouterr().out


def test_status_never_creates_a_mistyped_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    typo = tmp_path / "dtaa"
    assert main(["status", "--data-dir", str(typo)]) == 2  # as report: a typo is no "ok"
    assert not typo.exists()
    assert f"no data directory at {typo}" in capsys.readouterr().err


@pytest.mark.parametrize("verb", [["status"], ["mine", "012.txt"], ["report", "--out"]])
def test_a_data_dir_that_is_a_file_is_refused(
    verb: list[str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    if verb[-1] == "--out":
        verb = [*verb, str(tmp_path / "dashboard")]
    assert main([*verb, "--data-dir", str(afile)]) == 2
    err = capsys.readouterr().err
    assert f"the data directory {afile} is a file" in err and "Traceback" not in err


def test_run_host_on_a_directory_says_so(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run-host", str(tmp_path)]) == 2
    assert f"{tmp_path} is a directory; give the host's main.py" in capsys.readouterr().err


# -- failed runs are not "last training" --------------------------------------------------------


def test_a_refused_mine_is_a_failed_attempt_not_the_last_training(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """#8: a mine refused with StoreLocked trained nothing; status and the menu say so."""
    from foundups_training.engine import Trainer
    from foundups_training.memory import open_memory
    from foundups_training.menu import run_menu

    data = tmp_path / "d"
    settings = load_settings({"data_dir": data}, env={})
    log = _log(tmp_path / "012.txt", 20)
    with open_memory(settings):  # another writer holds the store
        assert main(["mine", str(log), "--data-dir", str(data)]) == 1
        assert "StoreLocked" in capsys.readouterr().err
        # the menu's header while the store is locked: not "0 patterns"
        with Trainer(settings) as trainer:
            out = _Out()
            run_menu(trainer, stdin=_In("0\n"), stdout=out)
        assert f"Patterns stored : unknown - the store is locked by process {os.getpid()}" in (
            out.getvalue()
        )
    assert main(["status", "--data-dir", str(data), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["last_training"] is None
    assert "StoreLocked" in status["last_failure"]["error"]
    assert main(["status", "--data-dir", str(data)]) == 0
    text = capsys.readouterr().out
    assert "last training  : never" in text and "(batch) failed: StoreLocked" in text
    with Trainer(settings) as trainer:
        out = _Out()
        run_menu(trainer, stdin=_In("5\n0\n"), stdout=out)
    shown = out.getvalue()
    assert "Last training   : never" in shown  # the header
    assert "Last attempt    : " in shown and "batch FAILED: StoreLocked" in shown
    assert "Training runs  : none yet (failed, not counted: batch 1)" in shown  # option 5


class _In:
    def __init__(self, text: str) -> None:
        import io

        self._io = io.StringIO(text)

    def readline(self) -> str:
        return self._io.readline()


class _Out:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def getvalue(self) -> str:
        return "".join(self.parts)


# -- eval --out -------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["a directory", "under a file"])
def test_eval_out_that_cannot_be_written_is_refused_before_evaluating(
    where: str, store_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """#10: an evaluation takes seconds a question; a bad --out is said at once."""
    if where == "a directory":
        out = tmp_path
    else:
        (tmp_path / "afile").write_text("x", encoding="utf-8")
        out = tmp_path / "afile" / "items.jsonl"
    argv = ["eval", str(QA), "--tiers", "memory", "--limit", "2", "--out", str(out)]
    assert main([*argv, "--data-dir", str(store_copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"foundups-training eval: --out {out}: ") and "Traceback" not in err
    with MetricsStore(store_copy / "metrics.sqlite3", read_only=True) as metrics:
        assert metrics.eval_runs() == []  # nothing was evaluated


def test_eval_report_survives_an_items_file_that_fails_late(
    store_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#10: a write that fails after the check (disk full) must not lose the report."""
    from foundups_training.evaluation.harness import EvalReport

    def disk_full(self: EvalReport, path: Path | str) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(EvalReport, "write_items", disk_full)
    out = tmp_path / "items.jsonl"
    argv = ["eval", str(QA), "--tiers", "memory", "--limit", "2", "--out", str(out), "--json"]
    assert main([*argv, "--data-dir", str(store_copy)]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # the whole report, and nothing else on stdout
    assert report["tiers"]["memory"]["n"] == 2
    assert "No space left on device" in captured.err and "report above is complete" in captured.err


# -- ask --------------------------------------------------------------------------------------


def test_ask_with_bytes_that_are_not_utf8(indexed: Path, models_dir: Path) -> None:
    """#6: a paste from a latin-1 file reaches Python as lone surrogates."""
    question = "\udcff\udcfe " + QUESTION  # what argv holds for b"\xff\xfe which ..."
    done = _cli(
        "ask", question, "--tier", "memory", "--json", "--data-dir", indexed, env=_env(models_dir)
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["answer"] and not answer["error"], answer
    assert "not UTF-8" in done.stderr and "Traceback" not in done.stderr


def test_readable_keeps_good_text_and_replaces_each_bad_byte() -> None:
    assert readable("café ✓") == "café ✓"
    assert readable("\udcff\udcfe ok") == "\ufffd\ufffd ok"
    assert readable("lone \ud800 high") == "lone ? high"


def test_ask_n_lists_at_most_n_patterns(
    indexed: Path, models_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    """The -n help said "patterns to retrieve" and had no effect; 0 was accepted."""
    assert main(["ask", QUESTION, "-n", "0", "--data-dir", str(indexed)]) == 2
    assert "-n/--patterns must be at least 1" in capsys.readouterr().err
    args = ("ask", QUESTION, "--tier", "memory", "--json", "--data-dir", indexed)
    every = json.loads(_cli(*args, env=_env(models_dir)).stdout)["patterns"]
    assert len(every) > 2
    two = json.loads(_cli(*args, "-n", "2", env=_env(models_dir)).stdout)["patterns"]
    assert two == every[:2]


def test_an_answer_that_fails_is_one_line_and_the_traceback_needs_vv(
    tmp_path: Path, models_dir: Path
) -> None:
    """#5: a corrupt store gives the answer's error and one log line, not 25 lines."""
    data = tmp_path / "d"
    (data / "chroma").mkdir(parents=True)
    (data / "chroma" / "chroma.sqlite3").write_bytes(b"garbage" * 200)
    args = ("ask", QUESTION, "--tier", "memory", "--json", "--data-dir", data)
    done = _cli(*args, env=_env(models_dir))
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]  # stdout stays one JSON document
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip() and len(done.stderr.strip().splitlines()) <= 2, done.stderr
    debug = _cli(*args, "-vv", env=_env(models_dir))
    assert "Traceback" in debug.stderr


# -- a data directory this process cannot write ---------------------------------------------

NOBODY = 65534
needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("setpriv"),
    reason="drops to 'nobody' with setpriv: needs root (root ignores file modes)",
)


@pytest.fixture
def public_tmp() -> Iterator[Path]:
    """A folder 'nobody' can reach (pytest's own are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="fdt-ro-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for p in [path, *path.rglob("*")]:
            if p.is_dir() and not p.is_symlink():
                p.chmod(0o755)
        shutil.rmtree(path)


@needs_root
def test_report_and_status_work_on_a_read_only_data_dir(
    indexed: Path, public_tmp: Path, models_dir: Path
) -> None:
    """#11: docs: "status and report only read and always work"."""
    data = public_tmp / "data"
    shutil.copytree(indexed, data)
    assert (data / "metrics.sqlite3").is_file()  # the index run is recorded there
    for p in [data, *data.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    out = public_tmp / "out"
    out.mkdir()
    os.chown(out, NOBODY, NOBODY)
    env = {**_env(models_dir), "HOME": str(out)}
    report = _cli("report", "--data-dir", data, "--out", out / "rep", env=env, user=NOBODY)
    assert report.returncode == 0, report.stderr
    assert (out / "rep" / "index.html").is_file()
    assert report.stderr == ""  # no traceback, no warning: reading is allowed
    status = _cli("status", "--data-dir", data, "--json", env=env, user=NOBODY)
    assert status.returncode == 0, status.stderr
    assert "Traceback" not in status.stderr and "metrics" not in status.stderr
    summary = json.loads(status.stdout)
    assert "metrics_error" not in summary
    assert summary["last_training_run"]["kind"] == "index"
