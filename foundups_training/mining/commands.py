"""Mining the telemetry JSONL files: the chain of commands, as ``command`` patterns.

The log says what the DAEs did; the telemetry says what the operator (or the idle loop)
asked for and how it went. Each finished command becomes a pattern keyed by its masked
summary (so a hundred ``training.status`` runs are one pattern seen a hundred times), and
each step of the chain (``training.batch`` followed by ``training.route``) another, so a
model asked "what usually happens after a batch run?" has examples to look at.

Files are append-only day files; a small JSON checkpoint keeps a byte offset per file name,
the last finished command (so a chain goes on across runs) and the version of this miner,
written atomically after the patterns are stored, so a rerun never counts an event twice.
A copy is written first, as for the log's checkpoint: a corrupt one resumes from it.
Patterns made by an older version are replaced, as the log's are
(:func:`foundups_training.mining.miner.mine_log`): on their own when every day file they
came from is still there, on ``remine`` otherwise.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foundups_training.logs import warn_once
from foundups_training.mining.checkpoint import read_with_backup, write_with_backup
from foundups_training.mining.redact import redact
from foundups_training.mining.templates import mask
from foundups_training.mining.writeahead import finish_write, pending_path, write_ahead
from foundups_training.records import Pattern

log = logging.getLogger(__name__)

#: Raise whenever the same events would give other patterns. 1: the chain goes on across
#: runs (before, each run's first command had no link to the last one of the run before).
COMMAND_MINER_VERSION = 1

#: Telemetry payload keys worth showing a model (the rest are bulky or volatile).
SUMMARY_KEYS = (
    "lines_processed",
    "patterns_stored",
    "patterns_total",
    "verified",
    "tier",
    "escalated",
    "confidence",
    "exit_code",
    "error",
    "source",
)
_FINAL_EVENTS = ("completed", "failed")
_MAX_LINE = 64 * 1024


@dataclass(frozen=True)
class CommandMiningReport:
    """What one pass over the telemetry files found."""

    events: int
    patterns_stored: int
    bad_lines: int
    #: command patterns removed because this pass mined every day file again
    patterns_removed: int = 0
    #: what the operator should know (an older miner's patterns kept or replaced)
    warning: str = ""


@dataclass(frozen=True)
class _Checkpoint:
    offsets: dict[str, int]
    previous: str = ""  # the last finished command mined: the next one's chain link
    miner: int = COMMAND_MINER_VERSION


#: Characters of a command's summary that are redacted (the first 400 are kept).
SUMMARY_SCAN = 4096


def _summary(payload: Any) -> str:
    if not isinstance(payload, dict):
        return ""
    parts = [f"{k}={payload[k]}" for k in SUMMARY_KEYS if k in payload]
    # Only a head is redacted: the redactor is linear but not cheap on hostile text (1 MB
    # of "key=" took 23 s), and only the first 400 characters are kept. A key that starts
    # before 400 ends well within the head, so it is whole when it is redacted.
    return redact(", ".join(parts)[:SUMMARY_SCAN])[:400]


def _load(path: Path) -> tuple[_Checkpoint | None, str]:
    """The checkpoint (``None`` when there is none) and a warning when it is corrupt or
    unreadable: then its copy is used (:func:`.checkpoint.read_with_backup`), which holds
    the same offsets, so nothing is counted twice. Only when the copy is unusable too does
    the pass start over (patterns merge, counts repeat once). The first format, offsets
    alone, is version 0."""
    return read_with_backup(path, _recorded)


def _parse(data: Any) -> _Checkpoint | None:
    if not isinstance(data, dict):
        return None
    if "offsets" not in data:
        return _Checkpoint(_offsets(data), miner=0)
    miner, previous = data.get("miner"), data.get("previous")
    return _Checkpoint(
        _offsets(data["offsets"]),
        previous[:80] if isinstance(previous, str) else "",
        miner if isinstance(miner, int) and miner >= 0 else 0,
    )


def _recorded(data: Any) -> _Checkpoint:
    """A checkpoint recorded by :func:`.writeahead.write_ahead` (ValueError if unusable)."""
    cp = _parse(data)
    if cp is None:
        raise ValueError("not a telemetry checkpoint")
    return cp


def _fields(cp: _Checkpoint) -> dict[str, Any]:
    return {"miner": cp.miner, "offsets": cp.offsets, "previous": cp.previous}


def checkpoint_miner(path: Path) -> int | None:
    """The version of the miner that made the command patterns (0: from before versions),
    ``None`` when the telemetry was never mined or its checkpoint cannot be read."""
    cp, _ = _load(path)
    return None if cp is None else cp.miner


def _offsets(data: Any) -> dict[str, int]:
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, int) and v >= 0}


def _save(path: Path, cp: _Checkpoint) -> None:
    """Write the checkpoint atomically, its copy first (:func:`.checkpoint.write_with_backup`)."""
    write_with_backup(path, json.dumps(_fields(cp)))


def _events(path: Path, offset: int) -> Iterator[tuple[dict[str, Any] | None, int]]:
    """(event or None for a bad line, offset after it); a partial last line is left."""
    with path.open("rb") as fh:
        fh.seek(offset)
        while True:
            raw = fh.readline(_MAX_LINE)
            if len(raw) == _MAX_LINE and not raw.endswith(b"\n"):
                # Longer than any line a writer of this package makes (telemetry caps its
                # lines at 16 KiB): a bad line once it has an end (skipped, so the lines after
                # it are mined), else one still being written (left for the next run).
                while (more := fh.readline(_MAX_LINE)) and not more.endswith(b"\n"):
                    pass
                if not more:
                    return
                offset = fh.tell()
                yield None, offset
                continue
            if not raw or not raw.endswith(b"\n"):
                return
            offset = fh.tell()
            try:
                event = json.loads(raw.decode("utf-8", "replace"))
            except ValueError:
                yield None, offset
                continue
            ok = isinstance(event, dict) and isinstance(event.get("command"), str)
            yield (event if ok else None), offset


def command_patterns(events: Iterable[dict[str, Any]], previous: str = "") -> list[Pattern]:
    """Patterns for finished commands and for each step of the command chain; ``previous``
    is the command that finished before the first of ``events``."""
    patterns: list[Pattern] = []
    for event in events:
        name, kind = str(event.get("command", ""))[:80], str(event.get("event", ""))[:40]
        if kind not in _FINAL_EVENTS:
            continue
        ts = str(event.get("timestamp", ""))[:40]
        summary = _summary(event.get("payload"))
        context = f"command {name} {kind}" + (f": {summary}" if summary else "")
        patterns.append(
            Pattern.make(
                "command",
                context,
                f"{name} {kind}",
                key=f"{name} {kind} {mask(summary)}",
                outcome=summary,
                timestamp=ts,
                source="telemetry",
            )
        )
        if previous:
            patterns.append(
                Pattern.make(
                    "command",
                    f"after {previous}, the next command was {name}",
                    f"{previous} -> {name}",
                    key=f"chain {previous} {name}",
                    outcome=f"{name} {kind}",
                    timestamp=ts,
                    source="telemetry",
                )
            )
        previous = name
    return patterns


def _last_command(events: Iterable[dict[str, Any]], previous: str) -> str:
    for event in events:
        if str(event.get("event", ""))[:40] in _FINAL_EVENTS:
            previous = str(event.get("command", ""))[:80]
    return previous


def _start_again(directory: Path, cp: _Checkpoint | None, remine: bool) -> tuple[bool, str]:
    """Whether this pass forgets the command patterns and mines every day file from its
    start, and what to tell the operator either way (the rule of the log's miner)."""
    if remine:
        return True, "mining the telemetry again from the beginning, as asked"
    if cp is None or cp.miner >= COMMAND_MINER_VERSION:
        return False, ""
    gone = [
        name
        for name, offset in cp.offsets.items()
        if not (directory / name).is_file() or (directory / name).stat().st_size < offset
    ]
    made_by = (
        f"version {cp.miner} of the telemetry miner"
        if cp.miner
        else "the telemetry miner from before versions"
    )
    if not gone:
        return True, (
            f"the command patterns were made by {made_by}; this package's is version "
            f"{COMMAND_MINER_VERSION}: mining the telemetry again"
        )
    return False, (
        f"the command patterns were made by {made_by}; this package's is version "
        f"{COMMAND_MINER_VERSION}. {len(gone)} of the day files they came from "
        "are gone or shorter, so they are kept: to replace them with what the telemetry "
        "holds now, run `foundups-training mine --remine LOG`"
    )


def mine_commands(
    directory: Path,
    memory: Any,
    checkpoint_path: Path,
    *,
    remine: bool = False,
    wait_s: float | None = None,
) -> CommandMiningReport:
    """Store the command patterns of telemetry events not mined before.

    ``remine`` (or a checkpoint of an older miner whose day files are all still there)
    removes the command patterns and mines every day file again; ``memory`` then needs
    ``ids`` and ``delete`` as well as ``upsert``. ``wait_s``: how long to wait for another
    process's pass (default the miner's ``LOCK_WAIT_S``); an idle cycle gives no more than
    its own budget, as it does for the log.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return CommandMiningReport(0, 0, 0)
    # One pass at a time per checkpoint, as for the log (the miner's run lock beside this
    # checkpoint): two processes mining one data folder's telemetry would both read from
    # the same offsets and store each command twice.
    from foundups_training.mining.miner import LOCK_WAIT_S, run_lock_path, take_run_lock

    wait = LOCK_WAIT_S if wait_s is None else min(LOCK_WAIT_S, max(0.0, wait_s))
    lock, holder = take_run_lock(run_lock_path(checkpoint_path), wait)
    if lock is None:
        why = f"{holder} is mining the telemetry: this pass read nothing"
        log.warning("telemetry: %s", why)
        return CommandMiningReport(0, 0, 0, warning=why)
    try:
        return _mine_commands(directory, memory, checkpoint_path, remine)
    finally:
        lock.release()


def _mine_commands(
    directory: Path, memory: Any, checkpoint_path: Path, remine: bool
) -> CommandMiningReport:
    """:func:`mine_commands`' pass, under the run lock."""
    journal = pending_path(checkpoint_path)
    current, damaged = _load(checkpoint_path)
    if damaged:
        log.warning("telemetry: %s", damaged)
    recovered = finish_write(
        journal,
        memory,
        target_of=_recorded,
        current=current,
        save=lambda target: _save(checkpoint_path, target),
    )
    if recovered:
        log.warning("telemetry: %s", recovered)
    cp, _ = _load(checkpoint_path)
    again, why = _start_again(directory, cp, remine)
    removed = 0
    if again:
        # Marked first: a pass killed after the delete starts again from every file.
        _save(checkpoint_path, _Checkpoint({}, miner=0))
        ids = memory.ids(where={"source": "telemetry"})
        removed = int(memory.delete(ids)) if ids else 0
        cp = None
        why += f" ({removed} command patterns removed)"
    if why:
        warn_once(log, why, again=again)
    offsets = cp.offsets if cp else {}
    previous = cp.previous if cp else ""
    # the oldest miner whose patterns the store holds, as for the log
    miner = COMMAND_MINER_VERSION if cp is None else min(cp.miner, COMMAND_MINER_VERSION)
    events: list[dict[str, Any]] = []
    bad = 0
    new_offsets = dict(offsets)
    for path in sorted(directory.glob("telemetry-*.jsonl")):
        start = offsets.get(path.name, 0)
        if start > path.stat().st_size:
            start = 0  # the file was replaced by a shorter one
        for event, end in _events(path, start):
            if event is None:
                bad += 1
            else:
                events.append(event)
            new_offsets[path.name] = end
    patterns = command_patterns(events, previous)
    done = _Checkpoint(new_offsets, _last_command(events, previous), miner)
    # recorded first: a kill between the write and the checkpoint counts nothing twice
    recorded = bool(patterns) and write_ahead(journal, memory, patterns, _fields(done))
    if patterns:
        memory.upsert(patterns)
    if done != cp or damaged:  # a damaged checkpoint is made good even when nothing moved
        _save(checkpoint_path, done)
    if recorded:
        journal.unlink(missing_ok=True)
    warning = "; ".join(w for w in (damaged, recovered, why) if w)
    return CommandMiningReport(len(events), len(patterns), bad, removed, warning)
