"""The Instrumentor base: attach wrappers to host methods without editing the host.

Modelled on OpenTelemetry's instrumentors. Each subclass names its targets (a host module's
dotted name and a ``Class.method`` path) and gives one wrapper per target. ``instrument()``
registers a wrapt post-import hook per module, so the wrapper lands whether the host module is
imported before or after activation; ``uninstrument()`` removes exactly the wrappers it put in.
Both are idempotent and thread-safe. A target module whose body runs again (``importlib.reload``,
or a fresh import after it left ``sys.modules``) is wrapped again: wrapt's hook fires once per
hook, so a meta-path finder (:class:`_ExecWatcher`) sees those runs. An import (or reload)
another thread has under way when ``instrument()`` runs, past the finders or in the middle of
the body, is wrapped once it ends (:meth:`Instrumentor._catch_up_with_imports`).

The contract every wrapper keeps: the wrapped call returns exactly what the original returns
and raises exactly what it raises. Anything the plugin side does happens in :meth:`observe`,
which swallows and counts its own errors.
"""

from __future__ import annotations

import copy
import inspect
import logging
import pickle
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from importlib import _bootstrap
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, ClassVar

import wrapt

from foundups_training import signals
from foundups_training.logs import describe
from foundups_training.records import Decision

log = logging.getLogger(__name__)

#: The signature wrapt gives a wrapper: (wrapped, instance, args, kwargs) -> result.
Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Target:
    """One host callable to wrap: ``module`` (dotted), ``path`` (``Class.method``) and the
    name of the instrumentor method that serves as its wrapt wrapper."""

    module: str
    path: str
    wrapper: str


def awaitable(value: Any) -> bool:
    """Whether a host method returned something to await (True when it cannot be told: the
    async path is what an async host method needs)."""
    try:
        return inspect.isawaitable(value)
    except Exception:  # noqa: BLE001 - a host object whose type checks raise
        return True


def _initializing(module: ModuleType) -> bool:
    """Whether ``module``'s body is still running (the flag the import system itself reads)."""
    try:
        return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))
    except Exception:  # noqa: BLE001 - an odd module object is not half-built as far as we know
        return False


def _import_under_way(name: str) -> bool:
    """Whether some thread may hold ``name``'s import lock (True when it cannot be told).

    An import takes that lock before it asks the finders and keeps it until the module's body
    has run; the import system keeps a lock there only while someone holds or waits on it.
    """
    try:
        ref = _bootstrap._module_locks.get(name)  # type: ignore[attr-defined]
        return ref is not None and ref() is not None
    except Exception:  # noqa: BLE001 - another Python's internals: look anyway
        return True


def _wait_for_import(name: str) -> None:
    """Block until no thread holds ``name``'s import lock (its importer holds it to the end).

    The import system's own wait for a module another thread is importing; never raises.
    """
    wait = getattr(_bootstrap, "_lock_unlock_module", None)
    if wait is not None:
        wait(name)


#: True on a thread while ``instrument()`` registers its hooks: wrapt then calls a hook at once
#: for a module already in ``sys.modules``, which may still be half-built (its body running
#: on another thread, or on this one: the host's module activated the plugin). A hook a loader
#: calls runs after the body, though the module is still marked as initialising then.
_registering = threading.local()


def _watchers(name: str) -> list[Instrumentor]:
    """Active instrumentors that target module ``name`` and hold no wrapt hook for it (a
    pending hook is wrapt's to fire; an already fired one never fires again). Lock-free: the
    finder runs under the import system's locks."""
    return [
        inst
        for inst in list(Instrumentor._instances.values())
        if inst._active and name in inst._modules and name not in inst._hooks_pending
    ]


class _ExecutedLoader(wrapt.BaseObjectProxy):
    """A target module's loader that hands the module to its instrumentors after its body."""

    def __init__(self, loader: Any, name: str) -> None:
        super(_ExecutedLoader, self).__init__(loader)  # noqa: UP008 - the proxy's own super
        self._self_name = name

    def exec_module(self, module: ModuleType) -> None:
        loader = self.__wrapped__
        try:  # the module keeps its own loader, not this proxy (the import system set it)
            if getattr(module, "__loader__", None) is self:
                module.__loader__ = loader
            spec = getattr(module, "__spec__", None)
            if spec is not None and getattr(spec, "loader", None) is self:
                spec.loader = loader
            watchers = _watchers(self._self_name)  # before: a hook wrapt fires meanwhile is its
        except Exception:  # noqa: BLE001 - never in the way of the host's import
            watchers = []
        loader.exec_module(module)
        for inst in watchers:
            inst._post_import(module)  # never raises


