"""Whether a function's cost grows with its input's length and not with its square.

A ratio of CPU times taken together, never a wall-clock limit: ten inputs of 6.4 KB against
one of 64 KB cost the same when the work is linear, ten times more for the long one when it
grows with the square. Used by the redaction tests, whose rules run on every log line: a
hostile 64 KB line must not stall the miner."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def cpu_time(func: Callable[[str], Any], text: str, times: int) -> float:
    """The least CPU time of three tries at ``func(text)`` run ``times`` times."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for _ in range(times):
            func(text)
        best = min(best, time.process_time() - start)
    return best


def assert_linear_cost(func: Callable[[str], Any], unit: str) -> str:
    """Assert that ``func`` on ``unit`` repeated to 64 KB costs what ten 6.4 KB lines do
    (within 4 times); returns the 64 KB text, for the caller's own checks."""
    small = (unit * (6400 // len(unit) + 1))[:6400]
    big = (unit * (64000 // len(unit) + 1))[:64000]
    assert cpu_time(func, big, 1) < 4 * max(cpu_time(func, small, 10), 1e-3)
    return big


def assert_linear_and_stable(redact: Callable[[str], str], unit: str) -> None:
    """:func:`assert_linear_cost` for a redaction, and its 64 KB output redacted again is
    unchanged (nothing left for a second pass: the first one took all it should)."""
    out = redact(assert_linear_cost(redact, unit))
    assert redact(out) == out
