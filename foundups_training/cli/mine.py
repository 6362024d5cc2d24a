"""``foundups-training mine LOG``: mine the next chunk of an operational log into memory.

Resumes from the checkpoint in the data directory; ``--max-lines`` / ``--max-seconds``
bound one run; ``--host-root`` verifies module references against the host's tree (default:
the configured ``host_root`` when it is a Foundups-Agent checkout, as the menu does);
``--remine`` replaces the patterns mined from a log by what the log holds now.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from foundups_training.cli import CliError, emit


def run(args: argparse.Namespace, settings: Any) -> int:
    """Mine ``args.log``; print the report (``--json``: machine-readable)."""
    from foundups_training.engine import Trainer

    log_path = Path(args.log).expanduser()
    if not log_path.exists():
        raise CliError(f"log file not found: {log_path}")
    if log_path.is_dir():
        raise CliError(f"log path is a directory, not a file: {log_path}")
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
    from foundups_training.progress import progress_for

    settings.ensure_data_dir()
    # the bar counts bytes of the log (mine_log reports (bytes done, file size))
    with Trainer(settings) as trainer, progress_for(args, "mining", unit="bytes") as bar:
        report = trainer.mine(
            log_path,
            host_root=host_root,
            max_lines=args.max_lines,
            max_seconds=args.max_seconds,
            progress=bar,
            remine=args.remine,
        )
        # what the memory holds by kind, for the metrics' snapshot (``by_kind`` is this run's)
        totals = trainer.memory_totals()
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
