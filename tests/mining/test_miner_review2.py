"""Second review of ``mine_log``: two miners on one data folder, a log rewritten or not a
file at all, and what a run reports when the log grows under it.

Each test but the stale-lock one failed before its fix: a second process on the same
checkpoint (server mode: the host's idle cycle and a CLI ``mine``) resumed from the same
checkpoint as the first and counted the same lines twice; after a copytruncate during a run
the checkpoint hashed the emptied file, so the next run did not recognise logrotate's copy
and its unread lines were lost; a FIFO or ``/dev/zero`` given as the log hung the run for
ever; and a log that grew during the run was reported as more than 100 % done.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from foundups_training.mining import miner, reader
from foundups_training.mining.checkpoint import load_checkpoint
from foundups_training.mining.miner import mine_log
from foundups_training.samples import sample_log

SAMPLE_LINES = sample_log().read_text(encoding="utf-8").splitlines(keepends=True)
#: Generous bounds for a child process to get somewhere on a loaded machine: a test that
#: reaches one has failed (nothing here measures how long anything takes).
PATIENCE_S = 120.0

# A pattern store two processes share, as they share a Chroma server: one JSON line per
# pattern upserted. With ``ready`` and ``go`` its first upsert says so in ``ready`` and then
# waits for ``go`` to exist, so a test can hold a mining run in the middle of its write.
SHARED_STORE = """
import json
import time
from pathlib import Path


class FileStore:
    def __init__(self, path, ready=None, go=None):
        self.path = Path(path)
        self.ready = None if ready is None else Path(ready)
        self.go = None if go is None else Path(go)

    def upsert(self, patterns):
        if self.ready is not None:
            self.ready.write_text("upserting")
            while not self.go.exists():
                time.sleep(0.01)
            self.ready = None
        known = set(self.ids())
        with self.path.open("a", encoding="utf-8") as fh:
            for p in patterns:
                fh.write(json.dumps({"id": p.id, "source": p.source, "seen": p.seen}) + "\\n")
        return len({p.id for p in patterns} - known)

    def rows(self):
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines()]

    def count(self):
        return len({r["id"] for r in self.rows()})

    def ids(self, where=None):
        where = where or {}
        return sorted(
            {r["id"] for r in self.rows() if all(r.get(k) == v for k, v in where.items())}
        )

    def delete(self, ids):
        raise AssertionError("nothing is removed in these tests")

    def seen(self):
        return sum(r["seen"] for r in self.rows())
"""

HOLDER = """
import json
import sys
from pathlib import Path

sys.path.insert(0, {folder!r})
from sharedstore import FileStore
from foundups_training.mining.miner import mine_log

