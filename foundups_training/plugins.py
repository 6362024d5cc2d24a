"""The one PluginManager: entry-point loading, allow/deny lists, failure isolation.

Plugins register in the entry-point group ``foundups_training`` (this distribution registers
its own training plugin there). ``FOUNDUPS_TRAINING_PLUGINS`` (allow-list) and
``FOUNDUPS_TRAINING_DISABLE`` (deny-list) name entry points to load or skip. A plugin that
fails to import, or raises from a hook, is logged and skipped: it never takes the host down.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from foundups_training import hookspecs
from foundups_training.hookspecs import PROJECT

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = PROJECT

_lock = threading.Lock()
_manager: pluggy.PluginManager | None = None

#: Problems met while loading plugins: (name, message). Shown by ``status``.
load_errors: list[tuple[str, str]] = []


def _split(value: str | None) -> set[str]:
    return {v.strip() for v in (value or "").split(",") if v.strip()}


def _selected(names: Iterable[EntryPoint], allow: set[str], deny: set[str]) -> list[EntryPoint]:
    chosen = []
    for ep in names:
        if allow and ep.name not in allow:
            continue
        if ep.name in deny:
            continue
        chosen.append(ep)
    return chosen


class IsolatingPluginManager(pluggy.PluginManager):
    """A PluginManager whose hook calls survive a plugin that raises.

    A raising implementation is logged, unregistered for the rest of the process, and the
    call is retried without it, so the caller (a host DAE) sees the other plugins' results.
    """

    def __init__(self) -> None:
        super().__init__(PROJECT)
        self.add_hookspecs(hookspecs)
        self.failures: list[tuple[str, str, str]] = []  # (plugin, hook, error)

    def call_safely(self, hook_name: str, **kwargs: Any) -> Any:
        """Call a hook; a plugin that raises is reported and dropped, never propagated."""
        hook = getattr(self.hook, hook_name)
        for _ in range(len(self.get_plugins()) + 1):
            try:
                return hook(**kwargs)
            except Exception as exc:  # noqa: BLE001 - isolation is the point
                culprit = _culprit(self, hook_name, exc)
                name = self.get_name(culprit) if culprit is not None else "?"
                self.failures.append((str(name), hook_name, f"{type(exc).__name__}: {exc}"))
                log.error("plugin %s raised in %s: %s; it is disabled", name, hook_name, exc)
                if culprit is None:
                    return None
                self.unregister(culprit)
        return None


def _culprit(pm: pluggy.PluginManager, hook_name: str, exc: BaseException) -> object | None:
    """Find which plugin's implementation raised, from the traceback's frames."""
    impls = getattr(pm.hook, hook_name).get_hookimpls()
    codes = {
        impl.function.__code__: impl.plugin for impl in impls if hasattr(impl.function, "__code__")
    }
    tb = exc.__traceback__
    found = None
    while tb is not None:
        plugin = codes.get(tb.tb_frame.f_code)
        if plugin is not None:
            found = plugin
        tb = tb.tb_next
    return found


def load_entry_points(
    pm: pluggy.PluginManager,
    allow: set[str] | None = None,
    deny: set[str] | None = None,
    eps: Sequence[EntryPoint] | None = None,
) -> list[str]:
    """Register every selected entry point of the group; returns the names registered."""
    allow = _split(os.environ.get("FOUNDUPS_TRAINING_PLUGINS")) if allow is None else allow
    deny = _split(os.environ.get("FOUNDUPS_TRAINING_DISABLE")) if deny is None else deny
    if eps is None:
        eps = list(entry_points(group=ENTRY_POINT_GROUP))
    registered = []
    for ep in _selected(eps, allow, deny):
        if pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
            if isinstance(plugin, type):
                plugin = plugin()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the host
            message = f"{type(exc).__name__}: {exc}"
            load_errors.append((ep.name, message))
            log.error("plugin %s (%s) failed to load: %s; skipped", ep.name, ep.value, message)
            continue
        registered.append(ep.name)
    return registered


def get_plugin_manager() -> IsolatingPluginManager:
    """The process-wide plugin manager, created and loaded on first use."""
    global _manager
    with _lock:
        if _manager is None:
            pm = IsolatingPluginManager()
            load_entry_points(pm)
            _manager = pm
        return _manager  # type: ignore[return-value]


def reset_plugin_manager(factory: Callable[[], IsolatingPluginManager] | None = None) -> None:
    """Forget the process-wide manager (tests; re-reading the allow/deny lists)."""
    global _manager
    with _lock:
        _manager = factory() if factory else None
        load_errors.clear()


def plugin_names() -> list[str]:
    """Names of the registered plugins."""
    pm = get_plugin_manager()
    return sorted(str(pm.get_name(p)) for p in pm.get_plugins())
