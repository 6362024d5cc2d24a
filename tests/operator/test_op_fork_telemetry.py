"""Telemetry and the metrics store in a forked child (``multiprocessing`` with ``fork``,
``os.fork``), and what an operator meets with either: real forks, real files.

Every child leaves through ``os._exit`` whatever happens, stops what might hang with an
alarm, and reports through a pipe; the parent's wait is bounded too and
kills a child that does not answer, so no test here can hang.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from forking import collect, fork, in_child
from sqlite_faults import refuse_read_only_in_place

from foundups_training import signals, telemetry
from foundups_training.metrics import MetricsStore, attach_observers
from foundups_training.records import Answer, Query

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")

#: How long a child waits for one step that might hang, and the parent for the child.
STEP_S = 10.0
CHILD_S = 60.0


class _TimedOut(BaseException):
    pass


def _bounded(step: Callable[[], Any]) -> dict[str, Any]:
    """Run ``step`` in the child for at most :data:`STEP_S`: ``{"finished": ..., "value": ...}``.

    In this thread, stopped by an alarm: a new thread in the child may be given the ident a
    parent's thread had, and an ``RLock`` that thread held at the fork would take it for its
    owner.
    """

    def stop(signum: int, frame: object) -> None:
        raise _TimedOut

    out: dict[str, Any] = {"finished": False}
    signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, STEP_S)
    try:
        out["value"] = step()
        out["finished"] = True
    except _TimedOut:
        pass
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out["error"] = repr(exc)
        out["finished"] = True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return out


@contextmanager
def _held_by_a_thread(lock: Any) -> Iterator[None]:
    """``lock`` held by another thread of this process for the duration."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            taken.set()
            release.wait(CHILD_S)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(STEP_S)
    try:
        yield
    finally:
        release.set()
        thread.join(STEP_S)


def _events(folder: Path) -> list[tuple[str, str]]:
    return [(e["command"], e["event"]) for e in telemetry.read_events(folder)]


# -- 1: telemetry in a forked child -------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "telemetry"
    telemetry.attach_writer(path)
    yield path
    telemetry.detach_writer(path)


def test_a_child_forked_while_an_event_was_written_writes_its_own(folder: Path) -> None:
    """A writer's lock held by a parent thread at the fork stayed held for ever in the child:
    the child's first event (any verb it ran) hung, and the host's call with it."""
    writer = telemetry.attach_writer(folder)
    telemetry.detach_writer(folder)  # the fixture's attachment keeps it
    signals.emit_telemetry("training.status", "before")

    def child() -> dict[str, Any]:
        return _bounded(lambda: signals.emit_telemetry("training.status", "in the child"))

    with _held_by_a_thread(writer._lock):
        said = in_child(child)
    assert said == {"finished": True, "value": None}, said
    signals.emit_telemetry("training.status", "after")
    assert _events(folder) == [
        ("training.status", "before"),
        ("training.status", "in the child"),
        ("training.status", "after"),
    ]


def test_a_child_forked_while_a_writer_was_attached_attaches_its_own(
    folder: Path, tmp_path: Path
) -> None:
    """``_writers_lock`` held by a parent thread at the fork: the child's ``attach_writer``
    (a Trainer it builds, a CLI verb) and ``detach_writer`` hung."""
    own = tmp_path / "child-telemetry"

    def child() -> dict[str, Any]:
        def attach_emit_detach() -> list[tuple[str, str]]:
            telemetry.attach_writer(own)
            signals.emit_telemetry("training.batch", "in the child")
            telemetry.detach_writer(own)
            return _events(own)

        return _bounded(attach_emit_detach)

    with _held_by_a_thread(telemetry._writers_lock):
        said = in_child(child)
    assert said == {"finished": True, "value": [["training.batch", "in the child"]]}, said
    assert _events(folder) == [("training.batch", "in the child")]


# -- 2: a metrics store a forked child inherited ------------------------------------------------


def _ask(text: str) -> None:
    signals.answer_given.send("cli", query=Query(text), answer=Answer("livechat", "memory"))


def _questions(path: Path) -> list[str]:
    with MetricsStore(path, read_only=True) as store:
        return [a.query for a in reversed(store.answers())]


def test_a_child_closes_an_inherited_store_while_a_parent_thread_writes(tmp_path: Path) -> None:
    """The observers' writer holds the store's lock for each row: a fork in the middle of
    one left it held in the child for ever, and the child's ``close`` (or its next row)
    hung."""
    path = tmp_path / "metrics.sqlite3"
    store = MetricsStore(path)
    store.record_answer("before the fork", Answer("a", "memory"))

    def child() -> dict[str, Any]:
        return _bounded(store.close)

    with _held_by_a_thread(store._lock):
        said = in_child(child)
    assert said == {"finished": True, "value": None}, said
    store.record_answer("after the fork", Answer("a", "memory"))  # the parent's is open
    store.close()
    assert _questions(path) == ["before the fork", "after the fork"]


