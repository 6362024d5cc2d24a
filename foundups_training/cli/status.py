"""``foundups-training status``: patterns by kind, lines processed, last training."""

from __future__ import annotations

import argparse

from foundups_training.cli import CliError, emit
from foundups_training.config import Settings
from foundups_training.status import older_miners, text_time


def _log_now(status: dict) -> str:
    """What the log holds now, after "lines processed: N of LOG": its lines, or that it is not
    there (as the menu header says), or that it could not be counted (too big, unreadable)."""
    total = status.get("lines_total")
    if isinstance(total, int):
        return f" ({total:,} lines now)"
    if status.get("log_found") is False:
        return " (log not found)"
    return " (the log could not be counted)" if status.get("log_found") else ""


def _text(status: dict) -> str:
    store = status["store"]
    if status.get("store_read_from_copy"):
        store += " (not writable here: read from a temporary copy)"
    unknown = status.get("patterns_unknown")
    lines = [
        f"data directory : {status['data_dir']}",
        f"store          : {store}",
        f"patterns       : unknown ({unknown})"
        if unknown
        else f"patterns       : {status['patterns_total']} ({status['verified']} verified)",
    ]
    for kind, n in sorted(status["by_kind"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  {kind:<16} {n}")
    done, log = status["lines_processed"], status.get("log", "?")
    lines.append(f"lines processed: {done:,} of {log}{_log_now(status)}")
    # times as the menu and the metrics view write them; --json keeps ISO-8601
    lines.append(f"last training  : {text_time(status['last_training'])}")
    failure = status.get("last_failure")
    if failure:  # a run after the last training failed: it trained nothing
        lines.append(
            f"last attempt   : {text_time(failure.get('when') or failure.get('ts'))} "
            f"({failure['kind']}) failed: {failure.get('error') or 'no reason recorded'}"
        )
    for what, miner, made_by, current in older_miners(status):
        lines.append(
            f"{what + ' patterns':<15}: made by {miner} version {made_by}, this package's is "
            f"{current}: the next `mine` replaces them, or says how"
        )
    for key in ("data_dir_error", "memory_error", "checkpoint_error", "metrics_error"):
        if key in status and not (key == "memory_error" and status[key] == unknown):
            lines.append(f"problem        : {status[key]}")
    return "\n".join(lines)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print what has been learned (``--json`` for machines).

    A data directory that does not exist (``data_dir_error``; main() has refused a file
    already) fails as ``report`` does: exit 2, one line, and with ``--json`` the ``{"error",
    "exit_code"}`` of every failed verb. A script must tell a mistyped ``--data-dir`` from a
    data directory where nothing was learned yet (0 patterns, exit 0). Nothing is created.
    """
    from foundups_training.engine import Trainer

    with Trainer(settings, read_only=True) as trainer:
        status = trainer.status()
    if status.get("data_dir_error"):
        raise CliError(str(status["data_dir_error"]))
    emit(args, status, _text(status))
    return 0
