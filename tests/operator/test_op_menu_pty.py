"""``foundups-training menu`` driven through a real pseudo-terminal, as an operator would."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")

#: Nine lines in the host's real log format (dotted logger names, [U+...] emoji tokens).
LOG = Path(__file__).with_name("data") / "012_sample.txt"


class PtySession:
    """A child process on the slave side of a pty; we read and type on the master side."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.output = ""
        self._pos = 0

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not data:
            return False
        self.output += data.decode("utf-8", "replace")
        return True

    def expect(self, text: str, timeout: float = 180.0) -> str:
        """Read until ``text`` appears after the last match; return what came before it."""
        deadline = time.monotonic() + timeout
        while text not in self.output[self._pos :]:
            if time.monotonic() > deadline or (
                not self._read(0.5) and self.proc.poll() is not None
            ):
                raise AssertionError(
                    f"{text!r} never appeared; last output:\n{self.output[-3000:]}"
                )
        start = self._pos
        end = self.output.index(text, self._pos)
        self._pos = end + len(text)
        return self.output[start:end]

    def send(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def send_eof(self) -> None:
        os.write(self.master, b"\x04")  # Ctrl-D: end of input on a terminal in canonical mode

    def wait(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        return self.proc.wait(timeout=1)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.master)


@pytest.fixture
def menu(tmp_path: Path):
    env = {**os.environ, "FOUNDUPS_TRAINING_HOME": str(tmp_path / "data"), "COLUMNS": "120"}
    session = PtySession([sys.executable, "-m", "foundups_training", "menu"], env)
    yield session
    session.close()


@pytest.mark.slow
def test_operator_session_through_a_pty(menu: PtySession, tmp_path: Path) -> None:
    log = tmp_path / "012.txt"
    log.write_bytes(LOG.read_bytes())

    header = menu.expect("Select option: ")
    assert "QWEN/GEMMA TRAINING SYSTEM" in header and "Patterns stored : 0" in header

    menu.send("9")  # a bad choice is answered, not fatal
    menu.expect("Unknown option '9'")
    menu.expect("Select option: ")

    menu.send("1")  # batch training with a live progress bar
    menu.expect("Log file to mine [")
    menu.send(str(log))
    mined = menu.expect("Select option: ")
    assert "\rmining [" in mined and "100.0%" in mined  # drawn in place on the terminal
    assert "[BATCH-TRAINING] Processed 9 lines" in mined
    assert "Patterns stored : 0" not in mined  # the redrawn header counts the new patterns

    menu.send("2")  # progress: lines of total, by kind, last training
    progress = menu.expect("Select option: ")
    assert "Lines processed: 9 of 9 (100.0%)" in progress
    assert "Last training  : never" not in progress

    menu.send("3")  # recall: patterns and similarities
    menu.expect("Query")
    menu.send("which module handles youtube authentication?")
    recall = menu.expect("Select option: ")
    assert "1. similarity " in recall

    menu.send("5")  # metrics
    metrics = menu.expect("Select option: ")
    assert "Training runs  : batch 1" in metrics

    menu.send("6")  # clear asks first
    menu.expect("Type 'yes' to confirm: ")
    menu.send("nope")
    menu.expect("Cancelled: nothing was deleted.")
    menu.expect("Select option: ")
    menu.send("6")
    menu.expect("Type 'yes' to confirm: ")
    menu.send("yes")
    cleared = menu.expect("Select option: ")
    assert "Cleared" in cleared and "Patterns stored : 0" in cleared

    menu.send("0")
    assert menu.wait() == 0


@pytest.mark.slow
def test_ctrl_d_at_the_prompt_leaves_cleanly(menu: PtySession) -> None:
    menu.expect("Select option: ")
    menu.send_eof()
    assert menu.wait() == 0