class _ExecWatcher:
    """Meta-path finder: every run of an instrumented module's body after the first.

    ``importlib.reload`` and an import after the module left ``sys.modules`` both find the
    module's spec through ``sys.meta_path`` and run the body again: new classes and functions,
    the host's bare ones. wrapt's post-import hook fired on the first import and is gone, so
    without this the decisions stopped reaching the plugin without a word. For any other name
    it answers ``None`` at once; it finds the spec the way the import system would (the other
    finders, in order) and only puts :class:`_ExecutedLoader` around its loader.
    """

    def __init__(self) -> None:
        self._finding = threading.local()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        try:
            if not _watchers(name):
                return None
            finding: set[str] = self._finding.__dict__.setdefault("names", set())
            if name in finding:  # another finder asked the import system again
                return None
            finding.add(name)
            try:
                spec = self._find_elsewhere(name, path, target)
            finally:
                finding.discard(name)
            loader = getattr(spec, "loader", None)
            if spec is not None and loader is not None and hasattr(loader, "exec_module"):
                spec.loader = _ExecutedLoader(loader, name)  # type: ignore[assignment]
            return spec
        except Exception:  # the finders after this one answer as they would have
            log.debug("could not watch the import of %s", name, exc_info=True)
            return None

    def _find_elsewhere(self, name: str, path: Any, target: Any) -> ModuleSpec | None:
        for finder in list(sys.meta_path):
            find = None if finder is self else getattr(finder, "find_spec", None)
            if find is not None:
                spec = find(name, path, target)
                if spec is not None:
                    return spec  # type: ignore[no-any-return]
        return None


_WATCHER = _ExecWatcher()
_watcher_lock = threading.Lock()


def _install_watcher() -> None:
    """Put the finder first on ``sys.meta_path`` (again, if something took it off)."""
    with _watcher_lock:
        if not any(finder is _WATCHER for finder in sys.meta_path):
            sys.meta_path.insert(0, _WATCHER)


def _owner_of(function: Any) -> Any:
    """The class (or module) that holds ``function``, found by its qualified name."""
    module = sys.modules[function.__module__]
    return reduce(getattr, function.__qualname__.split(".")[:-1], module)


class _BoundHostWrapper(wrapt.BoundFunctionWrapper):
    """A wrapped host method as its instance (or class) hands it out.

    It pickles and copies as the bound method it stands for: ``getattr(instance, name)``,
    with the instance copied for ``deepcopy``. wrapt's proxies refuse all three, so a host
    that pickles a callback for a worker or deep-copies a table of handlers would fail
    only because it was instrumented.
    """

    def __reduce_ex__(self, protocol: Any) -> Any:
        try:
            instance = self._self_instance
            name = self.__wrapped__.__name__
            if instance is None:  # reached through the class: the plain function
                instance = _owner_of(self.__wrapped__)
        except Exception as exc:  # as unpicklable as the bare one
            raise pickle.PicklingError(f"cannot pickle {self.__wrapped__!r}") from exc
        return (getattr, (instance, name))

    def __reduce__(self) -> Any:
        return self.__reduce_ex__(2)

    def __copy__(self) -> Any:
        rebuild, args = self.__reduce_ex__(4)
        return rebuild(*args)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        rebuild, args = self.__reduce_ex__(4)
        return rebuild(*copy.deepcopy(args, memo))


class _HostWrapper(wrapt.FunctionWrapper):
    """What the instrumentors put in place of a host function or method.

    A module-level function pickles by its qualified name and copies as itself, as the
    bare function does; a method's raw class attribute pickles as the class's attribute.
    """

    __bound_function_wrapper__ = _BoundHostWrapper

    def __reduce_ex__(self, protocol: Any) -> Any:
        wrapped = self.__wrapped__
        try:
            owner = _owner_of(wrapped)
        except Exception:  # noqa: BLE001 - pickle's own lookup will say what is wrong
            return wrapped.__qualname__
        if isinstance(owner, type):
            return (getattr, (owner, wrapped.__name__))
        return wrapped.__qualname__  # pickle finds this wrapper under that name

    def __reduce__(self) -> Any:
        return self.__reduce_ex__(2)

    def __copy__(self) -> Any:
        return self  # functions are immutable to ``copy``

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self


