"""A dependency-free progress bar for long runs (index, mine, eval).

Live on a terminal, silent otherwise: a bar redrawn in place with ``\\r`` when the stream is a
TTY, nothing at all with ``--json`` / ``--quiet`` or when output goes to a file or a pipe (so
logs and JSON stay clean). Every long-running library call takes a ``progress(done, total)``
callable; a :class:`Progress` is one.

    with progress_for(args, "mining") as bar:
        trainer.mine(log, progress=bar)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TextIO

#: Redraw at most this often (seconds): a bar must never slow the work it reports on.
_MIN_INTERVAL = 0.1
_WIDTH = 28


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a real file
        return False


def _columns(stream: TextIO) -> int:
    """The width of the terminal ``stream`` draws on: ``COLUMNS`` when set (as
    :func:`shutil.get_terminal_size` reads it), else the terminal's own, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 1 else 80


def _fmt_bytes(done: int, total: int) -> str:
    """``done/total`` as sizes in the unit ``total`` needs (``0.9/14.4 MB``); ``total <= 0``:
    ``done`` alone (``1.2 MB``)."""
    scale = max(total, done)
    factor, name = next(
        ((f, n) for f, n in ((10**9, "GB"), (10**6, "MB"), (10**3, "kB")) if scale >= f),
        (1, "B"),
    )

    def size(n: int) -> str:
        return f"{n:,}" if factor == 1 else f"{n / factor:.1f}"

    return f"{size(done)}/{size(total)} {name}" if total > 0 else f"{size(done)} {name}"


def _fmt_seconds(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """A callable progress bar: ``bar(done, total)``; ``total <= 0`` means unknown.

    ``enabled=None`` decides from the stream: live only when it is a terminal. ``unit``
    names what is counted, so that a count of bytes is not read as one of lines: ``"bytes"``
    shows sizes (``0.9/14.4 MB``, as mining reports ``(bytes done, file size)``), any other
    word follows the counts (``12/40 files``), none shows bare counts.
    """

    def __init__(
        self,
        label: str = "",
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        width: int = _WIDTH,
        unit: str = "",
    ) -> None:
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _is_tty(self.stream) if enabled is None else enabled
        self.width = width
        self.done = 0
        self.total = 0
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False
        self._last_len = 0

    def __call__(self, done: int, total: int) -> None:
        """Record progress and redraw if enough time has passed (or the run is complete)."""
        self.done, self.total = int(done), int(total)
        if not self.enabled:
            return
        now = time.monotonic()
        finished = self.total > 0 and self.done >= self.total
        if not finished and now - self._last_draw < _MIN_INTERVAL:
            return
        self._last_draw = now
        self._draw(now)

    def render(self, now: float | None = None) -> str:
        """The bar's text for the current state (what a redraw writes)."""
        elapsed = (time.monotonic() if now is None else now) - self._start
        label = f"{self.label} " if self.label else ""
        if self.total > 0:
            frac = min(1.0, max(0.0, self.done / self.total))
            filled = round(frac * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            eta = ""
            if 0 < frac < 1 and elapsed > 0.5:
                eta = f" eta {_fmt_seconds(elapsed * (1 - frac) / frac)}"
            return (
                f"{label}[{bar}] {frac * 100:5.1f}% {self._counts()} {_fmt_seconds(elapsed)}{eta}"
            )
        # Unknown total: a counter is honest, a fake percentage is not.
        return f"{label}{self._counts()} done {_fmt_seconds(elapsed)}"

    def _counts(self) -> str:
        """``done/total`` (``done`` alone when the total is unknown), in :attr:`unit`."""
        if self.unit == "bytes":
            return _fmt_bytes(self.done, self.total)
        counts = f"{self.done:,}/{self.total:,}" if self.total > 0 else f"{self.done:,}"
        return f"{counts} {self.unit}" if self.unit else counts

    def _draw(self, now: float) -> None:
        # A line longer than the terminal wraps, and ``\r`` goes back to the start of its
        # last row only: every redraw would leave a new line behind. It is cut to fit.
        text = self.render(now)[: _columns(self.stream) - 1]
        pad = " " * max(0, self._last_len - len(text))
        try:
            self.stream.write("\r" + text + pad)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: stop drawing, keep working
            self.enabled = False
            return
        self._last_len = len(text)
        self._drawn = True

    def close(self) -> None:
        """Draw the final state and end the line (only if anything was drawn)."""
        if self.enabled and (self._drawn or self.done):
            self._draw(time.monotonic())
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass
        self._drawn = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def quiet_requested(args: argparse.Namespace | None) -> bool:
    """True when the command line asked for machine output or silence."""
    return bool(
        args is not None and (getattr(args, "json", False) or getattr(args, "quiet", False))
    )


def progress_for(
    args: argparse.Namespace | None, label: str, *, stream: TextIO | None = None, unit: str = ""
) -> Progress:
    """The progress bar a CLI verb should use: off with ``--json``/``--quiet`` or off a TTY;
    ``unit`` as for :class:`Progress` (``"bytes"`` for mining)."""
    return Progress(
        label, stream=stream, enabled=False if quiet_requested(args) else None, unit=unit
    )


def no_progress(done: int, total: int) -> None:
    """A progress callback that shows nothing, for callers that want none."""
    del done, total
