"""The one PluginManager: entry-point loading, allow/deny lists, failure isolation.

Plugins register in the entry-point group ``foundups_training`` (this distribution registers
its own training plugin there). ``FOUNDUPS_TRAINING_PLUGINS`` (allow-list) and
``FOUNDUPS_TRAINING_DISABLE`` (deny-list) name entry points to load or skip. A plugin that
fails to import, or raises from a hook, is logged and skipped: it never takes the host down.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import EntryPoint, distributions
from typing import Any, cast

import pluggy

from foundups_training import hookspecs
from foundups_training.hookspecs import PROJECT
from foundups_training.logs import describe, trace

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = PROJECT

_lock = threading.Lock()
_manager: pluggy.PluginManager | None = None

#: Problems met while loading plugins: (name, message). Shown by ``status``.
load_errors: list[tuple[str, str]] = []

#: What a plugin may raise that is still the plugin's failure, not the host's: SystemExit
#: too (a module that calls ``sys.exit()`` when a dependency is missing would otherwise end
#: the host at ``import foundups_training.auto``). KeyboardInterrupt is the operator's, and
#: goes through.
PLUGIN_ERRORS: tuple[type[BaseException], ...] = (Exception, SystemExit)

#: Every IsolatingPluginManager, for the fork handler below.
_managers: weakref.WeakSet[IsolatingPluginManager] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """Give a forked child fresh locks: one held by another thread of the parent at the
    moment of the fork would stay held forever in the child (that thread does not exist
    there), and the child's first hook call or plugin load would hang on it."""
    global _lock
    _lock = threading.Lock()
    for manager in list(_managers):
        manager._drop_lock = threading.Lock()
        manager._running = {}  # the parent's threads do not exist here


if hasattr(os, "register_at_fork"):  # not on Windows, where nothing forks
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _split(value: str | None) -> set[str]:
    return {v.strip() for v in (value or "").split(",") if v.strip()}


def selection_lists() -> tuple[set[str], set[str]]:
    """The allow-list and deny-list of entry-point names, from the settings.

    The settings hold them from ``FOUNDUPS_TRAINING_PLUGINS`` / ``..._DISABLE`` and from the
    TOML file's ``plugins_allow`` / ``plugins_deny`` (the environment wins): reading the
    environment alone left those keys of the file accepted and without effect. A file that
    cannot be read falls back to the environment (the error is the Trainer's to report,
    when it is built).
    """
    try:
        from foundups_training.config import load_settings

        settings = load_settings()
        return set(settings.plugins_allow), set(settings.plugins_deny)
    except Exception as exc:  # noqa: BLE001 - loading plugins never fails on a setting
        log.warning(
            "plugin allow/deny lists: %s; using FOUNDUPS_TRAINING_PLUGINS and "
            "FOUNDUPS_TRAINING_DISABLE alone",
            exc,
        )
        env = os.environ
        return _split(env.get("FOUNDUPS_TRAINING_PLUGINS")), _split(
            env.get("FOUNDUPS_TRAINING_DISABLE")
        )


