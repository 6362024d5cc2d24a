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
from foundups_training.logs import trace

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

    :meth:`call_safely` calls the implementations one at a time, in pluggy's order
    (``tryfirst`` first, then the last registered first). One that raises is logged, counted
    in :attr:`failures` and unregistered for the rest of the process; the call goes on with
    the implementations not called yet, so every healthy one runs exactly once per call and the
    caller (a host DAE) gets the others' results.
    """

    def __init__(self) -> None:
        super().__init__(PROJECT)
        self.add_hookspecs(hookspecs)
        self.failures: list[tuple[str, str, str]] = []  # (plugin, hook, error)
        # Dropping a plugin and recording it: several host threads may fail in one plugin at
        # the same moment, and only the first of them may unregister it.
        self._drop_lock = threading.Lock()

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin``; hook wrappers are not part of the contract and never called."""
        registered = super().register(plugin, name)
        wrappers = sorted(
            {
                caller.name
                for caller in self.get_hookcallers(plugin) or []
                for impl in caller.get_hookimpls()
                if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper)
            }
        )
        if wrappers:
            log.warning(
                "plugin %s: hook wrappers are not supported and will not be called (%s)",
                registered,
                ", ".join(wrappers),
            )
        return registered

    def call_safely(self, hook_name: str, **kwargs: Any) -> Any:
        """Call a hook; a plugin that raises is reported and dropped, never propagated.

        Returns what pluggy would: the first non-None result of a ``firstresult`` hook (or
        None), else the list of non-None results.
        """
        try:
            hook = getattr(self.hook, hook_name)
            firstresult = bool(hook.spec and hook.spec.opts.get("firstresult", False))
            impls = hook.get_hookimpls()
        except Exception as exc:  # noqa: BLE001 - a caller's mistake must not reach the host
            log.error("cannot call hook %s: %s: %s", hook_name, type(exc).__name__, exc)
            return None
        results: list[Any] = []
        # get_hookimpls() is in registration order with tryfirst last; pluggy calls it from
        # the end. Each implementation is called here once, so one that raises never makes
        # the others run again.
        for impl in reversed(impls):
            if impl.wrapper or impl.hookwrapper:
                continue
            try:
                args = [kwargs[name] for name in impl.argnames]
            except KeyError as missing:
                log.error("hook %s called without argument %s", hook_name, missing)
                return None if firstresult else results
            try:
                result = impl.function(*args)
            except Exception as exc:  # noqa: BLE001 - isolation is the point
                self._drop(impl.plugin, impl.plugin_name, hook_name, exc)
                continue
            if result is not None:
                if firstresult:
                    return result
                results.append(result)
        return None if firstresult else results

    def _drop(self, plugin: object, name: str, hook_name: str, exc: Exception) -> None:
        """Record that ``plugin`` raised in ``hook_name`` and unregister it (never raises)."""
        error = f"{type(exc).__name__}: {exc}"
        with self._drop_lock:
            self.failures.append((name, hook_name, error))
            registered = self.is_registered(plugin)
            if registered:
                try:
                    self.unregister(plugin)
                except Exception as unregister_error:  # noqa: BLE001
                    log.debug("unregistering plugin %s failed: %s", name, unregister_error)
        if registered:
            log.error(
                "plugin %s raised in %s: %s; it is disabled for the rest of this process",
                name,
                hook_name,
                error,
                exc_info=trace(log, exc),
            )
        else:  # another thread met the same failure first and already dropped it
            log.debug("plugin %s (already disabled) raised in %s: %s", name, hook_name, error)


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


def use_only(plugin: object, name: str = "training") -> IsolatingPluginManager:
    """Make ``plugin`` the process's only plugin (no entry point is loaded) and return the
    manager: for an application, a benchmark or a test that builds its own TrainingPlugin
    (on a Trainer of its own settings) instead of the one the entry point names."""
    pm = IsolatingPluginManager()
    pm.register(plugin, name=name)
    reset_plugin_manager(lambda: pm)
    return pm


def plugin_names() -> list[str]:
    """Names of the registered plugins."""
    pm = get_plugin_manager()
    return sorted(str(pm.get_name(p)) for p in pm.get_plugins())


def warm_up() -> threading.Thread:
    """Load the plugins and warm the training plugin in a daemon thread; returns the thread.

    For a host that wants this done before its first message: its first hook call then finds
    the plugin manager loaded and the live learner being built, and pays for neither. It
    opens the store, so activation (``import foundups_training.auto``) does not call it.
    """

    def run() -> None:
        try:
            from foundups_training.plugin import TrainingPlugin

            for plugin in get_plugin_manager().get_plugins():
                if isinstance(plugin, TrainingPlugin):
                    plugin.warm()
        except Exception as exc:  # noqa: BLE001 - warming is an optimisation, never a failure
            log.warning("warming the plugins failed: %s: %s", type(exc).__name__, exc)

    thread = threading.Thread(target=run, name="foundups-training-warm-up", daemon=True)
    thread.start()
    return thread
