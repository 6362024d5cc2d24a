"""``foundups-training index HOST_ROOT``: index the host's source tree into memory.

Walks ``modules/<domain>/<module>/`` (READMEs, docstrings, public names; code is parsed,
never imported) and the WSP documents into patterns that answer "which module handles X?".
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from foundups_training.cli import CliError, emit


def run(args: argparse.Namespace, settings: Any) -> int:
    """Index ``args.host_root``; print the report (``--json``: machine-readable)."""
    from foundups_training.engine import Trainer

    root = Path(args.host_root).expanduser()
    if not root.exists():
        if root.is_symlink():  # ``ls`` shows it: say why it leads nowhere
            raise CliError(f"host root is a broken symbolic link or a link loop: {root}")
        raise CliError(f"host root not found: {root}")
    if not root.is_dir():
        raise CliError(f"host root is not a directory: {root}")
    from foundups_training.progress import progress_for

    settings.ensure_data_dir()
    with Trainer(settings) as trainer, progress_for(args, "indexing") as bar:
        report = trainer.index(root, progress=bar, prune=not args.keep_stale)
        # What the memory holds by kind, as ``mine`` records it: the metrics' snapshot of
        # this run ("patterns over time", the run history) takes its kinds from these.
        totals = trainer.memory_totals()
    text = "\n".join(
        [
            f"indexed {report.modules} modules ({report.files} Python files, "
            f"{report.wsp_documents} WSP documents) under {report.host_root} "
            f"in {report.duration_s:.2f}s",
            f"patterns stored: {report.patterns_stored}; "
            f"removed (no longer in the tree): {report.patterns_removed}; "
            f"in memory: {report.patterns_total}",
        ]
        + (
            [f"files skipped (unreadable or not Python): {report.skipped}"]
            if report.skipped
            else []
        )
        + (
            # Names that are not UTF-8 cannot be stored in a pattern (nor imported by the
            # host): they are left out, and the operator told which, to rename them.
            [
                f"names skipped (not UTF-8: rename them to index them): {report.undecodable} "
                f"({', '.join(report.undecodable_names)}"
                + (", …" if report.undecodable > len(report.undecodable_names) else "")
                + ")"
            ]
            if report.undecodable
            else []
        )
        + [f"warning: {w}" for w in report.warnings]
    )
    emit(args, {**report.as_dict(), **totals}, text)
    return 0