def test_a_child_writing_through_an_inherited_store_erases_no_ones_rows(tmp_path: Path) -> None:
    """The child wrote through the parent's SQLite connection, holding none of its locks:
    once the parent had closed (its close checkpointed and removed the WAL), the child's rows
    went to that removed WAL, and the child's close copied it over the file, erasing what
    another store had recorded meanwhile (10 rows lost, no error). Now the child's first row
    opens the child's own connection and the parent's is never used or closed there.

    What the child itself records in this order is not asserted: its own connection shares
    SQLite's per-file lock bookkeeping with the inherited one it must not close (see
    docs/reliability.md, known limits)."""
    path = tmp_path / "metrics.sqlite3"
    store = MetricsStore(path)
    store.record_answer("parent", Answer("a", "memory"))
    go, went = os.pipe()
    done, said_done = os.pipe()

    def child() -> dict[str, Any]:
        def write_then_close() -> None:
            assert select.select([go], [], [], STEP_S)[0]
            os.read(go, 1)
            for i in range(5):
                store.record_answer(f"child {i}", Answer("a", "memory"))
            os.write(said_done, b"k")
            assert select.select([go], [], [], STEP_S)[0]
            store.close()

        return _bounded(write_then_close)

    pid, read = fork(child)
    store.close()  # the parent is done with the file
    other = MetricsStore(path)
    for i in range(5):
        other.record_answer(f"other {i}", Answer("a", "memory"))
    os.write(went, b"x")
    assert select.select([done], [], [], CHILD_S)[0]
    for i in range(5, 10):
        other.record_answer(f"other {i}", Answer("a", "memory"))
    other.close()
    os.write(went, b"x")
    result = collect(pid, read)
    for fd in (go, went, done, said_done):
        os.close(fd)
    assert result == {"finished": True, "value": None}, result
    questions = _questions(path)
    assert [q for q in questions if not q.startswith("child")] == ["parent"] + [
        f"other {i}" for i in range(10)
    ], repr(questions)
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_child_records_through_an_inherited_store_attached_again(tmp_path: Path) -> None:
    """The child's store still named the parent's observer: ``attach_observers`` returned it,
    whose writer thread does not exist in the child and whose receivers the child had
    disconnected, so every answer the child gave was lost without a word."""
    path = tmp_path / "metrics.sqlite3"
    store = MetricsStore(path)
    observer = attach_observers(store)
    _ask("asked before the fork")
    assert observer.flush(STEP_S)

    def child() -> dict[str, Any]:
        def attach_ask_close() -> bool:
            fresh = attach_observers(store) is not observer
            _ask("asked in the child")
            store.close()
            return fresh

        return _bounded(attach_ask_close)

    said = in_child(child)
    assert said == {"finished": True, "value": True}, said
    _ask("asked after the fork")
    store.close()
    assert _questions(path) == [
        "asked before the fork",
        "asked in the child",
        "asked after the fork",
    ]


