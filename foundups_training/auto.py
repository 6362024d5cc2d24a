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
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from importlib.metadata import EntryPoint
from typing import Any

from foundups_training.logs import warn_failure

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
        try:
            # The same deny-list as the plugins': FOUNDUPS_TRAINING_DISABLE or the TOML
            # file's plugins_deny.
            from foundups_training.plugins import group_entry_points, selection_lists

            deny = selection_lists()[1]
            if eps is not None:
                found = list(eps)
            else:
                # One distribution at a time: a malformed entry_points.txt of an unrelated
                # package costs its own entries, not every adapter.
                found, broken = group_entry_points(ADAPTER_GROUP)
                for dist, message in broken:
                    ERRORS.append((dist, message))
                    log.error("foundups-training: distribution %s skipped: %s", dist, message)
        except Exception as exc:  # noqa: BLE001
            ERRORS.append(("entry-points", f"{type(exc).__name__}: {exc}"))
            deny, found = _names(os.environ.get("FOUNDUPS_TRAINING_DISABLE")), []
        for ep in found:
            if ep.name in deny or ep.name in ACTIVE:
                continue
            try:
                factory = ep.load()
                instrumentor = factory() if callable(factory) else factory
                instrumentor.instrument()
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - skip one adapter only
                # (SystemExit too: an adapter's module that exits on a missing dependency
                # must not end the host at ``import foundups_training.auto``)
                ERRORS.append((ep.name, f"{type(exc).__name__}: {exc}"))
                log.error("foundups-training: adapter %s (%s) skipped: %s", ep.name, ep.value, exc)
                continue
            ACTIVE[ep.name] = instrumentor
        if ACTIVE and not _exit_hook:
            atexit.register(close_live)
            _exit_hook.append(True)
        return dict(ACTIVE)


def _training_plugin() -> Any:
    """The training plugin; None when this process never loaded the plugin manager.

    Then no plugin was given a decision, and nothing waits to be stored: loading the
    manager only to find that out imported every installed plugin (its code run in the
    host) as ``run-host`` ended, ``FOUNDUPS_TRAINING_OFF=1`` or not.
    """
    from foundups_training import plugins

    if plugins._manager is None:
        return None
    return plugins.get_plugin_manager().get_plugin("training")


def _live_learner(plugin: Any, timeout: float) -> Any:
    """The plugin's live learner, or None if no decision ever built one.

    A learner still being built in the background (the plugin builds it off the host's
    thread) is waited for, up to ``timeout``: the decisions it was sent meanwhile are handed
    to it once it exists.
    """
    wait_ready = getattr(plugin, "wait_ready", None)
    if callable(wait_ready):
        wait_ready(timeout)
    return getattr(plugin, "_live", None)


def _exit_step(
    bound: float, keep: float | None = None, parts: int = 1
) -> AbstractContextManager[float]:
    """:func:`bridge.exit_step <foundups_training.bridge.exit_step>`: the seconds one step of
    the exit may wait, all steps sharing ``bridge.EXIT_S``; ``bound`` itself if the bridge
    cannot be imported (then nothing was delivered through it either)."""
    try:
        from foundups_training import bridge

        return bridge.exit_step(bound, keep, parts)
    except Exception:  # noqa: BLE001 - the host is ending: never raise
        return nullcontext(bound)


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _drain_bridge(timeout: float) -> None:
    """Hand the decisions still queued in the bridge to the plugins first (the live learner
    can store only what reached it); never raises. The bridge's own exit handler drains too,
    but ``atexit`` order depends on what registered first. A plugin still in the
    ``on_decision`` call an earlier drain of the exit gave up on is not waited for again."""
    try:
        from foundups_training import bridge

        if not bridge.drain(timeout, skip_stuck=True):
            log.warning(
                "foundups-training: %d decisions still on their way to the plugins after %.1f s",
                bridge.stats()["waiting"],
                timeout,
            )
    except Exception as exc:  # noqa: BLE001 - the host is ending: report, never raise
        warn_failure(log, "foundups-training: draining the bridge failed", exc, logging.ERROR)