def _rebind(original: Any, wrapper: Any, name: str, skip: ModuleType) -> list[dict[str, Any]]:
    """Point every other module's global ``name`` that is ``original`` at ``wrapper``.

    ``from host.module import function`` run before instrumenting (main.py binds the
    training entry points that way at import) keeps the bare function under the importing
    module's own name, and that name is what the host calls. Returns the namespaces changed.
    """
    changed: list[dict[str, Any]] = []
    for module in list(sys.modules.values()):
        if module is skip:
            continue
        try:
            # By its type and its raw namespace: touching a lazy module's attributes (even
            # ``__class__``) would load it.
            if not issubclass(type(module), ModuleType):
                continue
            namespace = object.__getattribute__(module, "__dict__")
            if namespace.get(name) is original:
                namespace[name] = wrapper
                changed.append(namespace)
        except Exception:  # noqa: BLE001 - an odd entry in sys.modules is not ours to fix
            continue
    return changed


class Instrumentor:
    """Base class of the adapters: one instance per subclass (like OpenTelemetry's).

    Subclasses set :attr:`name` and :attr:`targets` and define the wrapper methods the targets
    name. They may override :meth:`_on_instrument` / :meth:`_on_uninstrument` for set-up that
    is not a wrapper.
    """

    name: ClassVar[str] = "base"
    targets: ClassVar[tuple[Target, ...]] = ()

    _instances: ClassVar[dict[type, Instrumentor]] = {}
    _instances_lock: ClassVar[threading.Lock] = threading.Lock()

    def __new__(cls, *args: Any, **kwargs: Any) -> Instrumentor:
        # One instance per class: activation from the launcher, the one-line import and a
        # test all see (and undo) the same state.
        with cls._instances_lock:
            inst = cls._instances.get(cls)
            if inst is None:
                inst = super().__new__(cls)
                inst._init_state()
                cls._instances[cls] = inst
            return inst

    def _init_state(self) -> None:
        self._lock = threading.RLock()
        self._active = False
        self._options: dict[str, Any] = {}
        self._modules = frozenset(t.module for t in self.targets)
        # (module name, path) -> (module, owner, attribute, wrapt handle) of every wrapper in
        # place on the module's current definitions.
        self._applied: dict[tuple[str, str], tuple[ModuleType, Any, str, Any]] = {}
        # (owner, attribute, handle) of wrappers on definitions the module's body replaced
        # when it ran again: instances made before still call them; ``uninstrument`` too.
        self._superseded: list[tuple[Any, str, Any]] = []
        # Other modules' globals pointed at a wrapper: (namespace, name, original, wrapper).
        self._aliases: list[tuple[dict[str, Any], str, Any, Any]] = []
        # Modules whose post-import hook is registered with wrapt and has not fired yet: wrapt
        # keeps such a hook until the import (``uninstrument`` cannot take it back), so a
        # later ``instrument`` must not add a second one (each cycle added one more).
        self._hooks_pending: set[str] = set()
        #: Errors swallowed inside wrappers, by wrapper name (shown by ``status``/tests).
        self.errors: dict[str, int] = {}
        self.last_error: str = ""
        # Guards ``errors`` only (several host threads may fail at once); never held for work.
        self._errors_lock = threading.Lock()

    # -- public surface ---------------------------------------------------------------------
    def instrumentation_dependencies(self) -> tuple[str, ...]:
        """The host modules this instrumentor attaches to."""
        return tuple(sorted({t.module for t in self.targets}))

    @property
    def is_instrumented(self) -> bool:
        """Whether :meth:`instrument` is in effect."""
        return self._active

    def applied(self) -> list[str]:
        """``module:path`` of every wrapper currently in place."""
        with self._lock:
            return sorted(f"{m}:{p}" for m, p in self._applied)

    def instrument(self, **options: Any) -> None:
        """Attach to the host now, or when its modules get imported (idempotent)."""
        with self._lock:
            if self._active:
                return
            self._active = True
            self._options = dict(options)
            self._on_instrument(**options)
            # One already imported gets its hook again (wrapt runs it at once, keeps nothing).
            modules = sorted(
                m
                for m in {t.module for t in self.targets}
                if m not in self._hooks_pending or m in sys.modules
            )
            self._hooks_pending.update(m for m in modules if m not in sys.modules)
        _install_watcher()
        for module in modules:
            # Fires at once when the module is already imported, else right after its import.
            _registering.active = True
            try:
                wrapt.register_post_import_hook(self._post_import, module)
            finally:
                _registering.active = False
        self._catch_up_with_imports()

    def uninstrument(self) -> None:
        """Remove every wrapper this instrumentor put in (idempotent)."""
        with self._lock:
            if not self._active:
                return
            self._active = False
            for (module_name, path), (_, owner, attribute, handle) in list(self._applied.items()):
                try:
                    wrapt.unwrap_object(owner, attribute, handle)
                except Exception as exc:  # noqa: BLE001 - someone re-patched it; leave theirs
                    log.warning("could not unwrap %s:%s: %s", module_name, path, exc)
            self._applied.clear()
            for owner, attribute, handle in self._superseded:
                try:
                    wrapt.unwrap_object(owner, attribute, handle)
                except Exception:  # noqa: BLE001 - a module function the new run replaced
                    pass
            self._superseded.clear()
            for namespace, name, original, wrapper in self._aliases:
                if namespace.get(name) is wrapper:  # one the host rebound is the host's
                    namespace[name] = original
            self._aliases.clear()
            self._on_uninstrument()

    # -- hooks for subclasses -----------------------------------------------------------------
    def _on_instrument(self, **options: Any) -> None:
        """Set-up beyond wrappers (default: none)."""

    def _on_uninstrument(self) -> None:
        """Tear-down beyond wrappers (default: none)."""

    # -- machinery ------------------------------------------------------------------------------
    def _post_import(self, module: ModuleType) -> None:
        # Called by wrapt's import machinery: an exception here would break the host's import.
        try:
            with self._lock:
                self._hooks_pending.discard(module.__name__)  # wrapt has let go of it
            registering = getattr(_registering, "active", False)
            if registering and _initializing(module):
                self._apply_when_imported(module)
                return
            self._apply(module)
            if registering and _import_under_way(module.__name__):
                # A reload's body may be running (a reload does not mark the module
                # initialising): it would replace what was just wrapped with bare definitions.
                self._apply_after_import(module.__name__)
        except Exception:  # an import hook that raises would break the host's import
            log.exception("%s: could not instrument %s", self.name, module.__name__)

    def _apply_when_imported(self, module: ModuleType) -> None:
        """Wrap a half-built module's targets once its import completes.

        Its classes may not exist yet, and its loader, chosen before any hook was registered,
        will call none when the body ends. A daemon thread waits on the module's import lock
        (never this thread: the body may be running on it) and applies then. An import that
        fails leaves nothing to wrap; a retry runs the body again, which the finder sees.
        """
        name = module.__name__

        def apply() -> None:
            if _initializing(module):
                log.warning("%s: could not wait for the import of %s", self.name, name)
            elif sys.modules.get(name) is module:
                self._post_import(module)

        self._after_import(name, apply)

    def _catch_up_with_imports(self) -> None:
        """Wrap a target module another thread's import had found before the hook was there.

        That import asked ``sys.meta_path`` before wrapt's hook was registered (the watcher
        stands aside for a pending hook) and had not put the module in ``sys.modules`` when it
        was: the hook would wait for an import that already passed its finder, and the module
        was never wrapped. Such an import holds the module's import lock from before its
        finders to after its body, so a hook still pending here is checked against that lock
        first, then ``sys.modules`` (an import that ended in between is caught by the second;
        one that begins after it goes through wrapt's finder). Wrapping twice is harmless:
        :meth:`_apply` leaves a module's wrapped definitions alone. Never raises.
        """
        try:
            with self._lock:
                pending = sorted(self._hooks_pending & self._modules)
            for name in pending:
                if _import_under_way(name) or name in sys.modules:
                    self._apply_after_import(name)
        except Exception:  # instrument() runs in the host's start-up: never raise there
            log.exception("%s: could not look for imports under way", self.name)

    def _apply_after_import(self, name: str) -> None:
        """Wrap module ``name`` once no thread holds its import lock.

        On a daemon thread: the import may be this thread's own (a host loader that activates
        the plugin), or wait on a lock this thread holds. A wrapt hook still registered stays
        pending here: it fires when the body runs again, and the watcher stands aside. An
        import that failed leaves nothing to wrap; its retry goes through the finders.
        """

        def apply() -> None:
            module = sys.modules.get(name)
            # Running again means it was found after the hook was registered: wrapt's.
            if module is not None and not _initializing(module):
                self._apply(module)

        self._after_import(name, apply)

    def _after_import(self, name: str, then: Callable[[], None]) -> None:
        """Run ``then`` on a daemon thread once no thread holds module ``name``'s import
        lock; what it raises is logged, never raised."""

        def run() -> None:
            try:
                _wait_for_import(name)
                then()
            except Exception:  # a daemon thread's error is only ours to say
                log.exception("%s: could not instrument %s", self.name, name)

        threading.Thread(target=run, name=f"foundups-training-import-{name}", daemon=True).start()

    def _apply(self, module: ModuleType) -> None:
        with self._lock:
            if not self._active:
                return  # a hook registered before an uninstrument(); nothing to do
            for target in self.targets:
                if target.module != module.__name__:
                    continue
                key = (target.module, target.path)
                previous = self._applied.get(key)
                if (
                    previous is not None
                    and previous[0] is module
                    and self._still_wrapped(module, target.path, previous[3])
                ):
                    continue
                try:
                    owner, attribute, _ = wrapt.resolve_path(module, target.path)
                    handle = wrapt.wrap_object(
                        owner, attribute, _HostWrapper, (getattr(self, target.wrapper),)
                    )
                except (AttributeError, wrapt.PathResolutionError) as exc:
                    # The host moved or renamed it: attach to the rest, say what is missing.
                    log.warning("%s: %s:%s not found (%s)", self.name, *key, exc)
                    continue
                if previous is not None:
                    # The module's body ran again (a reload): new definitions, wrapped now.
                    self._superseded.append(previous[1:])
                    log.info("%s: %s:%s defined again; wrapped again", self.name, *key)
                self._applied[key] = (module, owner, attribute, handle)
                if "." not in target.path:  # a module-level function others may hold
                    original = handle.__wrapped__
                    for namespace in _rebind(original, handle, target.path, module):
                        self._aliases.append((namespace, target.path, original, handle))

    @staticmethod
    def _still_wrapped(module: ModuleType, path: str, handle: Any) -> bool:
        try:
            owner, attribute, _ = wrapt.resolve_path(module, path)
            # The raw attribute (a class's or the module's), not a bound method: wrapt's chain
            # starts there.
            current = vars(owner).get(attribute)
            return current is not None and wrapt.is_wrapped_by(current, handle)
        except Exception:  # noqa: BLE001
            return False

    def observe(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run plugin-side work for a wrapper; its errors are logged and counted, never raised."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the host must never see our failures
            self.record_error(what, exc)
            return None

    def record_error(self, what: str, exc: BaseException) -> None:
        """Count a swallowed error; the first of each kind is a warning (never raises).

        A failure here usually means a decision was lost (the host changed a shape, a
        receiver is broken): counted only, or logged at DEBUG only, it would be lost silently.
        Later ones of the same kind go to DEBUG, so a broken path cannot flood the host's log.
        """
        try:
            message = describe(exc)
            with self._errors_lock:
                n = self.errors.get(what, 0) + 1
                self.errors[what] = n
                self.last_error = f"{what}: {message}"
            if n == 1:
                log.warning(
                    "%s adapter: %s failed (%s); the host is unaffected, further failures "
                    "are counted in errors[%r]",
                    self.name,
                    what,
                    message,
                    what,
                )
            log.debug("%s: %s failed (%d so far)", self.name, what, n, exc_info=True)
        except Exception:  # noqa: BLE001 - reporting must never raise into the host
            pass

    def emit(self, decision: Decision) -> None:
        """Hand a decision to every ``decision_made`` receiver (the bridge, observers).

        Each receiver is called on its own: blinker's ``send`` stops at the first receiver
        that raises, and a broken observer must not keep the decision from the plugins.
        """
        signal = signals.decision_made
        if not signal.receivers or signal.is_muted:
            return
        for receiver in signal.receivers_for(self.name):
            try:
                receiver(self.name, decision=decision)
            except Exception as exc:  # noqa: BLE001 - one receiver's bug, not the host's
                self.record_error("receiver", exc)


def instrumentors_in_place() -> list[Instrumentor]:
    """Every instrumentor instance created in this process."""
    return list(Instrumentor._instances.values())
