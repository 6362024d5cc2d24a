"""A review of the operator's smaller verbs: status, clear, plugins, report, demo, run-host.

Each test names what an operator saw before the fix.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from foundups_training.cli import main
from foundups_training.progress import Progress
from foundups_training.text import EXIT_OUTPUT_CLOSED


class _ClosedPipe(io.StringIO):
    """Standard output whose reader has gone (``| head -1`` after its line)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


class _StubTrainer:
    """What ``status`` and ``clear`` use of a Trainer, without Chroma."""

    status_dict: ClassVar[dict[str, Any]] = {}
    cleared = 0

    def __init__(self, settings: Any, **_: Any) -> None:
        self.settings = settings
        self.memory = self

    def count(self) -> int:
        return 3

    def status(self) -> dict[str, Any]:
        return dict(self.status_dict)

    def clear(self) -> None:
        type(self).cleared += 1

    def __enter__(self) -> _StubTrainer:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _status(data_dir: str) -> dict[str, Any]:
    return {
        "data_dir": data_dir,
        "store": f"{data_dir}/chroma",
        "patterns_total": 2,
        "by_kind": {"stream": 2},
        "by_source": {},
        "verified": 0,
        "lines_processed": 500,
        "lines_total": 2400,
        "log": "012.txt",
        "last_training": None,
    }


@pytest.fixture
def stub_trainer(monkeypatch: pytest.MonkeyPatch) -> type[_StubTrainer]:
    monkeypatch.setattr("foundups_training.engine.Trainer", _StubTrainer)
    _StubTrainer.cleared = 0
    return _StubTrainer


# -- output piped to a reader that stops early -------------------------------------------------


def test_plugins_to_a_closed_pipe_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``foundups-training plugins | head -0`` said ``plugins: BrokenPipeError: [Errno 32]
    Broken pipe``, exit 1: the work was done, the reader had only stopped reading."""
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["plugins", "--data-dir", str(tmp_path / "d")]) == EXIT_OUTPUT_CLOSED
    assert "BrokenPipe" not in capsys.readouterr().err


def test_status_to_a_closed_pipe_is_no_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    stub_trainer: type[_StubTrainer],
) -> None:
    """The same for ``status | head -1``, in text and in JSON."""
    stub_trainer.status_dict = _status(str(tmp_path / "d"))
    for extra in ([], ["--json"]):
        monkeypatch.setattr(sys, "stdout", _ClosedPipe())
        assert main(["status", "--data-dir", str(tmp_path / "d"), *extra]) == EXIT_OUTPUT_CLOSED
        assert "BrokenPipe" not in capsys.readouterr().err


def test_a_closed_pipe_leaves_no_complaint_at_exit(tmp_path: Path) -> None:
    """Python flushes stdout again at exit: without pointing it elsewhere, a second
    ``Exception ignored ... BrokenPipeError`` would follow."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    try:
        env = {**os.environ, "FOUNDUPS_TRAINING_HOME": str(tmp_path / "d")}
        done = subprocess.run(
            [sys.executable, "-m", "foundups_training", "plugins"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert done.returncode == EXIT_OUTPUT_CLOSED, done.stderr
    assert done.stderr.decode("utf-8", "replace") == ""


# -- a console that is not UTF-8 ---------------------------------------------------------------


def _ascii_stdout(monkeypatch: pytest.MonkeyPatch) -> io.BytesIO:
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="ascii"))
    return raw


def test_status_json_on_an_ascii_console_is_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stub_trainer: type[_StubTrainer]
) -> None:
    """``PYTHONIOENCODING=ascii foundups-training --data-dir dé status --json`` printed
    ``status: UnicodeEncodeError: 'ascii' codec can't encode character '\\xe9'``, exit 1,
    and no JSON at all."""
    data_dir = str(tmp_path / "d\u00e9")
    stub_trainer.status_dict = _status(data_dir)
    raw = _ascii_stdout(monkeypatch)
    assert main(["status", "--data-dir", data_dir, "--json"]) == 0
    sys.stdout.flush()
    assert json.loads(raw.getvalue().decode("ascii"))["data_dir"] == data_dir


def test_status_text_on_an_ascii_console_shows_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stub_trainer: type[_StubTrainer]
) -> None:
    """The text form, likewise: the path is shown with its ``é`` escaped."""
    data_dir = str(tmp_path / "d\u00e9")
    stub_trainer.status_dict = _status(data_dir)
    raw = _ascii_stdout(monkeypatch)
    assert main(["status", "--data-dir", data_dir]) == 0
    sys.stdout.flush()
    assert "d\\u00e9" in raw.getvalue().decode("ascii")


