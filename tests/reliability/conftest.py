"""Fixtures of the reliability suite: a real-format log and a baseline mined once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rel_helpers import Snapshot, mine_json, snapshot, write_log

#: Lines of the sample log the process-level tests mine: enough for every pattern kind and
#: several flushes, small enough for a 2-core machine shared with other work.
LOG_LINES = 400


@pytest.fixture(scope="session")
def rel_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 400-line real-format log (read-only by convention: copy it before changing it)."""
    return write_log(tmp_path_factory.mktemp("rel_log") / "012.txt", LOG_LINES)


@pytest.fixture(scope="session")
def baseline(rel_log: Path, tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """The store after one uninterrupted ``mine`` of :func:`rel_log` by the real CLI."""
    data = tmp_path_factory.mktemp("baseline")
    report = mine_json(rel_log, data)
    assert report["progress"] == 1.0 and report["lines_total"] == LOG_LINES
    return snapshot(data)
