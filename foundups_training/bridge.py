"""The bridge: adapter signals in, pluggy hook calls out.

One receiver per adapter signal, connected strongly (blinker holds weak references by
default, and a bridge that vanishes silently would stop all learning). Every call goes
through :meth:`IsolatingPluginManager.call_safely`, so no plugin error reaches the sender.

No plugin can hold the sender's thread either (a host DAE's, the live chat's among them):

- ``decision_made`` only appends the decision to a bounded queue (:data:`QUEUE_SIZE`) and
  returns; one daemon thread hands the decisions to ``on_decision``, in order. A plugin that
  hangs there holds that thread, never the host's: decisions wait behind it, and once the
  queue is full each new one is dropped, counted (:func:`stats`) and reported in one warning
  line (then a summary at most every :data:`DROP_WARN_S`). :func:`drain` waits until every
  queued decision was delivered (:func:`disconnect` and the process's exit do, for up to
  :data:`DRAIN_S`).
- ``query_asked`` waits for ``on_query`` at most :data:`QUERY_TIMEOUT_S`; past that the
  sender gets None (its own path applies) and a warning names the plugin still running.
  While such a call has not returned, later ones fail at once (None), as a model tier does
  (``LazyBackend.call``): one stuck thread, not one per question.
- ``idle_started`` waits for ``on_idle`` at most the budget's seconds and
  :data:`IDLE_GRACE_S` (no bound for a budget without seconds), the same way. The idle
  adapter already sends it from a daemon thread of its own, off the host's event loop, but
  the host's idle phase awaits that thread: a plugin hanging there held the host's
  AutoModeratorDAE after its stream forever.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from typing import Any

from foundups_training import signals
from foundups_training.logs import warn_failure
from foundups_training.plugins import IsolatingPluginManager, get_plugin_manager
from foundups_training.records import Answer, Decision, IdleBudget, IdleReport, Query

log = logging.getLogger(__name__)

#: Decisions waiting for the delivery thread; past this, new ones are dropped and counted
#: (as many as the live learner's own queue holds).
QUEUE_SIZE = 10_000
#: Seconds the delivery thread sleeps when the queue is empty. The host's thread never wakes
#: it (waking a thread from the host's call hands it the GIL in the middle of that call, see
#: ``LiveLearner``): a decision waits at most this long before it is delivered.
POLL_S = 0.05
#: After the first dropped decision, at most one warning line per this many seconds.
DROP_WARN_S = 60.0
#: Seconds :func:`disconnect` and the process's exit wait for queued decisions.
DRAIN_S = 5.0
#: Seconds a sender of ``query_asked`` waits for ``on_query`` (0: no bound). A question runs
#: at most two model tiers one after the other (Gemma, then the escalation to Qwen), each
#: bounded by the routing rules' ``model_timeout_s`` (300 s, its first load included), plus
#: the recall and, on first use, building the Trainer: 2 × 300 s and 300 s to spare. A
#: lower bound would cut off an answer the router is still legitimately waiting for.
QUERY_TIMEOUT_S = 900.0
#: Seconds ``on_idle`` may run past its budget's ``max_seconds`` before the sender of
#: ``idle_started`` goes on without its report: the budget bounds the mining, while the
#: Trainer's first build (imports, opening the store, loading the encoder) and the last
#: write come on top of it.
IDLE_GRACE_S = 300.0

_connected: dict[str, Any] = {}
_lock = threading.Lock()


class _Delivery:
    """The decisions on their way to ``on_decision`` and the one thread that delivers them."""

    def __init__(self) -> None:
        self.pending: deque[tuple[IsolatingPluginManager, Decision]] = deque()
        self.lock = threading.Lock()  # the queue's bound and the counters (host threads)
        self.start_lock = threading.Lock()
        self.done = threading.Condition()  # notified after each delivery (for drain)
        self.wake = threading.Event()  # set by drain, never by the host's thread
        self.worker: threading.Thread | None = None
        self.queued = 0
        self.delivered = 0
        self.dropped = 0
        self.told = 0  # drops a warning has counted
        self.warned_at = 0.0  # monotonic time of the last warning about drops
        # The delivery in progress: the manager and since when (for the warnings).
        self.current: IsolatingPluginManager | None = None
        self.since = 0.0

    def start(self) -> None:
        with self.start_lock:
            if self.worker is None:
                worker = threading.Thread(
                    target=self.run, name="foundups-training-bridge", daemon=True
                )
                worker.start()
                self.worker = worker
                _exit_drain_registered()

    def put(self, pm: IsolatingPluginManager, decision: Decision) -> None:
        """Queue ``decision`` (the host's thread): never blocks on a plugin, never raises."""
        if self.worker is None:
            try:
                self.start()
            except RuntimeError as exc:  # no thread can start (the interpreter is ending)
                log.debug("no delivery thread (%s): on_decision called inline", exc)
                pm.call_safely("on_decision", decision=decision)
                return
        with self.lock:
            if len(self.pending) < QUEUE_SIZE:
                self.pending.append((pm, decision))
                self.queued += 1
                return
            self.dropped += 1
            dropped = self.to_tell()
        if dropped:
            log.warning(
                "foundups-training: %d decision%s dropped so far: the queue to the plugins "
                "is full (%d waiting)%s",
                dropped,
                "" if dropped == 1 else "s",
                QUEUE_SIZE,
                self.blocker(),
            )

    def to_tell(self) -> int:
        """The drops to report now (under :attr:`lock`; 0: none): the first at once, then a
        summary at most every :data:`DROP_WARN_S`."""
        if self.dropped == self.told:
            return 0
        now = time.monotonic()
        if self.told and now - self.warned_at < DROP_WARN_S:
            return 0
        self.told, self.warned_at = self.dropped, now
        return self.dropped

    def blocker(self) -> str:
        """``"; plugin X has been in on_decision for N s"`` ('' when none is known)."""
        pm, worker = self.current, self.worker
        name = pm.running_in(worker.ident) if pm is not None and worker is not None else None
        if name is None:
            return ""
        return f"; plugin {name} has been in on_decision for {time.monotonic() - self.since:.0f} s"

    def run(self) -> None:
        while True:
            try:
                pm, decision = self.pending.popleft()
            except IndexError:
                if self.dropped != self.told:  # drops since the last warning: sum them up
                    with self.lock:
                        dropped = self.to_tell()
                    if dropped:
                        log.warning(
                            "foundups-training: %d decisions dropped in all while the queue "
                            "to the plugins was full",
                            dropped,
                        )
                self.wake.wait(POLL_S)
                self.wake.clear()
                continue
            self.current, self.since = pm, time.monotonic()
            try:
                pm.call_safely("on_decision", decision=decision)
            except BaseException as exc:  # noqa: BLE001 - the delivery thread survives anything
                warn_failure(log, f"delivering decision {decision.id!r} failed", exc)
            self.current = None
            with self.done:
                self.delivered += 1
                self.done.notify_all()

    def drain(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        worker = self.worker
        if worker is threading.current_thread():  # a plugin's on_decision: cannot wait on itself
            return self.delivered >= self.queued
        with self.done:
            while self.delivered < self.queued:
                left = deadline - time.monotonic()
                if left <= 0 or worker is None or not worker.is_alive():
                    return self.delivered >= self.queued
                self.wake.set()
                self.done.wait(min(left, POLL_S))
        return True


class _Overdue:
    """Hook calls that ran past their deadline and have not returned: hook -> (plugin, since)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[str, list[tuple[str, float]]] = {}
        self.told: set[str] = set()  # hooks whose fast failures were reported this episode


_delivery = _Delivery()
_overdue = _Overdue()
_exit_registered: list[bool] = []


def _exit_drain_registered() -> None:
    """Drain at the process's exit (registered when the delivery thread starts, so after
    ``foundups_training.auto``'s handler, and run before it: ``atexit`` runs the last
    registered first, and the live learner's exit flush must find the decisions)."""
    if not _exit_registered:
        _exit_registered.append(True)
        atexit.register(_drain_at_exit)


def _drained(level: int, when: str, then: str) -> None:
    """Wait up to :data:`DRAIN_S` for the queued decisions; say how many are left, if any."""
    if not drain(DRAIN_S):
        log.log(
            level,
            "foundups-training: %d decisions not delivered to the plugins within %g s %s%s; %s",
            _delivery.queued - _delivery.delivered,
            DRAIN_S,
            when,
            _delivery.blocker(),
            then,
        )


def _drain_at_exit() -> None:
    try:
        _drained(logging.ERROR, "at exit", "they are lost")
    except Exception as exc:  # noqa: BLE001 - the host is ending: report, never raise
        warn_failure(log, "foundups-training: delivering the last decisions failed", exc)


def _after_fork_in_child() -> None:
    """A forked child starts with an empty queue and no delivery thread (the parent's does
    not exist there; the decisions queued in the parent are the parent's to deliver), fresh
    locks (one held by a thread of the parent at the fork would stay held), and no overdue
    call (the thread stuck in it is the parent's)."""
    global _delivery, _overdue, _lock
    _delivery = _Delivery()
    _overdue = _Overdue()
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows, where nothing forks
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _pm(manager: IsolatingPluginManager | None) -> IsolatingPluginManager:
    return manager if manager is not None else get_plugin_manager()


def idle_deadline(budget: IdleBudget) -> float:
    """Seconds the sender of ``idle_started`` waits for ``on_idle`` (0: no bound)."""
    try:
        seconds = float(budget.max_seconds or 0)
    except (TypeError, ValueError):  # a host's malformed budget: the plugin reports it
        return 0.0
    return seconds + IDLE_GRACE_S if 0 < seconds < 1e9 else 0.0  # not NaN, not infinite


def call_within(pm: IsolatingPluginManager, hook_name: str, timeout: float, **kwargs: Any) -> Any:
    """``pm.call_safely(hook_name, **kwargs)``, waited for at most ``timeout`` seconds (0: no
    bound); None past it, with a warning naming the plugin still running.

    The call runs on a daemon thread the caller stops waiting for at the deadline. While it
    has not returned, further calls of the same hook get None at once instead of starting
    another thread that would likely hang the same way.
    """
    if timeout <= 0:
        return pm.call_safely(hook_name, **kwargs)
    state = _overdue
    with state.lock:
        stuck = list(state.calls.get(hook_name, ()))
        tell = bool(stuck) and hook_name not in state.told
        if tell:
            state.told.add(hook_name)
    if stuck:
        name, since = stuck[0]
        log.log(
            logging.WARNING if tell else logging.DEBUG,
            "foundups-training: %s not called: plugin %s is still in the call that did not "
            "return within %g s (%.0f s ago); callers get no result until it returns",
            hook_name,
            name,
            timeout,
            time.monotonic() - since,
        )
        return None
    done = threading.Event()
    box: dict[str, Any] = {}
    start = time.monotonic()

    def run() -> None:
        try:
            box["value"] = pm.call_safely(hook_name, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            box["error"] = exc
        finally:
            with state.lock:
                done.set()
                late = box.get("late")
                if late is not None:
                    state.calls[hook_name].remove(late)
                    if not state.calls[hook_name]:
                        del state.calls[hook_name]
                        state.told.discard(hook_name)
            if late is not None:
                log.warning(
                    "foundups-training: plugin %s returned from %s after %.0f s; that "
                    "result was discarded (the caller had gone on without it)",
                    late[0],
                    hook_name,
                    time.monotonic() - start,
                )

    thread = threading.Thread(target=run, name=f"foundups-training-{hook_name}", daemon=True)
    try:
        thread.start()
    except RuntimeError as exc:  # no thread can start (the interpreter is ending)
        log.debug("no thread for %s (%s): called inline", hook_name, exc)
        return pm.call_safely(hook_name, **kwargs)
    if not done.wait(timeout):
        with state.lock:
            if not done.is_set():
                name = pm.running_in(thread.ident) or "(unknown)"
                late = (name, start)
                box["late"] = late
                state.calls.setdefault(hook_name, []).append(late)
        if "late" in box:
            log.warning(
                "foundups-training: plugin %s did not return from %s within %g s: the "
                "caller goes on without its result, and further %s calls get none until it "
                "returns",
                box["late"][0],
                hook_name,
                timeout,
                hook_name,
            )
            return None
    if "error" in box:  # only what call_safely lets through: KeyboardInterrupt, the operator's
        raise box["error"]
    return box.get("value")


def connect(manager: IsolatingPluginManager | None = None) -> None:
    """Connect the bridge (idempotent). ``manager`` defaults to the process-wide one.

    The process-wide manager is loaded here, at activation: loaded lazily, the first chat
    message would pay for the entry-point scan and the plugins' imports (tens of ms) on the
    host's thread, in the middle of a stream.
    """
    if manager is None:
        get_plugin_manager()  # never raises: a plugin that fails to load is logged, skipped
    with _lock:
        if _connected:
            return

        def on_decision(sender: object, decision: Decision, **_: Any) -> None:
            _delivery.put(_pm(manager), decision)

        def on_idle(sender: object, budget: IdleBudget, **_: Any) -> list[IdleReport]:
            pm = _pm(manager)
            results = call_within(pm, "on_idle", idle_deadline(budget), budget=budget) or []
            return [r for r in results if r is not None]

        def on_query(sender: object, query: Query, **_: Any) -> Answer | None:
            answer: Answer | None = call_within(
                _pm(manager), "on_query", QUERY_TIMEOUT_S, query=query
            )
            if answer is not None:
                signals.answer_given.send("bridge", query=query, answer=answer)
            return answer

        for signal, receiver in (
            (signals.decision_made, on_decision),
            (signals.idle_started, on_idle),
            (signals.query_asked, on_query),
        ):
            signal.connect(receiver, weak=False)
            _connected[signal.name] = receiver


def disconnect() -> None:
    """Undo :func:`connect` (tests, uninstrumenting); then wait up to :data:`DRAIN_S` for the
    decisions already queued to reach the plugins (those still queued after it are delivered
    later, by the delivery thread)."""
    with _lock:
        for name, receiver in _connected.items():
            signals.NAMESPACE.signal(name).disconnect(receiver)
        _connected.clear()
    _drained(logging.WARNING, "of disconnecting", "they are delivered when it returns")


def drain(timeout: float = DRAIN_S) -> bool:
    """Wait up to ``timeout`` seconds until every decision queued so far has been handed to
    the plugins' ``on_decision``; False if some are still waiting."""
    return _delivery.drain(timeout)


def stats() -> dict[str, int]:
    """The decision queue's counters: queued, delivered, dropped (queue full), waiting."""
    d = _delivery
    return {
        "queued": d.queued,
        "delivered": d.delivered,
        "dropped": d.dropped,
        "waiting": len(d.pending),
    }


def idle(budget: IdleBudget, sender: str = "bridge") -> IdleReport | None:
    """Send ``idle_started`` and return the first report (what the idle adapter needs)."""
    for _receiver, reports in signals.idle_started.send(sender, budget=budget):
        for report in reports or []:
            return report
    return None


def ask(query: Query, sender: str = "bridge") -> Answer | None:
    """Send ``query_asked`` and return the answer."""
    for _receiver, answer in signals.query_asked.send(sender, query=query):
        if answer is not None:
            return answer
    return None
