"""Exactly-once writes of counted patterns: a write-ahead file per flush.

The store's upsert *adds* ``seen`` counts, so writing the same patterns again after a write
that (partly) landed, with the checkpoint not yet moved, counts them twice. Before each
write its patterns, the checkpoint it ends with and the ``seen`` the store held for each of
them go to a file next to the checkpoint. A run that finds that file (a kill, a write
error) writes only the patterns whose ``seen`` has not moved, saves the checkpoint and
deletes the file: every pattern counted once. The log's miner and the telemetry's use it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from foundups_training.records import Pattern

T = TypeVar("T")


def pending_path(checkpoint_path: Path) -> Path:
    """The write-ahead file of a flush in progress (next to the checkpoint)."""
    return checkpoint_path.with_name(checkpoint_path.name + ".pending")


def write_ahead(path: Path, memory: Any, patterns: list[Pattern], target: dict[str, Any]) -> bool:
    """Record a flush before its write: the patterns, the checkpoint (``target``) it ends
    with, and the ``seen`` the store held for each beforehand. False when ``memory`` cannot
    say (then the write is not recorded)."""
    seen_counts = getattr(memory, "seen_counts", None)
    if seen_counts is None:
        return False
    before = seen_counts([p.id for p in patterns])
    data = json.dumps(
        {"target": target, "before": before, "patterns": [asdict(p) for p in patterns]}
    )
    write_atomically(path, data)
    return True


def write_atomically(path: Path, data: str) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync, then ``os.replace``: a
    crash leaves the old file or the new one, and a failed write (a full disk) no half file
    and no temporary one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not leave half a file behind
        raise


def finish_write(
    path: Path,
    memory: Any,
    *,
    target_of: Callable[[Any], T],
    current: T | None,
    save: Callable[[T], None],
) -> str:
    """Finish a flush that a kill or a write error interrupted; returns a warning or ''.

    ``target_of`` turns the recorded checkpoint back into the caller's kind (raising for one
    it cannot use), ``current`` is the checkpoint on disk now and ``save`` writes one.
    """
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
        target = target_of(recorded["target"])
        before = _counts(recorded["before"])
        patterns = [Pattern.from_dict(p) for p in recorded["patterns"]]
    except FileNotFoundError:
        return ""
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        path.unlink(missing_ok=True)
        return f"unreadable pending write journal {path} dropped ({exc})"
    if current is not None and current == target:
        path.unlink(missing_ok=True)  # the write and the checkpoint both landed
        return ""
    now = memory.seen_counts([p.id for p in patterns])
    todo = [p for p in patterns if now.get(p.id, 0) == before.get(p.id, 0)]
    if todo:
        memory.upsert(todo)  # raises: the file stays for the next run
    save(target)
    path.unlink(missing_ok=True)
    return (
        f"finished an interrupted write ({len(patterns) - len(todo)} of {len(patterns)} "
        "patterns had landed)"
    )


def _counts(value: Any) -> dict[str, int]:
    """The journal's ``before``: the ``seen`` of each pattern id. Anything else is a corrupt
    journal (raises ``ValueError``): used as it is, a list or ``null`` raised at every later
    run, and a count written as a string made every pattern look landed."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
        for k, v in value.items()
    ):
        raise ValueError("'before' is not a mapping of pattern ids to counts")
    return value