store = FileStore({store!r}, ready={ready!r}, go={go!r})
report = mine_log(Path({log!r}), store, checkpoint_path=Path({cp!r}), max_lines={max_lines!r})
print(json.dumps({{"lines": report.lines_processed, "warnings": list(report.warnings)}}))
"""


@pytest.fixture
def shared(tmp_path: Path) -> ModuleType:
    """The shared store's module, importable here and in a child process."""
    (tmp_path / "sharedstore.py").write_text(SHARED_STORE, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("sharedstore", tmp_path / "sharedstore.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Holder:
    """A real ``mine_log`` run in another process, held inside its first write."""

    def __init__(self, tmp_path: Path, log: Path, cp: Path, max_lines: int | None) -> None:
        self.ready, self.go = tmp_path / "holder.ready", tmp_path / "holder.go"
        script = HOLDER.format(
            folder=str(tmp_path),
            store=str(tmp_path / "store.jsonl"),
            ready=str(self.ready),
            go=str(self.go),
            log=str(log),
            cp=str(cp),
            max_lines=max_lines,
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        limit = time.monotonic() + PATIENCE_S
        while not self.ready.exists():
            if self.proc.poll() is not None or time.monotonic() > limit:
                out, err = self.proc.communicate(timeout=PATIENCE_S)
                pytest.fail(f"the holder never reached its first write: {out}{err}")
            time.sleep(0.02)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def finish(self) -> dict[str, Any]:
        """Let the held run go on; what it reported."""
        self.go.write_text("go")
        out, err = self.proc.communicate(timeout=PATIENCE_S)
        assert self.proc.returncode == 0, err
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return result

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate(timeout=PATIENCE_S)


def _write_log(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines), encoding="utf-8")
    return path


# -- 1. two miners on one checkpoint ----------------------------------------------------------
def test_a_second_miner_skips_while_another_process_mines_naming_it(
    tmp_path: Path, shared: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Server mode: the host's idle cycle and a CLI ``mine`` on one data folder. Before, the
    second resumed from the same checkpoint as the first, which was still writing, and
    counted every line the first one counted a second time."""
    log = _write_log(tmp_path / "012.txt", SAMPLE_LINES[:600])
    cp = tmp_path / "data" / "checkpoint.json"
    holder = Holder(tmp_path, log, cp, max_lines=None)
    try:
        monkeypatch.setattr(miner, "LOCK_WAIT_S", 0.3, raising=False)
        second = mine_log(log, shared.FileStore(tmp_path / "store.jsonl"), checkpoint_path=cp)
        assert second.lines_processed == 0 and second.patterns_stored == 0, "counted twice"
        assert f"process {holder.pid}" in second.skipped
        assert any(f"process {holder.pid}" in w for w in second.warnings), second.warnings
        assert second.progress < 1.0  # nothing of this log is known to be done yet
        assert not shared.FileStore(tmp_path / "store.jsonl").rows()  # nothing was written
    finally:
        first = holder.finish()
    assert first["lines"] == 600
    # once the holder is done, a run goes on where it stopped: nothing is left, nothing twice
    after = mine_log(log, shared.FileStore(tmp_path / "store.jsonl"), checkpoint_path=cp)
    assert (after.lines_processed, after.skipped, after.lines_total) == (0, "", 600)
    one = tmp_path / "one"
    one.mkdir()
    once = shared.FileStore(one / "store.jsonl")
    mine_log(_write_log(one / "012.txt", SAMPLE_LINES[:600]), once, checkpoint_path=one / "cp")
    assert shared.FileStore(tmp_path / "store.jsonl").seen() == once.seen()


def test_a_second_miner_that_waits_long_enough_resumes_where_the_first_stopped(
    tmp_path: Path,
    shared: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The second run waits for the first (a bounded time), then starts from the checkpoint
    the first one wrote: the two together mine every line once."""
    log = _write_log(tmp_path / "012.txt", SAMPLE_LINES[:900])
    cp = tmp_path / "data" / "checkpoint.json"
    holder = Holder(tmp_path, log, cp, max_lines=300)
    monkeypatch.setattr(miner, "LOCK_WAIT_S", PATIENCE_S, raising=False)
    caplog.set_level(logging.INFO, logger=miner.__name__)
    reports: list[Any] = []
    errors: list[BaseException] = []

    def second() -> None:
        try:
            store = shared.FileStore(tmp_path / "store.jsonl")
            reports.append(mine_log(log, store, checkpoint_path=cp))
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            errors.append(exc)

    thread = threading.Thread(target=second, daemon=True)
    try:
        thread.start()
        limit = time.monotonic() + PATIENCE_S
        # the second run says it waits (or, before the fix, is already done without waiting)
        while thread.is_alive() and not any("waiting" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < limit, "the second run neither waited nor finished"
            time.sleep(0.02)
    finally:
        first = holder.finish()
    thread.join(PATIENCE_S)
    assert not thread.is_alive() and not errors, errors
    (report,) = reports
    assert first["lines"] == 300
    assert report.lines_processed == 600 and report.lines_total == 900, "counted twice"
    assert not report.skipped
    one = tmp_path / "one"
    one.mkdir()
    once = shared.FileStore(one / "store.jsonl")
    mine_log(_write_log(one / "012.txt", SAMPLE_LINES[:900]), once, checkpoint_path=one / "cp")
    # patterns whose outcome window a chunk boundary left open are stored once, complete
    assert shared.FileStore(tmp_path / "store.jsonl").seen() == once.seen()


def test_a_miner_killed_holding_the_lock_leaves_no_stale_lock(
    tmp_path: Path, shared: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The OS drops the lock when its holder dies, even on kill -9: the next run does not
    wait for a process that is gone. (A guard, not a fix: it passed before.)"""
    log = _write_log(tmp_path / "012.txt", SAMPLE_LINES[:300])
    cp = tmp_path / "data" / "checkpoint.json"
    holder = Holder(tmp_path, log, cp, max_lines=None)
    holder.kill()
    monkeypatch.setattr(miner, "LOCK_WAIT_S", 0.0, raising=False)
    report = mine_log(log, shared.FileStore(tmp_path / "store.jsonl"), checkpoint_path=cp)
    assert report.lines_processed == 300 and not getattr(report, "skipped", "")


def test_an_idle_cycle_budget_bounds_the_wait(
    tmp_path: Path, shared: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle cycle's ``max_seconds`` bounds the wait too (the host gave it that much): with
    no time at all it looks once and skips, whatever the wait would otherwise be."""
    log = _write_log(tmp_path / "012.txt", SAMPLE_LINES[:300])
    cp = tmp_path / "data" / "checkpoint.json"
    holder = Holder(tmp_path, log, cp, max_lines=None)
    polls: list[float] = []
    real_sleep = time.sleep

    def counted_sleep(seconds: float) -> None:
        polls.append(seconds)
        real_sleep(min(seconds, 0.01))

    try:
        monkeypatch.setattr(miner, "LOCK_WAIT_S", PATIENCE_S, raising=False)
        monkeypatch.setattr(miner.time, "sleep", counted_sleep)
        store = shared.FileStore(tmp_path / "store.jsonl")
        report = mine_log(log, store, checkpoint_path=cp, max_seconds=0.0, max_lines=5000)
        assert report.lines_processed == 0 and f"process {holder.pid}" in report.skipped
        assert polls == []  # looked once, never waited
    finally:
        monkeypatch.undo()
        holder.finish()


# -- 2. a copytruncate while a run reads the log -----------------------------------------------
def test_a_copytruncate_during_a_run_leaves_the_copy_to_be_finished(
    tmp_path: Path, make_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """logrotate's copytruncate while a run reads: it copies ``012.txt`` to ``012.txt.1``,
    empties ``012.txt``, and the host writes on. The run stops where the file changed
    under it; the next one must find the copy by its content and mine what is left of it.
    Before, the run's checkpoint hashed the bytes before its offset in the emptied file, so
    no file matched it: the copy's unread lines were lost."""
    log = _write_log(tmp_path / "012.txt", SAMPLE_LINES[:2000])
    copy = tmp_path / "012.txt.1"
    cp = tmp_path / "data" / "cp.json"
    fired: list[int] = []

    def copytruncate() -> None:
        shutil.copyfile(log, copy)
        fd = os.open(log, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, "".join(SAMPLE_LINES[2000:2200]).encode("utf-8"))
        finally:
            os.close(fd)

    def reading(fh: Any, start: int = 0, **kw: Any) -> Iterator[reader.RawLine]:
        for i, raw in enumerate(reader.read_open(fh, start, block=2048, **kw)):
            if i == 400 and not fired:
                fired.append(i)
                copytruncate()
            yield raw

    monkeypatch.setattr(miner, "read_open", reading)
    store = make_store()
    first = mine_log(log, store, checkpoint_path=cp)
    assert fired and 400 <= first.lines_processed < 600  # stopped at the change
    second = mine_log(log, store, checkpoint_path=cp)
    assert any(f"finished the rotated log {copy}" in w for w in second.warnings), second.warnings
    assert first.lines_processed + second.lines_processed == 2200  # every line, once
    assert second.lines_total == 2200
    assert mine_log(log, store, checkpoint_path=cp).lines_processed == 0
    # the same patterns as the copy and the new log mined one after the other, untouched
    alone = tmp_path / "alone"
    alone.mkdir()
    once = make_store()
    _write_log(alone / "012.txt", SAMPLE_LINES[:2000])
    mine_log(alone / "012.txt", once, checkpoint_path=alone / "cp.json")
    os.replace(alone / "012.txt", alone / "012.txt.1")
    _write_log(alone / "012.txt", SAMPLE_LINES[2000:2200])
    mine_log(alone / "012.txt", once, checkpoint_path=alone / "cp.json")
    assert {k: p.seen for k, p in store.items.items()} == {k: p.seen for k, p in once.items.items()}


# -- 3. a log path that is no file -----------------------------------------------------------
def _mine_in_a_child(path: Path, tmp_path: Path) -> subprocess.CompletedProcess[str] | None:
    """``mine_log`` of ``path`` in a child process (its hang is killed, not inherited);
    None when it had not returned after :data:`PATIENCE_S`."""
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from foundups_training.mining.miner import mine_log

        class Store:
            def upsert(self, patterns):
                return len(patterns)
            def count(self):
                return 0
            def ids(self, where=None):
                return []

        checkpoint = Path({str(tmp_path / "cp.json")!r})
        try:
            mine_log(Path({str(path)!r}), Store(), checkpoint_path=checkpoint, max_lines=100)
        except OSError as exc:
            print("refused:", type(exc).__name__, exc)
        else:
            print("mined")
        """
    )
    try:
        return subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=PATIENCE_S
        )
    except subprocess.TimeoutExpired:
        return None


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    """A FIFO at the log's path (a host piping its log through ``tee``, a mistake): before,
    opening it waited for a writer for ever, and the host's idle cycle with it."""
    fifo = tmp_path / "012.txt"
    os.mkfifo(fifo)
    done = _mine_in_a_child(fifo, tmp_path)
    assert done is not None, "mine_log hung on a FIFO"
    assert "refused: OSError" in done.stdout and "not a regular file" in done.stdout, (
        done.stdout + done.stderr
    )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_is_refused_not_read_for_ever(tmp_path: Path) -> None:
    """``/dev/zero`` (or any device) as the log: before, the reader looked for the end of
    its endless first line for ever, whatever the budget."""
    done = _mine_in_a_child(Path("/dev/zero"), tmp_path)
    assert done is not None, "mine_log hung on /dev/zero"
    assert "refused: OSError" in done.stdout and "not a regular file" in done.stdout, (
        done.stdout + done.stderr
    )
    assert not (tmp_path / "cp.json").exists()


def test_a_directory_and_a_missing_log_are_still_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        mine_log(tmp_path, object(), checkpoint_path=tmp_path / "cp.json")
    with pytest.raises(FileNotFoundError, match="not found"):
        mine_log(tmp_path / "gone.txt", object(), checkpoint_path=tmp_path / "cp.json")


# -- 4. a log that grows while it is mined -----------------------------------------------------
def test_a_log_that_grows_during_the_run_is_never_more_than_done(
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host appends while a run reads (it always does): the run reads the new lines too,
    and its report said ``progress`` 1.2 (120 % of the file done), the offset past the size."""
    monkeypatch.setattr(miner, "TICK", 64)
    log = _write_log(tmp_path / "012.txt", SAMPLE_LINES[:1000])
    seen: list[tuple[int, int]] = []

    def grow(done: int, size: int) -> None:
        seen.append((done, size))
        if len(seen) == 1:
            with log.open("a", encoding="utf-8") as fh:
                fh.write("".join(SAMPLE_LINES[1000:1200]))

    report = mine_log(log, store, checkpoint_path=tmp_path / "cp.json", progress=grow)
    assert report.lines_processed == 1200  # the lines written meanwhile were read
    assert report.progress == 1.0 and report.offset == report.size == log.stat().st_size
    assert all(done <= size for done, size in seen), seen
    cp, _ = load_checkpoint(tmp_path / "cp.json")
    assert cp is not None and cp.offset == report.offset


# -- 5. a progress callback that raises ----------------------------------------------------------
def test_a_progress_callback_that_raises_releases_the_lock_and_loses_nothing(
    tmp_path: Path, store: Any, make_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The callback's error reaches the caller (it is the caller's), the run lock is let go
    (the next run in this process is not told another run holds it), and the next run
    counts nothing twice. (A guard for the lock: it held before, without one.)"""
    monkeypatch.setattr(miner, "TICK", 64)
    log = _write_log(tmp_path / "012.txt", SAMPLE_LINES[:900])
    cp = tmp_path / "cp.json"

    def broken(done: int, size: int) -> None:
        raise RuntimeError("the terminal went away")

    with pytest.raises(RuntimeError, match="terminal"):
        mine_log(log, store, checkpoint_path=cp, progress=broken)
    monkeypatch.setattr(miner, "LOCK_WAIT_S", 0.0, raising=False)
    report = mine_log(log, store, checkpoint_path=cp)
    assert not getattr(report, "skipped", "") and report.lines_total == 900
    once = make_store()
    mine_log(
        _write_log(tmp_path / "b.txt", SAMPLE_LINES[:900]), once, checkpoint_path=tmp_path / "b"
    )
    assert {k: p.seen for k, p in store.items.items()} == {k: p.seen for k, p in once.items.items()}


def test_the_mine_verb_refuses_a_fifo_without_opening_it(tmp_path: Path) -> None:
    """``foundups-training mine`` opened the log itself before the miner's check: a FIFO
    held the command until a writer came."""
    fifo = tmp_path / "012.txt"
    os.mkfifo(fifo)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "foundups_training",
            "--data-dir",
            str(tmp_path / "d"),
            "mine",
            str(fifo),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "not a regular file" in done.stderr
