"""``foundups-training mine LOG``: mine the next chunk of an operational log into memory.

Resumes from the checkpoint in the data directory; ``--max-lines`` / ``--max-seconds``
bound one run; ``--host-root`` verifies module references against the host's tree (default:
the configured ``host_root`` when it is a Foundups-Agent checkout, as the menu does);
``--remine`` replaces the patterns mined from a log by what the log holds now.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foundups_training.cli import CliError, emit

if TYPE_CHECKING:
    from foundups_training.engine import Trainer
    from foundups_training.mining.checkpoint import Checkpoint


class StoredPatterns:
    """A ``pattern_stored`` receiver counting what a run stored, by kind.

    A run stopped by Ctrl-C returns no report, yet what it stored before is kept (the
    miner upserts, then checkpoints, as it goes): this is what it stored.
    """

    def __init__(self) -> None:
        self.stored = 0
        self.by_kind: Counter[str] = Counter()

    def __call__(self, sender: object, patterns: Any = (), **_: Any) -> None:
        del sender
        patterns = tuple(patterns or ())
        self.stored += len(patterns)
        self.by_kind.update(getattr(p, "kind", "unknown") for p in patterns)


def _checkpoint(path: Path) -> Checkpoint | None:
    from foundups_training.mining.checkpoint import load_checkpoint

    try:
        return load_checkpoint(path)[0]
    except Exception:  # noqa: BLE001 - only what a stopped run kept is lost to the metrics
        return None


def lines_kept(before: Checkpoint | None, after: Checkpoint | None, *, remine: bool) -> int:
    """The lines a run stopped early counted, from the checkpoints before and after it.

    Unchanged, or still the marker a re-mine writes before its first checkpoint (``miner``
    0): none. Mined from the first line (no checkpoint before, ``--remine``, a newer miner
    than the one before: the log's patterns were made again from its first line, a count
    that went down: the log was replaced): all the new checkpoint counts. Else what it
    added.
    """
    if after is None or after == before or after.miner == 0:
        return 0
    if (
        before is None
        or remine
        or after.miner > before.miner
        or after.lines_processed < before.lines_processed
    ):
        return after.lines_processed
    return after.lines_processed - before.lines_processed


def _record_stop(
    result: Any,
    trainer: Trainer,
    before: Checkpoint | None,
    stored: StoredPatterns,
    *,
    remine: bool,
) -> None:
    """Put what a run stopped by Ctrl-C kept into its ``failed`` telemetry (``result``):
    the metrics then record the lines and patterns it did, not a run of none."""
    if not isinstance(result, dict):
        return
    after = _checkpoint(trainer.settings.checkpoint_path)
    result.update(
        lines_processed=lines_kept(before, after, remine=remine),
        patterns_stored=stored.stored,
        by_kind=dict(sorted(stored.by_kind.items())),
    )
    if after is not None and after.miner:
        result["lines_total"] = after.lines_processed
    if trainer.has_part("memory"):  # never open the store now: a second Ctrl-C ends it all
        result.update(trainer.memory_totals())


def run(args: argparse.Namespace, settings: Any) -> int:
    """Mine ``args.log``; print the report (``--json``: machine-readable)."""
    from foundups_training.engine import Trainer

    log_path = Path(args.log).expanduser()
    if not log_path.exists():
        raise CliError(f"log file not found: {log_path}")
    if log_path.is_dir():
        raise CliError(f"log path is a directory, not a file: {log_path}")
    if not log_path.is_file():  # a FIFO waits for a writer when opened, a device never ends
        raise CliError(f"log path is not a regular file: {log_path}")
    try:
        with log_path.open("rb"):
            pass
    except OSError as exc:
        raise CliError(f"cannot read log file {log_path}: {exc.strerror or exc}") from None
    host_root: Path | None
    if args.host_root:
        host_root = Path(args.host_root).expanduser()
        if not host_root.is_dir():
            raise CliError(f"--host-root is not a directory: {host_root}")
    else:
        # As the menu and the idle task do: the configured host tree (the docs' advice for
        # "few patterns verified" is to set FOUNDUPS_TRAINING_HOST_ROOT, then mine).
        from foundups_training.menu import configured_host_root

        host_root = configured_host_root(settings)
    if args.max_lines is not None and args.max_lines < 0:
        raise CliError("--max-lines must be 0 or more")
    if args.max_seconds is not None and args.max_seconds < 0:
        raise CliError("--max-seconds must be 0 or more")
    from foundups_training import signals
    from foundups_training.progress import progress_for

    settings.ensure_data_dir()
    # the failed telemetry's payload (the run's record in the metrics) names the log too
    result = getattr(args, "telemetry_result", None)
    if isinstance(result, dict):
        result["log_path"] = str(log_path)
    before = _checkpoint(settings.checkpoint_path)
    stored = StoredPatterns()
    signals.pattern_stored.connect(stored, weak=False)
    try:
        # the bar counts bytes of the log (mine_log reports (bytes done, file size))
        with Trainer(settings) as trainer, progress_for(args, "mining", unit="bytes") as bar:
            try:
                report = trainer.mine(
                    log_path,
                    host_root=host_root,
                    max_lines=args.max_lines,
                    max_seconds=args.max_seconds,
                    progress=bar,
                    remine=args.remine,
                )
            except KeyboardInterrupt:
                _record_stop(result, trainer, before, stored, remine=args.remine)
                raise
            # what the memory holds by kind, for the metrics' snapshot (``by_kind`` is this
            # run's)
            totals = trainer.memory_totals()
    finally:
        signals.pattern_stored.disconnect(stored)
    data = {**report.as_dict(), **totals, "host_root": str(host_root) if host_root else None}
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(report.by_kind.items())) or "none"
    lines = [
        f"mined {report.lines_processed} lines of {log_path} in {report.duration_s:.2f}s "
        f"({100 * report.progress:.1f}% of the file done)",
        f"patterns stored: {report.patterns_stored} ({report.patterns_new} new; {kinds})",
        f"patterns in memory: {report.patterns_total}",
        f"verified: {report.verified} of {report.with_module} naming a module"
        + (
            f" (against {host_root})"
            if host_root
            else " (no host tree: give --host-root, or set FOUNDUPS_TRAINING_HOST_ROOT or "
            "host_root to a Foundups-Agent checkout)"
        ),
    ]
    if report.truncated_lines:
        lines.append(f"over-long lines cut: {report.truncated_lines}")
    if report.episodes_pending:
        lines.append(f"episodes waiting for their outcome window: {report.episodes_pending}")
    lines += [f"warning: {w}" for w in report.warnings]
    emit(args, data, "\n".join(lines))
    return 0