def group_entry_points(group: str) -> tuple[list[EntryPoint], list[tuple[str, str]]]:
    """The entry points of ``group``, read one distribution at a time; and the
    distributions whose entry points could not be read, as (name, error).

    ``importlib.metadata.entry_points()`` reads every installed distribution's
    ``entry_points.txt`` at once, so one malformed file anywhere in the environment (a
    package of the host's, unrelated to this plugin) made it raise, and no plugin or adapter
    at all was loaded. As there, a distribution found twice on ``sys.path`` counts once
    (the first found wins).
    """
    found: list[EntryPoint] = []
    errors: list[tuple[str, str]] = []
    seen: set[str] = set()
    for dist in distributions():
        label = str(getattr(dist, "_path", "") or "a distribution")
        try:
            key = getattr(dist, "_normalized_name", None) or dist.metadata["Name"] or ""
            if key:
                if key in seen:
                    continue
                seen.add(key)
                label = str(dist.metadata["Name"] or label)
            found.extend(dist.entry_points.select(group=group))
        except Exception as exc:  # noqa: BLE001 - one broken distribution, not all of them
            errors.append((label, f"{type(exc).__name__}: {exc}"))
    return found, errors


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
        # The plugin each thread is inside (thread id -> plugin name), for a caller that
        # stopped waiting to say which plugin still runs (see :meth:`running_in`).
        self._running: dict[int, str] = {}
        _managers.add(self)

    def running_in(self, thread_id: int | None) -> str | None:
        """The plugin whose hook implementation the thread ``thread_id`` is running now
        (inside :meth:`call_safely`), or None."""
        return self._running.get(thread_id) if thread_id is not None else None

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> pluggy.HookimplOpts | None:
        """The hook options of ``plugin.name``, found without running any of the plugin.

        pluggy before 1.7 read each attribute with ``getattr``, which runs properties:
        registering the training plugin built its whole trainer (store, embedding model) on
        the registering thread, and a bad setting raised out of ``register``. Attributes are
        read statically here, whatever pluggy's version; only routines can be hooks.
        """
        try:
            found = inspect.getattr_static(plugin, name)
        except AttributeError:
            return None
        if isinstance(found, (staticmethod, classmethod)):
            found = found.__func__
        if not inspect.isroutine(found):  # properties, other descriptors, data: never run
            return None
        try:
            opts = getattr(found, self.project_name + "_impl", None)
        except Exception:  # noqa: BLE001 - an odd routine is no hook
            return None
        return cast("pluggy.HookimplOpts", opts) if isinstance(opts, dict) else None

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
        # pluggy accepts an implementation of a hook it has no spec for (``on_decison``), and
        # never calls it: without a word, a typo would leave the plugin deaf to that hook.
        unknown = sorted(
            caller.name for caller in self.get_hookcallers(plugin) or [] if not caller.has_spec()
        )
        if unknown:
            log.warning(
                "plugin %s: %s %s not a hook of %s (the hooks: on_decision, on_idle, "
                "on_query) and will never be called",
                registered,
                ", ".join(unknown),
                "is" if len(unknown) == 1 else "are",
                PROJECT,
            )
        return registered

    def call_safely(self, hook_name: str, **kwargs: Any) -> Any:
        """Call a hook; a plugin that raises is reported and dropped, never propagated.

        Returns what pluggy would: the first non-None result of a ``firstresult`` hook (or
        None), else the list of non-None results.
        """
        return self._call(hook_name, None, kwargs)

    def call_one(self, plugin: object, hook_name: str, **kwargs: Any) -> Any:
        """:meth:`call_safely` of ``plugin``'s implementation alone (None or [] once it is
        unregistered): the bridge hands each plugin its decisions on a thread of its own,
        with the same isolation as every hook call."""
        return self._call(hook_name, plugin, kwargs)

    def _call(self, hook_name: str, only: object | None, kwargs: dict[str, Any]) -> Any:
        try:
            hook = getattr(self.hook, hook_name)
            firstresult = bool(hook.spec and hook.spec.opts.get("firstresult", False))
            impls = hook.get_hookimpls()
            if only is not None:
                impls = [impl for impl in impls if impl.plugin is only]
        except Exception as exc:  # noqa: BLE001 - a caller's mistake must not reach the host
            log.error("cannot call hook %s: %s: %s", hook_name, type(exc).__name__, exc)
            return None
        results: list[Any] = []
        expected = hookspecs.RESULT_TYPES.get(hook_name)
        me = threading.get_ident()
        outer = self._running.get(me)  # a hook that calls a hook: restored afterwards
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
            self._running[me] = impl.plugin_name
            try:
                result = impl.function(*args)
            except PLUGIN_ERRORS as exc:  # isolation is the point
                self._drop(impl.plugin, impl.plugin_name, hook_name, exc)
                continue
            finally:
                if outer is None:
                    self._running.pop(me, None)
                else:
                    self._running[me] = outer
            wrong = _wrong_result(result, expected)
            if wrong:
                self._drop(impl.plugin, impl.plugin_name, hook_name, TypeError(wrong), "returned")
                continue
            if result is not None:
                if firstresult:
                    return result
                results.append(result)
        return None if firstresult else results

    def _drop(
        self, plugin: object, name: str, hook_name: str, exc: BaseException, how: str = "raised"
    ) -> None:
        """Record that ``plugin`` raised in ``hook_name`` (``how="raised"``), or returned what
        the host cannot use (``"returned"``), and unregister it (never raises)."""
        # describe(): a plugin's exception whose __str__ raises must not raise out of here
        error = describe(exc) if how == "raised" else str(exc)
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
                "plugin %s %s in %s: %s; it is disabled for the rest of this process",
                name,
                "raised" if how == "raised" else "broke the hook's contract",
                hook_name,
                error,
                exc_info=trace(log, exc) if how == "raised" else None,
            )
        else:  # another thread met the same failure first and already dropped it
            log.debug("plugin %s (already disabled) raised in %s: %s", name, hook_name, error)


def load_entry_points(
    pm: pluggy.PluginManager,
    allow: set[str] | None = None,
    deny: set[str] | None = None,
    eps: Sequence[EntryPoint] | None = None,
) -> list[str]:
    """Register every selected entry point of the group; returns the names registered.

    ``allow`` / ``deny`` default to :func:`selection_lists`. Never raises: an entry point that
    cannot be imported, instantiated or registered, or names None, is logged once and listed
    in :data:`load_errors`.
    """
    if allow is None or deny is None:
        allow_set, deny_set = selection_lists()
        allow = allow_set if allow is None else allow
        deny = deny_set if deny is None else deny
    if eps is None:
        eps, broken = group_entry_points(ENTRY_POINT_GROUP)
        for dist, message in broken:
            load_errors.append((dist, message))
            log.error("distribution %s: entry points cannot be read: %s; skipped", dist, message)
    registered = []
    for ep in _selected(eps, allow, deny):
        if pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
            if isinstance(plugin, type):
                plugin = plugin()
            if plugin is None:
                raise TypeError("the entry point names None, not a plugin")
            if pm.register(plugin, name=ep.name) is None:
                raise ValueError("the plugin manager refused it (a blocked name)")
        except PLUGIN_ERRORS as exc:  # a broken plugin must not break the host
            # One line, as every failure is logged (pluggy's validation errors span several).
            message = " ".join(f"{type(exc).__name__}: {exc}".split())
            load_errors.append((ep.name, message))
            log.error("plugin %s (%s) failed to load: %s; skipped", ep.name, ep.value, message)
            continue
        registered.append(ep.name)
    return registered


def _wrong_result(result: Any, expected: type | None) -> str:
    """Why a hook's result cannot be handed to the host ("" when it can).

    A coroutine is refused for every hook: an ``async def`` implementation is never awaited,
    so it would never run at all.
    """
    if inspect.iscoroutine(result):
        result.close()  # no "never awaited" warning later, far from the plugin
        return "returned a coroutine: async hook implementations are not supported"
    if result is None or expected is None or isinstance(result, expected):
        return ""
    return f"returned {type(result).__name__}, not {expected.__name__} or None"


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
