"""``import foundups_training.auto``: attach the plugin to the host with one line.

Importing this module connects the bridge (signals → pluggy hooks) and instruments every
adapter registered in the entry-point group ``foundups_training.adapters``. It is idempotent
(a second import, or :func:`activate` again, does nothing) and never raises: a broken adapter
is logged and skipped, and the host runs as it would without the plugin.

``FOUNDUPS_TRAINING_DISABLE`` (comma separated) also names adapters to leave out, e.g.
``FOUNDUPS_TRAINING_DISABLE=idle``; ``FOUNDUPS_TRAINING_OFF=1`` turns activation off.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Any

log = logging.getLogger(__name__)

#: The entry-point group instrumentors register in (other packages may add theirs).
ADAPTER_GROUP = "foundups_training.adapters"

_lock = threading.Lock()
#: Instrumentors activated in this process, by entry-point name.
ACTIVE: dict[str, Any] = {}
#: Adapters that failed to load or instrument: (name, message).
ERRORS: list[tuple[str, str]] = []
_exit_hook: list[bool] = []


def _names(value: str | None) -> set[str]:
    return {v.strip() for v in (value or "").split(",") if v.strip()}


def activate(eps: Sequence[EntryPoint] | None = None) -> dict[str, Any]:
    """Connect the bridge and instrument the registered adapters; returns the active ones."""
    with _lock:
        if os.environ.get("FOUNDUPS_TRAINING_OFF", "").strip().lower() in ("1", "true", "yes"):
            return dict(ACTIVE)
        try:
            from foundups_training import bridge

            bridge.connect()
        except Exception as exc:  # noqa: BLE001 - activation never breaks the host
            ERRORS.append(("bridge", f"{type(exc).__name__}: {exc}"))
            log.error("foundups-training: bridge not connected: %s", exc)
            return dict(ACTIVE)
        deny = _names(os.environ.get("FOUNDUPS_TRAINING_DISABLE"))
        try:
            found = list(eps) if eps is not None else list(entry_points(group=ADAPTER_GROUP))
        except Exception as exc:  # noqa: BLE001
            ERRORS.append(("entry-points", f"{type(exc).__name__}: {exc}"))
            found = []
        for ep in found:
            if ep.name in deny or ep.name in ACTIVE:
                continue
            try:
                factory = ep.load()
                instrumentor = factory() if callable(factory) else factory
                instrumentor.instrument()
            except Exception as exc:  # noqa: BLE001 - skip one adapter, keep the others
                ERRORS.append((ep.name, f"{type(exc).__name__}: {exc}"))
                log.error("foundups-training: adapter %s (%s) skipped: %s", ep.name, ep.value, exc)
                continue
            ACTIVE[ep.name] = instrumentor
        if ACTIVE and not _exit_hook:
            atexit.register(flush_live)
            _exit_hook.append(True)
        return dict(ACTIVE)


def flush_live(timeout: float = 5.0) -> None:
    """Write what the live learner still holds (at exit: the writer thread is a daemon)."""
    try:
        from foundups_training.plugins import get_plugin_manager

        plugin = get_plugin_manager().get_plugin("training")
        live = getattr(plugin, "_live", None)
        if live is not None:
            live.flush(timeout)
    except Exception:  # noqa: BLE001 - shutting down: nothing left to protect
        pass


def deactivate() -> None:
    """Uninstrument every adapter and disconnect the bridge (tests, a clean shutdown)."""
    with _lock:
        for name, instrumentor in list(ACTIVE.items()):
            try:
                instrumentor.uninstrument()
            except Exception as exc:  # noqa: BLE001
                log.error("foundups-training: could not uninstrument %s: %s", name, exc)
        ACTIVE.clear()
        try:
            from foundups_training import bridge

            bridge.disconnect()
        except Exception:
            log.exception("bridge disconnect failed")


try:
    activate()
except Exception:  # importing this module must never raise into the host
    log.exception("foundups-training activation failed")