def test_status_text_says_how_many_lines_the_log_has() -> None:
    """``lines processed: 500 of 012.txt`` left out the total that ``--json`` and the docs
    have (``lines processed of total``)."""
    from foundups_training.cli.status import _text

    assert "lines processed: 500 of 012.txt (2,400 lines now)" in _text(_status("d"))


# -- clear on a data directory that holds nothing ----------------------------------------------


def test_clear_on_a_mistyped_data_dir_clears_nothing_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``clear --yes --data-dir ~/.local/share/foundups-trainin`` made an empty store there and
    said ``cleared 0 patterns``, exit 0, while the real memory stayed as it was."""
    typo = tmp_path / "typo"
    assert main(["clear", "--yes", "--data-dir", str(typo)]) == 2
    assert "nothing to clear" in capsys.readouterr().err
    assert not typo.exists()  # not even the metrics and telemetry of the refusal
    assert main(["clear", "--data-dir", str(typo)]) != 0  # nor without --yes
    assert not typo.exists()


def test_clear_with_only_a_checkpoint_still_clears(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stub_trainer: type[_StubTrainer]
) -> None:
    """A data directory whose store is gone but whose checkpoint is not is cleared as before."""
    data = tmp_path / "d"
    data.mkdir()
    (data / "checkpoint.json").write_text("{}", encoding="utf-8")
    assert main(["clear", "--yes", "--data-dir", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"cleared": 3}
    assert stub_trainer.cleared == 1


# -- run-host with relative paths --------------------------------------------------------------


def test_run_host_keeps_a_relative_data_dir_where_the_operator_typed_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``foundups-training --data-dir data run-host host/main.py`` gave the plugin inside the
    host ``host/data``: the host runs in its own folder, and the relative path went as typed."""
    host = tmp_path / "host"
    host.mkdir()
    seen = tmp_path / "seen.json"
    (host / "main.py").write_text(
        "import json, os\n"
        f"with open({str(seen)!r}, 'w') as fh:\n"
        "    json.dump({k: os.environ.get('FOUNDUPS_TRAINING_' + k) for k in ('HOME', 'CONFIG')},"
        " fh)\n",
        encoding="utf-8",
    )
    (tmp_path / "rel.toml").write_text("", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FOUNDUPS_TRAINING_OFF", "1")  # the adapters are not under test
    monkeypatch.setenv("FOUNDUPS_TRAINING_CONFIG", "unused.toml")  # restored afterwards
    argv = ["--data-dir", "data", "--config", "rel.toml", "run-host", "host/main.py"]
    assert main(argv) == 0
    env = json.loads(seen.read_text(encoding="utf-8"))
    assert Path(env["HOME"]) == tmp_path / "data"
    assert Path(env["CONFIG"]) == tmp_path / "rel.toml"


# -- progress bars on a narrow terminal --------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_wider_than_the_terminal_is_cut_to_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a 40-column terminal the mining bar (about 75 characters) wrapped, and ``\\r`` only
    goes back to the start of the last row: each redraw left a new line behind."""
    monkeypatch.setenv("COLUMNS", "40")
    out = _Tty()
    with Progress("  mining  ", stream=out, unit="bytes") as bar:
        bar(500_000, 14_400_000)
        bar(14_400_000, 14_400_000)
    drawn = [part for part in out.getvalue().rstrip("\n").split("\r") if part]
    assert drawn and all(len(part) < 40 for part in drawn)


def test_report_to_a_closed_pipe_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``report | head -0`` wrote the page, then said ``report: BrokenPipeError``, exit 1."""
    data = tmp_path / "d"
    data.mkdir()
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    argv = ["report", "--data-dir", str(data), "--out", str(tmp_path / "r")]
    assert main(argv) == EXIT_OUTPUT_CLOSED
    assert "BrokenPipe" not in capsys.readouterr().err
    assert (tmp_path / "r" / "index.html").is_file()


def test_demo_stops_quietly_when_its_reader_has_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """``demo | head -3`` ended with ``demo: BrokenPipeError``, exit 1: it now stops the way
    SIGPIPE would stop it, with the status a shell gives a command its reader left."""
    import argparse

    from foundups_training.cli.demo import _say

    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    with pytest.raises(SystemExit) as stopped:
        _say(argparse.Namespace(json=False), "[1/4] Indexing the sample host tree")
    assert stopped.value.code == EXIT_OUTPUT_CLOSED


def test_a_failed_verb_with_json_still_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A script reading ``--json`` output got nothing on stdout when the verb failed."""
    typo = tmp_path / "typo"
    assert main(["clear", "--yes", "--json", "--data-dir", str(typo)]) == 2
    out, err = capsys.readouterr()
    assert "nothing to clear" in err
    data = json.loads(out)
    assert data["exit_code"] == 2 and "nothing to clear" in data["error"]
