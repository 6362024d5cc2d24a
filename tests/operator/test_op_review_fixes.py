"""What a reviewer reproduced in ``ask``, the menu, ``report`` and the progress bar, each
test one report (the review's numbers in the docstrings)."""

from __future__ import annotations

import errno
import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from foundups_training import signals
from foundups_training.cli import main
from foundups_training.config import Settings
from foundups_training.menu import run_menu
from foundups_training.metrics import MetricsError, MetricsStore, attach_observers
from foundups_training.mining.checkpoint import (
    MINER_VERSION,
    Checkpoint,
    fingerprint,
    now_iso,
    save_checkpoint,
    tail_hash,
)
from foundups_training.records import Answer, Query
from foundups_training.report import REPORT_NAME, write_report
from foundups_training.samples import sample_host

REPO = Path(__file__).resolve().parents[2]


def _env(models_dir: Path, **extra: str) -> dict[str, str]:
    """A child's environment: no user settings, the session's models folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOUNDUPS_TRAINING_")}
    env.update(PYTHONDONTWRITEBYTECODE="1", FOUNDUPS_TRAINING_MODELS_DIR=str(models_dir))
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update(extra)
    return env


def _cli(*args: str | Path, env: dict[str, str], stdin: bytes = b"") -> Any:
    """The console script in its own process (the plugin's Trainer is built per process)."""
    return subprocess.run(
        [sys.executable, "-m", "foundups_training", *map(str, args)],
        input=stdin,
        capture_output=True,
        timeout=300,
        env=env,
        cwd=REPO,
    )


def drive(trainer: Any, stdin: io.TextIOBase | str) -> tuple[int, str]:
    out = io.StringIO()
    stream = io.StringIO(stdin) if isinstance(stdin, str) else stdin
    code = run_menu(trainer, stdin=stream, stdout=out)  # type: ignore[arg-type]
    return code, out.getvalue()


# -- 1: `ask` answers reach the metrics, once ---------------------------------------------------


def test_an_ask_is_recorded_as_one_answer(tmp_path: Path, models_dir: Path) -> None:
    """#1: ``ask`` called ``on_query`` directly, so no ``answer_given`` was sent: the metrics
    said 0 answers and the report "no answers yet" after any number of questions."""
    data = tmp_path / "data"
    env = _env(models_dir)
    done = _cli("-q", "--data-dir", data, "index", sample_host(), env=env)
    assert done.returncode == 0, done.stderr
    for asked in (1, 2):
        done = _cli(
            "--data-dir", data, "ask", "--tier", "memory", "Which module handles live chat?",
            env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        with MetricsStore(data / "metrics.sqlite3", read_only=True) as store:
            answers = store.answers()
        assert len(answers) == asked, answers  # one row per question, never two
        assert answers[0].tier == "memory"


def test_ask_tells_each_metrics_file_once(settings: Settings) -> None:
    """#1: in ``ask`` two observers write the same metrics file: the verb's and the one the
    training plugin's Trainer attaches from a thread of its own. Each receiver hears the
    answer, but the file gets one row."""
    from foundups_training.cli.ask import tell_observers

    heard: list[Answer] = []

    def listener(sender: object, answer: Answer, **_: Any) -> None:
        heard.append(answer)

    settings.ensure_data_dir()
    verb, plugins = MetricsStore(settings.metrics_path), MetricsStore(settings.metrics_path)
    attach_observers(verb)
    attach_observers(plugins)
    signals.answer_given.connect(listener, weak=False)
    try:
        tell_observers(Query("which module handles live chat?"), Answer("livechat", "memory"))
    finally:
        signals.answer_given.disconnect(listener)
        plugins.close()
        verb.close()
    with MetricsStore(settings.metrics_path, read_only=True) as store:
        assert [a.tier for a in store.answers()] == ["memory"]
    assert [a.text for a in heard] == ["livechat"]


# -- 7: input that is not UTF-8 -----------------------------------------------------------------


class _OneLinePerRead(io.RawIOBase):
    """A terminal's stdin: each read returns one line, as typed."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.lines:
            return 0
        line = self.lines.pop(0)
        buffer[: len(line)] = line
        return len(line)


def _strict(data: bytes | list[bytes]) -> io.TextIOWrapper:
    """stdin as Python opens it under en_US.UTF-8: UTF-8, strict."""
    raw: Any = io.BytesIO(data) if isinstance(data, bytes) else _OneLinePerRead(data)
    return io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8", errors="strict")


def test_menu_reads_latin1_input_on_a_strict_utf8_stdin(tmp_path: Path, models_dir: Path) -> None:
    """#7: ``printf '…caf\\xe9\\n0\\n' | PYTHONIOENCODING=utf-8:strict foundups-training menu``
    ended with ``menu: UnicodeDecodeError``, exit 1 (C.UTF-8's surrogateescape hid it)."""
    env = _env(models_dir, PYTHONIOENCODING="utf-8:strict")
    done = _cli("--data-dir", tmp_path / "d", "menu", env=env, stdin=b"caf\xe9\n0\n")
    out = done.stdout.decode("utf-8")
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    assert "Unknown option 'caf\ufffd'" in out


def test_menu_on_a_strict_stdin_reads_every_line(fake_trainer: Any) -> None:
    """#7: a strict stream loses the whole chunk it decoded, good lines included."""
    code, out = drive(fake_trainer, _strict(b"3\ncaf\xe9\n0\n"))
    assert code == 0
    assert "1. similarity 0.900" in out  # "3" was read, then the query, then "0"


def test_menu_on_a_strict_stdin_already_read_asks_again(fake_trainer: Any) -> None:
    """#7: a stream read before the menu (the host's own menu) cannot be reconfigured: the
    line that cannot be decoded is asked for again, and the menu goes on."""
    stdin = _strict([b"11\n", b"caf\xe9\n", b"3\n", b"auth\n", b"0\n"])
    assert stdin.readline() == "11\n"  # the host's choice of the training menu
    code, out = drive(fake_trainer, stdin)
    assert code == 0
    assert out.count("was not UTF-8 text and could not be read") == 1
    assert "1. similarity 0.900" in out


# -- 8: a metrics file this version cannot open ------------------------------------------------


def test_a_newer_metrics_file_leaves_the_rest_of_the_header(
    fake_trainer: Any, settings: Settings
) -> None:
    """#8: ``(status unavailable: MetricsError … schema 2 …)`` replaced the whole header."""

    class NewerMetrics(type(fake_trainer)):  # type: ignore[misc]
        """Its metrics file a newer version wrote: opening it raises, every time, as the
        Trainer's lazily opened ``metrics`` does."""

        metrics = property(
            lambda self: MetricsStore(self.settings.metrics_path),
            lambda self, store: store.close(),
        )

    trainer = NewerMetrics(settings)
    with sqlite3.connect(settings.metrics_path) as db:
        db.execute("PRAGMA user_version=2")
    with pytest.raises(MetricsError):
        trainer.metrics  # noqa: B018 - what the menu meets
    code, out = drive(trainer, "0\n")
    assert code == 0
    assert "status unavailable" not in out
    assert "Patterns stored : 2" in out and "Log progress    : " in out
    assert "Qwen escalations: -" in out  # unknown, not 0
    metrics = [line for line in out.splitlines() if line.startswith("Metrics ")]
    assert len(metrics) == 1 and "unavailable - MetricsError" in metrics[0], out


# -- 9: report on a data directory that does not exist ------------------------------------------


def test_report_never_creates_a_mistyped_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """#9: ``report`` made ``T/telemetry/`` and an all-"no data yet" page, exit 0."""
    typo, out = tmp_path / "dtaa", tmp_path / "dash"
    assert main(["--data-dir", str(typo), "report", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert not typo.exists() and not out.exists()
    assert main(["--data-dir", str(typo), "status", "--json"]) == 2  # its {"error": …}
    said = capsys.readouterr().out
    assert f"there is no data directory at {typo}: " in err
    assert err.strip().split("report: ", 1)[1] in said  # what status says, word for word


# -- nit: the temp file of a dashboard that could not be written --------------------------------


@pytest.mark.parametrize("how", ["index.html is a folder", "disk full"])
def test_a_failed_dashboard_write_leaves_no_temp_file(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "dash"
    if how == "disk full":
        real = Path.write_text

        def full(self: Path, text: str, *args: Any, **kwargs: Any) -> int:
            real(self, text[:10], *args, **kwargs)
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(Path, "write_text", full)
        expected: type[OSError] = OSError
    else:
        (out / REPORT_NAME / "x").mkdir(parents=True)
        expected = IsADirectoryError
    with MetricsStore(tmp_path / "m.sqlite3") as store, pytest.raises(expected):
        write_report(store, out)
    assert sorted(p.name for p in out.iterdir()) == ([REPORT_NAME] if "folder" in how else [])


# -- 12: a log truncated or rotated since it was mined ------------------------------------------


def _mined(settings: Settings, log: Path, lines: int, earlier: int = 0) -> None:
    """The checkpoint a run that mined all of ``log`` leaves (``earlier``: lines of a log
    rotated away before it, which the count includes)."""
    fp = fingerprint(log)
    save_checkpoint(
        settings.checkpoint_path,
        Checkpoint(
            path=str(log.resolve()),
            offset=fp.size,
            fingerprint=fp.render(),
            lines_processed=earlier + lines,
            updated_at=now_iso(),
            size=fp.size,
            inode=fp.inode,
            tail=tail_hash(log, fp.size),
            miner=MINER_VERSION,
            earlier_lines=earlier,
        ),
    )


def _log(path: Path, lines: int) -> Path:
    path.write_text("".join(f"2025-10-20 15:07:04,541 - root - INFO - {i}\n" for i in range(lines)))
    return path


def test_a_truncated_log_is_said_so_not_over_100_percent(fake_trainer: Any, tmp_path: Path) -> None:
    """#12: ``head -100`` over a mined log: ``Log progress: 2,400/100 lines (2400.0%)``."""
    log = _log(tmp_path / "012.txt", 2400)
    _mined(fake_trainer.settings, log, 2400)
    _, out = drive(fake_trainer, "2\n0\n")
    assert "Log progress    : 2,400/2,400 lines (100.0%)" in out
    assert "Lines processed: 2,400 of 2,400 (100.0%)" in out
    _log(log, 100)  # truncated in place
    _, out = drive(fake_trainer, "2\n0\n")
    assert "%" not in out.split("Log progress    : ")[1].splitlines()[0]
    assert (
        "Log progress    : log rotated or truncated since the last run (now 100 lines): the "
        "next run starts it again" in out
    )
    assert "Lines processed: 2,400, but the log was rotated or truncated" in out
    assert "2400.0%" not in out


def test_a_log_mined_after_a_rotation_counts_its_own_lines(
    fake_trainer: Any, tmp_path: Path
) -> None:
    """#12: after the next run the count includes the rotated log's 2,400 lines: the menu
    went on showing 2,500/100 lines (2500.0%)."""
    log = _log(tmp_path / "012.txt", 100)
    _mined(fake_trainer.settings, log, 100, earlier=2400)
    _, out = drive(fake_trainer, "2\n0\n")
    assert "Log progress    : 100/100 lines (100.0%)" in out
    assert "Lines processed: 100 of 100 (100.0%), and 2,400 of logs rotated away before it" in out


# -- 13: the mining bar counts bytes ------------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_menus_mining_bar_shows_sizes_not_line_like_counts(
    fake_trainer: Any, tmp_path: Path
) -> None:
    """#13: ``mining [##---] 6.6% 943,589/14,401,774`` under a header that counts lines."""
    log = _log(tmp_path / "012.txt", 3)
    fake_mine = fake_trainer.mine

    def mine(log_path: Any, *, progress: Any = None, **kwargs: Any) -> Any:
        progress(943_589, 14_401_774)  # what the miner reports: (bytes done, file size)
        progress(14_401_774, 14_401_774)
        return fake_mine(log_path, **kwargs)

    fake_trainer.mine = mine  # type: ignore[method-assign]
    out = _Tty()
    run_menu(fake_trainer, stdin=io.StringIO(f"1\n{log}\n0\n"), stdout=out)
    assert "14.4/14.4 MB" in out.getvalue()
    assert "14,401,774" not in out.getvalue()


# -- nit: an unknown choice is echoed back cut --------------------------------------------------


def test_a_huge_unknown_choice_is_not_echoed_in_full(fake_trainer: Any) -> None:
    code, out = drive(fake_trainer, "x" * 1_000_000 + "\n0\n")
    assert code == 0
    assert f"Unknown option '{'x' * 40}\N{HORIZONTAL ELLIPSIS}'" in out
    assert len(out) < 10_000