def test_a_child_closing_an_inherited_read_copy_leaves_the_parents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only store reading a private copy (its file's ``-shm`` cannot be made in
    place): the child's close deleted the parent's copy."""
    path = tmp_path / "metrics.sqlite3"
    writer = MetricsStore(path)
    writer.record_answer("in the WAL", Answer("a", "memory"))
    refuse_read_only_in_place(monkeypatch, path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    reader = MetricsStore(path, read_only=True)
    (copy,) = scratch.iterdir()

    said = in_child(lambda: _bounded(reader.close))
    assert said == {"finished": True, "value": None}, said
    assert copy.is_dir(), "the child deleted the parent's copy"
    assert reader.answer_stats()["answers"] == 1
    reader.close()
    writer.close()
    assert list(scratch.iterdir()) == []


# -- 3: what an operator meets with telemetry and the metrics file -------------------------------


class _Memory:
    """What the command miner needs of the pattern store."""

    def __init__(self) -> None:
        self.patterns: dict[str, Any] = {}

    def upsert(self, patterns: Any) -> None:
        self.patterns.update({p.id: p for p in patterns})

    def ids(self, where: Any = None) -> list[str]:
        return list(self.patterns)

    def delete(self, ids: Any) -> int:
        for i in ids:
            self.patterns.pop(i, None)
        return len(ids)


def test_a_huge_event_is_cut_and_the_events_after_it_are_mined(folder: Path) -> None:
    """A question pasted with a whole log (100,000 characters) was one 100 KB line: the
    command miner reads lines of up to 64 KiB and took it for a line still being written,
    so nothing after it in that day file was ever mined."""
    from foundups_training.mining.commands import mine_commands

    pasted = "ERROR line of a pasted log\n" * 4000
    signals.emit_telemetry("training.route", "started", {"query": pasted, "tier": "memory"})
    signals.emit_telemetry("training.batch", "completed", {"lines_processed": 7})
    memory = _Memory()
    report = mine_commands(folder, memory, folder.parent / "commands.json")
    assert report.events == 2 and report.bad_lines == 0
    assert "training.batch completed" in {p.decision for p in memory.patterns.values()}
    (path,) = telemetry.telemetry_files(folder)
    lines = path.read_bytes().splitlines(keepends=True)
    assert all(len(line) <= 16 * 1024 for line in lines)
    first = json.loads(lines[0])
    assert list(first) == ["timestamp", "daemon", "command", "event", "payload"]
    assert first["payload"]["tier"] == "memory" and first["payload"]["cut"] > 100_000
    assert first["payload"]["query"].startswith("ERROR line of a pasted log\n")


def test_a_payload_that_cannot_be_cut_to_size_keeps_its_command(folder: Path) -> None:
    signals.emit_telemetry("training.status", "completed", {f"k{i}": i for i in range(5000)})
    (event,) = telemetry.read_events(folder)
    assert (event["command"], event["event"]) == ("training.status", "completed")
    assert list(event["payload"]) == ["cut"]


def test_telemetry_that_cannot_be_written_with_stderr_closed_never_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host whose stderr was closed (its log stream too): the one warning about a
    telemetry file that cannot be written raised ``ValueError: I/O operation on closed
    file`` out of logging's error handler, through the signal, into the host's call."""
    import io
    import logging

    blocker = tmp_path / "telemetry"
    blocker.write_text("a file where the folder should be")
    closed = io.StringIO()
    closed.close()
    handler = logging.StreamHandler(closed)  # the host's logging, to its closed stderr
    logger = logging.getLogger()
    logger.addHandler(handler)
    monkeypatch.setattr("sys.stderr", closed)
    telemetry.attach_writer(blocker)
    try:
        signals.emit_telemetry("training.status", "completed")  # before: ValueError
        writer = telemetry.attach_writer(blocker)
        telemetry.detach_writer(blocker)
        assert writer.errors == 1 and writer.written == 0
    finally:
        telemetry.detach_writer(blocker)
        logger.removeHandler(handler)


def test_a_metrics_file_held_by_another_process_is_not_called_unusable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening the metrics file while another process held it exclusively said
    ``not a usable metrics database (database is locked)``: an operator deleted a good file."""
    import foundups_training.metrics.store as store_mod
    from foundups_training.metrics import MetricsError

    path = tmp_path / "metrics.sqlite3"
    with MetricsStore(path) as store:
        store.record_answer("kept", Answer("a", "memory"))
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        monkeypatch.setattr(store_mod, "BUSY_TIMEOUT_S", 0.2)
        with pytest.raises(MetricsError) as refused:
            MetricsStore(path)
        message = str(refused.value)
        assert "another process holds the metrics file" in message, message
        assert "not a usable" not in message
    finally:
        holder.close()
    assert _questions(path) == ["kept"]


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("a broken __str__")


def test_a_verb_failing_with_an_unprintable_error_is_recorded_and_raised_as_it_was(
    folder: Path,
) -> None:
    """An exception whose ``__str__`` raises (a host's object) left ``command`` with that
    ``RuntimeError`` instead of the verb's own error, and no ``failed`` event was written."""
    with pytest.raises(_Unprintable), telemetry.command("training.route"):
        raise _Unprintable
    events = list(telemetry.read_events(folder))
    assert [(e["event"], e["payload"].get("error")) for e in events] == [
        ("started", None),
        ("failed", "_Unprintable: <unprintable>"),
    ]


def test_an_evaluation_recorded_on_a_full_disk_says_why_it_failed(tmp_path: Path) -> None:
    """A full disk (the file-size limit, in a forked child) during ``record_eval``: SQLite had
    rolled the transaction back itself, the store's ROLLBACK failed, and the operator read
    ``cannot rollback - no transaction is active`` instead of the disk error."""
    import resource

    from foundups_training.metrics.records import EvalTier

    def child() -> dict[str, Any]:
        store = MetricsStore(tmp_path / "metrics.sqlite3")
        store.record_snapshot(1)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        size = max(p.stat().st_size for p in tmp_path.iterdir())
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 4096, resource.RLIM_INFINITY))
        tier = EvalTier(tier="memory", n=1, accuracy=1.0)
        try:
            for _ in range(50):
                store.record_eval("qa.jsonl", [tier], meta={"note": "x" * 20_000})
        except Exception as exc:  # noqa: BLE001 - what the operator reads
            return {"error": f"{type(exc).__name__}: {exc}"}
        return {"error": ""}

    said = in_child(child)
    assert said["error"] in (
        "OperationalError: disk I/O error",
        "OperationalError: database or disk is full",
    ), said
