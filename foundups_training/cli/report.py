"""`foundups-training report` (not built yet)."""

from __future__ import annotations

import argparse
from typing import Any

from foundups_training.cli import not_built


def run(args: argparse.Namespace, settings: Any) -> int:
    """Not built yet: says so and exits non-zero."""
    return not_built("report")
