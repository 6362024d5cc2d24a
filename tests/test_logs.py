"""A failure the plugin survives is logged in one line, and logging it never raises."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from foundups_training.logs import warn_failure


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def _logger(stream: io.StringIO) -> logging.Logger:
    log = logging.getLogger("foundups_training.tests.logs")
    log.handlers[:] = [logging.StreamHandler(stream)]
    log.propagate = False
    log.setLevel(logging.INFO)
    return log


def test_one_line_names_the_failure_and_its_type() -> None:
    stream = io.StringIO()
    warn_failure(_logger(stream), "storing failed", OSError("disk full"))
    assert stream.getvalue() == "storing failed: OSError: disk full\n"


def test_an_unprintable_exception_is_still_one_line() -> None:
    stream = io.StringIO()
    warn_failure(_logger(stream), "storing failed", Unprintable())
    assert stream.getvalue() == "storing failed: Unprintable: <unprintable>\n"


def test_a_handler_that_cannot_write_with_stderr_closed_never_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The host closed its stderr and its log stream: logging's own error report raises
    ValueError (it catches OSError only), which must not reach the caller."""
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(sys, "stderr", closed)
    warn_failure(_logger(closed), "telemetry receiver failed", RuntimeError("boom"))
