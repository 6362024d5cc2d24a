"""Telemetry in the shape of the host's Holo Command Interface draft: JSONL events.

Every verb (``training.batch``, ``training.index``, ``training.status``, ``training.recall``,
``training.route``, ``training.metrics``, ``training.clear``, ``training.report``,
``training.demo``, ``training.menu`` …) sends the blinker ``telemetry`` signal through
:func:`foundups_training.signals.emit_telemetry`; a :class:`TelemetryWriter` subscribed to that
signal appends one JSON object per line to ``<data dir>/telemetry/telemetry-YYYYMMDD.jsonl``::

    {"timestamp": "2026-11-26T19:06:19.123+00:00", "daemon": "foundups_training",
     "command": "training.batch", "event": "completed", "payload": {...}}

``event`` is ``started`` / ``completed`` / ``failed`` for a verb wrapped in :func:`command`, or
any word for a one-off event. The miner reads these files too, so the models learn the chain
of commands as well as the log. One file per UTC day keeps files small and lets an operator
delete old days by hand.

Use from a verb::

    with telemetry.command("training.recall", {"query": q}) as result:
        hits = trainer.memory.recall(q, 5)
        result["hits"] = len(hits)
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from foundups_training import signals
from foundups_training.logs import warn_failure

log = logging.getLogger(__name__)

#: The ``daemon`` field of every event this package writes.
DAEMON = "foundups_training"
#: File name pattern inside the telemetry directory (one file per UTC day).
FILE_GLOB = "telemetry-*.jsonl"
#: The longest line an event is written as (bytes, newline included): the longer strings of
#: a bigger payload are cut (see :func:`encode_event`). The command miner reads lines of up
#: to 64 KiB and took a longer one for a line still being written, so it mined nothing more
#: of that day file.
MAX_EVENT_BYTES = 16 * 1024
#: How long each string of a payload is cut to, in turn, until the event fits.
_CUT_CHARS = (2000, 200, 20)
#: The longest string redacted whole (see :func:`_redacted`): longer than any event line,
#: so a longer string is always cut, and well beyond the longest cut.
_REDACT_CHARS = MAX_EVENT_BYTES + 512

#: The verbs this package emits (others may add their own ``training.*`` names).
COMMANDS: tuple[str, ...] = (
    "training.batch",
    "training.index",
    "training.idle",
    "training.live",
    "training.status",
    "training.recall",
    "training.route",
    "training.eval",
    "training.metrics",
    "training.clear",
    "training.report",
    "training.demo",
    "training.menu",
)


def now_iso() -> str:
    """The current time as ISO 8601 UTC with milliseconds (what ``timestamp`` holds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def make_event(
    command: str,
    event: str,
    payload: dict[str, Any] | None = None,
    *,
    daemon: str = DAEMON,
    timestamp: str | None = None,
) -> dict[str, Any]:
    """One telemetry event as a dict with exactly the five fields of the host's draft."""
    return {
        "timestamp": timestamp or now_iso(),
        "daemon": daemon,
        "command": command,
        "event": event,
        "payload": dict(payload or {}),
    }


def _redacted(value: Any) -> Any:
    """``value`` with the secrets of every string in it redacted, as the miner redacts a log
    line: an operator pastes log lines, keys included, into the questions it records.

    Only the first :data:`_REDACT_CHARS` characters of a string are redacted: a longer one
    cannot fit in an event, so :func:`encode_event` cuts it to at most ``_CUT_CHARS[0]``
    characters, and redacting all of it let a huge payload stall the sender's thread (1 MB
    of ``key=`` took 20 s). The rest becomes spaces that encode to as many bytes, so the
    event's ``cut`` still tells how long the line was; they are cut away with it."""
    from foundups_training.mining.redact import redact

    if isinstance(value, str):
        if len(value) <= _REDACT_CHARS:
            return redact(value)
        rest = json.dumps(value[_REDACT_CHARS:], ensure_ascii=False)[1:-1]
        size = len(rest.encode("utf-8", "backslashreplace"))
        return redact(value[:_REDACT_CHARS]) + " " * size
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def _cut(value: Any, limit: int) -> Any:
    """``value`` with every string in it longer than ``limit`` characters cut to ``limit``
    (with an ellipsis), lists to their first ``limit`` items."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    if isinstance(value, dict):
        return {str(k)[:limit]: _cut(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cut(v, limit) for v in value[:limit]]
    return value


def _encode(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode(
        "utf-8", "backslashreplace"
    )


def encode_event(record: dict[str, Any]) -> bytes:
    """One event as its JSONL line, at most :data:`MAX_EVENT_BYTES` long.

    A bigger payload (a question pasted with a whole log, an error quoting a file) has its
    strings cut, shorter each time, until the line fits, and says so in ``payload["cut"]``
    (how many bytes the whole line had); a payload that still does not fit (thousands of
    keys) keeps only that.
    """
    data = _encode(record)
    if len(data) <= MAX_EVENT_BYTES:
        return data
    size = len(data)
    payload = record.get("payload")
    for limit in _CUT_CHARS:
        cut = {**record, "payload": {**_cut(dict(payload or {}), limit), "cut": size}}
        data = _encode(cut)
        if len(data) <= MAX_EVENT_BYTES:
            return data
    return _encode({**_cut(record, _CUT_CHARS[0]), "payload": {"cut": size}})


class TelemetryWriter:
    """Appends telemetry events to a day file; thread-safe, never raises into the sender."""

    def __init__(self, directory: Path | str, daemon: str = DAEMON) -> None:
        self.directory = Path(directory)
        self.daemon = daemon
        self._lock = threading.Lock()
        self.written = 0
        self.errors = 0

    def path_for(self, when: datetime | None = None) -> Path:
        """The file an event at ``when`` (default now) goes to."""
        when = when or datetime.now(UTC)
        return self.directory / f"telemetry-{when:%Y%m%d}.jsonl"

    def write(self, command: str, event: str, payload: dict[str, Any] | None = None) -> None:
        """Append one event (a single short write with O_APPEND: safe across processes).

        Never raises: a payload that cannot be encoded (text holding lone surrogates, such as
        a question typed in a non-UTF-8 terminal) is written with those characters escaped,
        and anything else that goes wrong is counted and logged once.
        """
        try:
            record = make_event(command, event, _redacted(payload), daemon=self.daemon)
            data = encode_event(record)
            with self._lock:
                self.directory.mkdir(parents=True, exist_ok=True)
                with self.path_for().open("a+b") as fh:
                    # A crash mid-write leaves a line without its newline: start a fresh line
                    # so that only the cut event is lost, not this one too.
                    if fh.seek(0, 2) > 0:
                        fh.seek(-1, 2)
                        if fh.read(1) != b"\n":
                            data = b"\n" + data
                    fh.write(data)
                self.written += 1
        except Exception as exc:  # noqa: BLE001 - telemetry never stops the sender
            # A full disk or a read-only data dir must not stop training: count and log once,
            # one line (the traceback only when debugging).
            self.errors += 1
            if self.errors == 1:
                try:
                    warn_failure(log, f"cannot write telemetry to {self.directory}", exc)
                except Exception:  # noqa: BLE001 - nowhere left to say it (stderr closed)
                    pass

    def receive(
        self,
        sender: object,
        *,
        command: str = "",
        event: str = "",
        payload: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        """The blinker receiver for :data:`foundups_training.signals.telemetry`."""
        del sender
        if command and event:
            self.write(command, event, payload)


_writers: dict[Path, TelemetryWriter] = {}
#: How many attachments each writer has: it stops with the last :func:`detach_writer`.
_attached: dict[Path, int] = {}
_writers_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """Give a forked child (``multiprocessing`` with ``fork``, ``os.fork``) fresh locks.

    A lock another thread of the parent held at the moment of the fork (one writing an
    event, or attaching a writer) would stay held for ever in the child, where that thread
    does not exist: the child's next event, ``attach_writer`` or ``detach_writer`` would
    hang, and with it the verb or the host's call that sent it. The writers themselves stay
    subscribed: they hold no thread, queue or open file (each event opens its day file and
    appends one line), so the child's events are written beside the parent's.
    """
    global _writers_lock
    _writers_lock = threading.Lock()
    for writer in list(_writers.values()):
        writer._lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows, where nothing forks
    os.register_at_fork(after_in_child=_after_fork_in_child)


def attach_writer(directory: Path | str) -> TelemetryWriter:
    """Subscribe a writer for ``directory`` to the telemetry signal: one per folder in the
    process, however often it is attached (each event is written once).

    Each call is one attachment, undone by one :func:`detach_writer`: a CLI verb and the
    training plugin's Trainer in the same process both attach the data directory's folder,
    and the verb's detach must not stop what the Trainer records.
    """
    key = Path(directory).expanduser().resolve()
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None:
            writer = TelemetryWriter(key)
            # weak=False: a bound method would otherwise be collected and telemetry stop.
            signals.telemetry.connect(writer.receive, weak=False)
            _writers[key] = writer
        _attached[key] = _attached.get(key, 0) + 1
        return writer


def detach_writer(directory: Path | str) -> None:
    """Undo one :func:`attach_writer` for ``directory``; the writer stops with the last
    (no error if it was not attached)."""
    key = Path(directory).expanduser().resolve()
    with _writers_lock:
        left = _attached.get(key, 0) - 1
        if left > 0:
            _attached[key] = left
            return
        _attached.pop(key, None)
        writer = _writers.pop(key, None)
        if writer is not None:
            signals.telemetry.disconnect(writer.receive)


def emit(command: str, event: str, payload: dict[str, Any] | None = None) -> None:
    """Send one telemetry event through the signal (never raises)."""
    signals.emit_telemetry(command, event, payload)


@contextmanager
def command(name: str, payload: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Wrap one verb: ``started`` now, then ``completed`` (or ``failed``) with its duration.

    Yields a dict: whatever the verb puts in it is added to the ``completed`` payload.
    """
    base = dict(payload or {})
    emit(name, "started", base)
    result: dict[str, Any] = {}
    start = time.perf_counter()
    try:
        yield result
    except BaseException as exc:
        emit(
            name,
            "failed",
            {
                **base,
                **result,
                "duration_ms": round((time.perf_counter() - start) * 1000, 1),
                "error": _failure(exc),
            },
        )
        raise
    emit(
        name,
        "completed",
        {**base, **result, "duration_ms": round((time.perf_counter() - start) * 1000, 1)},
    )


def _failure(exc: BaseException) -> str:
    """How a verb ended early, for an operator: ``Type: message``, the type alone when there
    is no message, and what a Ctrl-C (or the host stopping the thread with one) means."""
    if isinstance(exc, KeyboardInterrupt):
        return "stopped (Ctrl-C): what it had done before is kept"
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a host's exception whose __str__ raises
        text = "<unprintable>"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def telemetry_files(directory: Path | str) -> list[Path]:
    """The telemetry day files in ``directory``, oldest first."""
    folder = Path(directory)
    return sorted(folder.glob(FILE_GLOB)) if folder.is_dir() else []


def read_events(directory: Path | str) -> Iterator[dict[str, Any]]:
    """Every well-formed event in ``directory``, oldest first (bad lines are skipped)."""
    for path in telemetry_files(directory):
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except ValueError:  # a line cut by a crash mid-write
                    continue
                if isinstance(record, dict) and {"command", "event"} <= record.keys():
                    yield record
