"""``foundups-training menu``: the interactive training menu on this data directory."""

from __future__ import annotations

import argparse

from foundups_training.config import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Open the Trainer and run the menu on the terminal until "0" or end of input."""
    from foundups_training.engine import Trainer
    from foundups_training.menu import run_menu

    with Trainer(settings) as trainer:
        return run_menu(trainer)