def flush_live(timeout: float = 5.0) -> bool:
    """Wait up to ``timeout`` until the live learner has stored what it holds.

    ``run-host`` calls this when the host's main.py returns: the exit begins, and its steps
    (this one, then the exit handlers) share ``bridge.EXIT_S`` from here on; this one takes
    at most ``timeout`` of it for delivering the bridge's queue, the learner's build and its
    flush together, and never the part kept for the last writes (``bridge.EXIT_CLOSE_S``).
    The learner keeps running: the host's own threads may send decisions until the process
    exits, when :func:`close_live` stores or journals whatever is left. False (and a warning
    with the count) if decisions are still queued.
    """
    try:
        from foundups_training import bridge

        bridge.start_exit()
    except Exception:  # noqa: BLE001 - no bridge: the steps keep their own bounds
        pass
    with _exit_step(timeout) as seconds:
        deadline = time.monotonic() + seconds
        _drain_bridge(seconds)
        try:
            live = _live_learner(_training_plugin(), _left(deadline))
            if live is None or live.flush(_left(deadline)):
                return True
            stats = live.stats()
            log.warning(
                "foundups-training: %d live decisions not yet stored after %.1f s; they are "
                "stored or journaled when the process exits",
                stats["submitted"] - stats["processed"],
                seconds,
            )
        except Exception as exc:  # noqa: BLE001 - the host is ending: report, never raise
            warn_failure(log, "foundups-training: flushing the live learner failed", exc,
                         logging.ERROR)  # fmt: skip
    return False


def close_live(timeout: float = 5.0) -> None:
    """At exit: store what the live learner holds, journal what cannot be stored in time.

    Registered with ``atexit``. The live learner's and the memory writer's threads are
    daemons: whatever they held only in memory would die with the process, silently. The
    learner stores for up to ``timeout`` and appends the rest to the journal on disk
    (replayed when the store next opens for writing), logging counts; the memory's
    background writer is then drained the same way. The store stays open (the OS releases
    its lock with the process).

    Each wait gets ``timeout`` at most, and never more than the exit's budget has left
    (``bridge.EXIT_S``, shared with :func:`flush_live` and the bridge's exit drain): the
    bridge's queue and the learner's build only what is left beyond ``bridge.EXIT_CLOSE_S``,
    the two closes the rest. What a close cannot store in its time is journaled.
    """
    with _exit_step(timeout) as seconds:
        _drain_bridge(seconds)
    try:
        plugin = _training_plugin()
    except Exception:  # noqa: BLE001 - no plugin manager: nothing was learned
        return
    if plugin is None:
        return
    try:
        with _exit_step(timeout) as seconds:
            live = _live_learner(plugin, seconds)
    except Exception as exc:  # noqa: BLE001 - the host is ending: report, never raise
        warn_failure(log, "foundups-training: the live learner could not be reached", exc,
                     logging.ERROR)  # fmt: skip
        live = None
    if live is not None:
        try:
            # close(t) may wait twice (its flush, then its thread inside a store write), and
            # the memory writer's close after it the same: a quarter of what is left.
            with _exit_step(timeout, keep=0.0, parts=4) as seconds:
                live.close(seconds)
        except Exception as exc:  # noqa: BLE001 - the host is ending: report, never raise
            warn_failure(log, "foundups-training: closing the live learner failed", exc,
                         logging.ERROR)  # fmt: skip
    trainer = getattr(plugin, "_trainer", None)
    try:
        if trainer is not None and trainer.has_part("memory"):
            with _exit_step(timeout, keep=0.0, parts=2) as seconds:
                trainer.memory.stop_writer(seconds)
    except Exception as exc:  # noqa: BLE001 - the host is ending: report, never raise
        warn_failure(log, "foundups-training: stopping the memory's background writer failed",
                     exc, logging.ERROR)  # fmt: skip


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
except (Exception, SystemExit):  # importing this module must never raise into the host
    log.exception("foundups-training activation failed")
