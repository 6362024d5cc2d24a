"""How a failure the plugin survives is logged: one line an operator can read, the traceback
only when debugging (``-vv``, DEBUG), where it is wanted, never on every terminal."""

from __future__ import annotations

import logging
import threading
from typing import Any


def trace(log: logging.Logger, exc: BaseException | None) -> BaseException | None:
    """``exc_info`` for a log call: ``exc`` when ``log`` logs at DEBUG, else None."""
    return exc if exc is not None and log.isEnabledFor(logging.DEBUG) else None


def describe(exc: BaseException) -> str:
    """``"Type: message"`` of an exception; never raises.

    The exception may come from a host object or a malformed field (a ``__str__`` that
    raises), and its own ``__str__`` may be just as broken: formatting it inside an
    ``except`` block would raise out of the handler, into the host's call or a batch.
    """
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # noqa: BLE001 - an unprintable exception is still reported
        return f"{type(exc).__name__}: <unprintable>"


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)`` for a log line: never raising, never longer than ``limit`` characters.

    A value from the host (a decision's id, a field) may be an object whose ``repr`` raises,
    or a string of megabytes: a string is cut before ``repr`` sees it, so its size costs
    nothing."""
    try:
        text = repr(value[: limit + 1] if isinstance(value, str) else value)
    except Exception:  # noqa: BLE001 - a malformed field: say what it is
        text = f"<unprintable {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def warn_failure(
    log: logging.Logger, what: str, exc: BaseException, level: int = logging.WARNING
) -> None:
    """``what: Type: message`` at ``level``, with the traceback only at DEBUG; never raises.

    It is called where a failure is survived, often on a host's thread: an exception whose
    ``__str__`` raises is ``<unprintable>``, and a handler that cannot write (the host's
    stderr closed, whose own error report then raises ``ValueError``) loses the line, not
    the host's call.
    """
    try:
        log.log(level, "%s: %s", what, describe(exc), exc_info=trace(log, exc))
    except Exception:  # noqa: BLE001 - nowhere left to say it
        pass


#: Warnings already logged by this process (:func:`warn_once`).
_TOLD: set[str] = set()
_TOLD_LOCK = threading.Lock()


def warn_once(log: logging.Logger, message: str, *, again: bool = False) -> None:
    """Log ``message`` as a warning the first time this process says it (an idle task runs
    every few minutes, a router is built per question, and one problem is said once), or
    every time with ``again``."""
    with _TOLD_LOCK:
        if message in _TOLD and not again:
            return
        _TOLD.add(message)
    log.warning("%s", message)
