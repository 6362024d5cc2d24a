"""``status``: what has been learned so far, gathered from every part that exists."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from foundups_training.engine import Trainer
    from foundups_training.metrics import MetricsStore

log = logging.getLogger(__name__)


def _checkpoint_summary(trainer: Trainer) -> dict[str, Any]:
    path = trainer.settings.checkpoint_path
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"checkpoint_error": f"unreadable checkpoint {path}: {exc}"}
    return data if isinstance(data, dict) else {}


def count_lines(path: Path, limit_bytes: int = 512 * 1024 * 1024) -> int | None:
    """Lines in ``path`` (None when absent or too big to count quickly).

    Counting newlines in 1 MiB binary chunks reads the host's 28K-line log in milliseconds.
    """
    try:
        if not path.is_file() or path.stat().st_size > limit_bytes:
            return None
        n = 0
        last = b""
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                n += chunk.count(b"\n")
                last = chunk
        return n + (1 if last and not last.endswith(b"\n") else 0)
    except OSError:
        return None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def text_time(value: object) -> str:
    """A moment as every text output writes it (``2026-11-28 15:13:28 UTC``), "never" for none.

    Status holds ISO-8601 strings (the checkpoint's ``updated_at``, what ``--json`` prints)
    and the metrics store epoch seconds: shown as they came, the menu header put one format
    right above the other. A string without a zone, or that is no time, is shown as it is
    (its zone is unknown), never raised on: a hand-edited checkpoint must not stop a header.
    """
    if value is None or value == "":
        return "never"
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(value, UTC)
        else:
            moment = datetime.fromisoformat(str(value))
        if moment.tzinfo is None:
            return str(value)
        # in the try too: a zone that moves a date past year 1 or 9999 overflows
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (ValueError, OverflowError, OSError):
        return str(value)


def _metrics_summary(trainer: Trainer, status: dict[str, Any]) -> None:
    """Add the metrics store's view: the last training run (newest of store and checkpoint),
    and the attempt after it when that one failed."""
    if not trainer.settings.metrics_path.is_file():
        return  # status never creates files: no store yet means no history yet
    try:
        # Its own read-only connection (committed rows are what any reader sees): status
        # must work on a data directory it cannot write, and reading must not migrate or
        # create anything behind the operator's back.
        from foundups_training.metrics import MetricsStore

        with MetricsStore(trainer.settings.metrics_path, read_only=True) as store:
            summary = _read_metrics(store)
    except Exception as exc:  # noqa: BLE001 - status reports problems, it does not fail
        status["metrics_error"] = f"{type(exc).__name__}: {exc}"
        return
    last, failed, stats = summary
    status["answers"] = stats["answers"]
    status["escalation_rate"] = stats["escalation_rate"]
    if failed is not None:
        status["last_failure"] = {**failed.as_dict(), "when": _iso(failed.ts)}
    if last is None:
        return
    status["last_training_run"] = last.as_dict()
    when = _iso(last.ts)
    # ISO strings in UTC compare correctly as text; keep whichever is newer.
    if not status["last_training"] or str(status["last_training"]) < when:
        status["last_training"] = when


def _read_metrics(store: MetricsStore) -> tuple[Any, Any, dict[str, Any]]:
    """The last successful run, the failed attempt after it (or None), the answer stats.

    A run that a ``clear`` came after is left out, failed or not: it trained or warned
    about a memory that is gone, and after a clear status describes a fresh one (the
    history keeps the run; the menu's metrics view still lists it).
    """
    failed = store.last_failed_training()
    if failed is not None and _cleared_after(store, failed.ts):
        failed = None
    last = store.last_successful_training()
    if last is not None and _cleared_after(store, last.ts):
        last = None
    return last, failed, store.answer_stats()


#: How many of the latest pattern snapshots are looked through for a clear.
_CLEAR_LOOKBACK = 100


def _cleared_after(store: MetricsStore, ts: float) -> bool:
    """Whether the memory was cleared after ``ts``: a ``clear`` snapshot among the latest.

    Runs and snapshots are apart, so their times are what orders them. The walk stops at the
    first snapshot older than ``ts`` (the failed run's own progress): none in between is
    "not cleared", and so is a clock that was ahead at the failure: it shows, never hides.
    """
    from foundups_training.metrics.store import SNAPSHOT_CLEARED

    for snapshot in reversed(store.snapshots(limit=_CLEAR_LOOKBACK)):
        if snapshot.ts < ts:
            return False
        if snapshot.reason == SNAPSHOT_CLEARED:
            return True
    return False


def _log_found(path: Path) -> bool:
    """False only when no log file is there: ``lines_total`` is None for a log too big or
    unreadable to count too, which is no "log not found" (the next run mines it)."""
    try:
        return path.is_file()
    except OSError:  # a folder on the way that cannot be searched: something is in the way
        return True


def _lines_processed(checkpoint: dict[str, Any], path: Path, status: dict[str, Any]) -> int:
    """The checkpoint's line count. A value that is not one (a hand-edited or foreign file,
    which ``mine`` treats as corrupt and restarts from the first line) is reported in
    ``checkpoint_error``, never raised: status is what an operator runs to diagnose."""
    value = checkpoint.get("lines_processed", 0) or 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    status.setdefault(
        "checkpoint_error",
        f"the checkpoint {path} says lines_processed = {value!r}, which is not a line "
        "count: the next `mine` starts the log from its first line",
    )
    return 0


def older_miners(status: dict[str, Any]) -> list[tuple[str, str, int, int]]:
    """``(what, miner, made by, this package's)`` for each kind of mined pattern that an older
    version of its miner made (the log's, the telemetry's command patterns)."""
    out = []
    for what, miner, made, current in (
        ("log", "miner", "log_miner", "miner"),
        ("command", "telemetry miner", "telemetry_miner", "telemetry_miner_current"),
    ):
        made_by, now = status.get(made), status.get(current)
        if isinstance(made_by, int) and isinstance(now, int) and made_by < now:
            out.append((what, miner, made_by, now))
    return out


def no_data_dir(data_dir: Path) -> str:
    """What ``status`` and ``report`` say of a data directory that does not exist: a typo
    in ``--data-dir`` or ``FOUNDUPS_TRAINING_HOME`` most often, which they must not create."""
    return (
        f"there is no data directory at {data_dir}: nothing was learned there "
        "(check --data-dir or FOUNDUPS_TRAINING_HOME)"
    )


def collect_status(trainer: Trainer) -> dict[str, Any]:
    """Patterns by kind/source, lines processed (of total), last training; never raises.

    When the store cannot be counted, ``patterns_unknown`` says why: ``patterns_total`` is
    then 0 only because it stays a number for older readers, and is no count.
    """
    settings = trainer.settings
    status: dict[str, Any] = {
        "data_dir": str(settings.data_dir),
        "store": settings.chroma_url or str(settings.chroma_dir),
        "patterns_total": 0,
        "by_kind": {},
        "by_source": {},
        "verified": 0,
        "lines_processed": 0,
        "last_training": None,
    }
    try:
        stats = trainer.memory.stats()
        status["patterns_total"] = stats.get("total", 0)
        status["by_kind"] = stats.get("by_kind", {})
        status["by_source"] = stats.get("by_source", {})
        status["verified"] = stats.get("verified", 0)
        if stats.get("read_from_copy"):
            # chromadb cannot open a store it cannot write: it was read from a temporary copy
            status["store_read_from_copy"] = True
    except Exception as exc:  # noqa: BLE001 - status reports problems, it does not fail
        status["memory_error"] = f"{type(exc).__name__}: {exc}"
        status["patterns_unknown"] = status["memory_error"]  # never "0 patterns"
        from foundups_training.memory.lock import StoreLocked

        if isinstance(exc, StoreLocked):
            # what the menu header says instead of "0 patterns": the store is not empty
            owner = exc.owner
            who = f"process {owner['pid']}" if owner.get("pid") else "another process"
            status["store_locked_by"] = who + (f" on {owner['host']}" if owner.get("host") else "")
            status["patterns_unknown"] = f"the store is locked by {status['store_locked_by']}"
    if not settings.data_dir.is_dir():
        status["data_dir_error"] = (
            f"{settings.data_dir} is a file, not a data directory"
            if settings.data_dir.exists()
            else no_data_dir(settings.data_dir)
        )
    checkpoint = _checkpoint_summary(trainer)
    if "checkpoint_error" in checkpoint:
        status["checkpoint_error"] = checkpoint["checkpoint_error"]
    status["lines_processed"] = _lines_processed(checkpoint, settings.checkpoint_path, status)
    updated = checkpoint.get("updated_at")
    status["last_training"] = updated if isinstance(updated, str) else None
    log_path = checkpoint.get("path")
    status["log"] = log_path if isinstance(log_path, str) else str(settings.log_path)
    if checkpoint and "checkpoint_error" not in checkpoint:
        from foundups_training.mining.checkpoint import MINER_VERSION

        made_by = checkpoint.get("miner", 0)
        # which miner made the log's patterns, and this package's: an older one's are
        # replaced by the next `mine` (or `mine --remine`, see its warning)
        status["log_miner"] = made_by if isinstance(made_by, int) else 0
        status["miner"] = MINER_VERSION
    from foundups_training.mining.commands import COMMAND_MINER_VERSION, checkpoint_miner

    made_by = checkpoint_miner(settings.commands_checkpoint_path)
    if made_by is not None:  # the same for the command patterns of the telemetry
        status["telemetry_miner"] = made_by
        status["telemetry_miner_current"] = COMMAND_MINER_VERSION
    status["lines_total"] = count_lines(Path(status["log"]))
    status["log_found"] = _log_found(Path(status["log"]))
    _metrics_summary(trainer, status)
    _decisions(status)
    return status


def _decisions(status: dict[str, Any]) -> None:
    """``decisions``: the counters of the bridge's queues to the plugins' ``on_decision``,
    when the bridge is connected in this process (the host's, through its menu; the
    ``status`` command runs in a process of its own, with no bridge and no key)."""
    if "foundups_training.bridge" not in sys.modules:  # never connected: nothing to import
        return
    from foundups_training import bridge

    if bridge.connected():
        status["decisions"] = bridge.stats()
