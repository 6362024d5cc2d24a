"""Run the real CLI in this process and SIGKILL it at a chosen point (a fault injector).

Usage: ``python killpoint.py WHERE N -- <cli argv>``. ``WHERE`` is one of :data:`POINTS`; the
process kills itself with SIGKILL right at the ``N``-th time (1-based) it reaches that point,
so a test can place a kill -9 exactly between two writes -- the windows a random-time kill
only hits by luck. Nothing in the code under test is replaced: the wrappers only call
through, then kill.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

#: Kill points: (where, what is wrapped, before or after the call).
POINTS = (
    "before-chroma-write",  # a Collection.upsert/update/add is about to run
    "after-chroma-write",  # a Collection.upsert/update/add has returned
    "before-checkpoint",  # save_checkpoint is about to write
    "after-checkpoint",  # the checkpoint has been replaced on disk
)


def _killer(where: str, target: int) -> Callable[[str], None]:
    seen = {"n": 0}

    def hit(point: str) -> None:
        if point != where:
            return
        seen["n"] += 1
        if seen["n"] == target:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    return hit


def _wrap(owner: Any, name: str, hit: Callable[[str], None], before: str, after: str) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        hit(before)
        result = original(*args, **kwargs)
        hit(after)
        return result

    setattr(owner, name, wrapper)


def main(argv: list[str]) -> int:
    """Install the kill point, then run ``foundups_training.cli.main`` on the rest."""
    where, target = argv[0], int(argv[1])
    if where not in POINTS:
        raise SystemExit(f"unknown kill point {where!r}; one of {POINTS}")
    cli_argv = argv[3:] if len(argv) > 2 and argv[2] == "--" else argv[2:]
    hit = _killer(where, target)
    from chromadb.api.models.Collection import Collection

    for method in ("upsert", "update", "add"):
        _wrap(Collection, method, hit, "before-chroma-write", "after-chroma-write")
    from foundups_training.mining import miner

    _wrap(miner, "save_checkpoint", hit, "before-checkpoint", "after-checkpoint")
    from foundups_training.cli import main as cli_main

    return cli_main(cli_argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
