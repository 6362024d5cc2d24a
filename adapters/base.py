"""The Instrumentor base: attach wrappers to host methods without editing the host.

Modelled on OpenTelemetry's instrumentors. Each subclass names its targets (a host module's
dotted name and a ``Class.method`` path) and gives one wrapper per target. ``instrument()``
registers a wrapt post-import hook per module, so the wrapper lands whether the host module is
imported before or after activation; ``uninstrument()`` removes exactly the wrappers it put in.
Both are idempotent and thread-safe.

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
        # (module name, path) -> (module object, wrapt handle) of every wrapper in place.
        self._applied: dict[tuple[str, str], tuple[ModuleType, Any]] = {}
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
        for module in modules:
            # Fires at once when the module is already imported, else right after its import.
            wrapt.register_post_import_hook(self._post_import, module)

    def uninstrument(self) -> None:
        """Remove every wrapper this instrumentor put in (idempotent)."""
        with self._lock:
            if not self._active:
                return
            self._active = False
            for (module_name, path), (module, handle) in list(self._applied.items()):
                try:
                    wrapt.unwrap_object(module, path, handle)
                except Exception as exc:  # noqa: BLE001 - someone re-patched it; leave theirs
                    log.warning("could not unwrap %s:%s: %s", module_name, path, exc)
            self._applied.clear()
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
            self._apply(module)
        except Exception:  # an import hook that raises would break the host's import
            log.exception("%s: could not instrument %s", self.name, module.__name__)

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
                    and self._still_wrapped(module, target.path, previous[1])
                ):
                    continue
                try:
                    handle = wrapt.wrap_object(
                        module, target.path, _HostWrapper, (getattr(self, target.wrapper),)
                    )
                except (AttributeError, wrapt.PathResolutionError) as exc:
                    # The host moved or renamed it: attach to the rest, say what is missing.
                    log.warning("%s: %s:%s not found (%s)", self.name, *key, exc)
                    continue
                self._applied[key] = (module, handle)
                if "." not in target.path:  # a module-level function others may hold
                    original = handle.__wrapped__
                    for namespace in _rebind(original, handle, target.path, module):
                        self._aliases.append((namespace, target.path, original, handle))

    @staticmethod
    def _still_wrapped(module: ModuleType, path: str, handle: Any) -> bool:
        try:
            owner, attribute, _ = wrapt.resolve_path(module, path)
            # The raw class attribute, not a bound method: wrapt's chain starts there.
            current = owner.__dict__.get(attribute) if isinstance(owner, type) else None
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
