"""``foundups-training clear --yes``: forget every pattern and the mining checkpoints."""

from __future__ import annotations

import argparse

from foundups_training.cli import CliError, emit
from foundups_training.config import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Delete the patterns and the checkpoint; refuses without ``--yes``."""
    if not args.yes:
        raise CliError("this deletes every learned pattern; run again with --yes to confirm")
    from foundups_training.engine import Trainer

    with Trainer(settings) as trainer:
        before = trainer.memory.count()
        trainer.clear()
    emit(args, {"cleared": before}, f"cleared {before} patterns and the mining checkpoints")
    return 0
