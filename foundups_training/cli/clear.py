"""``foundups-training clear --yes``: forget every pattern and the mining checkpoints."""

from __future__ import annotations

import argparse

from foundups_training.cli import CliError, emit
from foundups_training.config import Settings


def _learned_here(settings: Settings) -> bool:
    """Whether the data directory holds anything ``clear`` would delete: an embedded store,
    a checkpoint, live patterns waiting in the journal (a Chroma server always may)."""
    if settings.chroma_url:
        return True
    return any(
        path.exists()
        for path in (
            settings.chroma_dir,
            settings.checkpoint_path,
            settings.commands_checkpoint_path,
            settings.journal_dir,
        )
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Delete the patterns and the checkpoint; refuses without ``--yes``.

    A data directory that holds no store and no checkpoint is refused too (a typo in
    ``--data-dir`` most often): clearing it would create an empty store there and say
    "cleared 0 patterns", while the memory the operator meant to clear stays as it was.
    """
    if not args.yes:
        raise CliError("this deletes every learned pattern; run again with --yes to confirm")
    if not _learned_here(settings):
        raise CliError(
            f"nothing to clear: there is no pattern store and no checkpoint in "
            f"{settings.data_dir} (check --data-dir or FOUNDUPS_TRAINING_HOME)"
        )
    from foundups_training.engine import Trainer

    with Trainer(settings) as trainer:
        before = trainer.memory.count()
        trainer.clear()
    text = f"cleared {before} patterns and the mining checkpoints"
    emit(args, {"cleared": before}, text)
    return 0
