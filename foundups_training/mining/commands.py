"""Mining the telemetry JSONL files: the chain of commands, as ``command`` patterns.

The log says what the DAEs did; the telemetry says what the operator (or the idle loop)
asked for and how it went. Each finished command becomes a pattern keyed by its masked
summary (so a hundred ``training.status`` runs are one pattern seen a hundred times), and
each step of the chain (``training.batch`` followed by ``training.route``) another, so a
model asked "what usually happens after a batch run?" has examples to look at.

Files are append-only day files; a small JSON checkpoint keeps a byte offset per file name,
written atomically after the patterns are stored, so a rerun never counts an event twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foundups_training.mining.redact import redact
from foundups_training.mining.templates import mask
from foundups_training.records import Pattern

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


def _summary(payload: Any) -> str:
    if not isinstance(payload, dict):
        return ""
    parts = [f"{k}={payload[k]}" for k in SUMMARY_KEYS if k in payload]
    return redact(", ".join(parts))[:400]


def _load_offsets(path: Path) -> dict[str, int]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # absent or corrupt: start over (patterns merge, counts may repeat once)
    if not isinstance(data, dict):
        return {}
    return {str(k): int(v) for k, v in data.items() if isinstance(v, int) and v >= 0}


def _save_offsets(path: Path, offsets: dict[str, int]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(offsets, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _events(path: Path, offset: int) -> Iterator[tuple[dict[str, Any] | None, int]]:
    """(event or None for a bad line, offset after it); a partial last line is left."""
    with path.open("rb") as fh:
        fh.seek(offset)
        while True:
            raw = fh.readline(_MAX_LINE)
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


def command_patterns(events: Iterable[dict[str, Any]]) -> list[Pattern]:
    """Patterns for finished commands and for each step of the command chain."""
    patterns: list[Pattern] = []
    previous = ""
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


def mine_commands(directory: Path, memory: Any, checkpoint_path: Path) -> CommandMiningReport:
    """Store the command patterns of telemetry events not mined before."""
    directory = Path(directory)
    if not directory.is_dir():
        return CommandMiningReport(0, 0, 0)
    offsets = _load_offsets(checkpoint_path)
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
    patterns = command_patterns(events)
    if patterns:
        memory.upsert(patterns)
    if new_offsets != offsets:
        checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        _save_offsets(checkpoint_path, new_offsets)
    return CommandMiningReport(len(events), len(patterns), bad)
