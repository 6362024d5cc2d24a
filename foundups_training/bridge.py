"""The bridge: adapter signals in, pluggy hook calls out.

One receiver per adapter signal, connected strongly (blinker holds weak references by
default, and a bridge that vanishes silently would stop all learning). Every call goes
through :meth:`IsolatingPluginManager.call_safely`, so no plugin error reaches the sender.

No plugin can hold the sender's thread either (a host DAE's, the live chat's among them):

- ``decision_made`` only appends the decision to a bounded queue per plugin that implements
  ``on_decision`` (:data:`QUEUE_SIZE` each) and returns; each plugin has its own daemon
  thread that hands it the decisions, in the host's order. A plugin that hangs there holds
  its own thread and queue, never the host's thread nor the other plugins' decisions: its
  decisions wait behind it, and once its queue is full each new one is dropped for it,
  counted (:func:`stats`) and reported in one warning line naming it (then a summary at most
  every :data:`DROP_WARN_S`). :func:`drain` waits until every queued decision was delivered
  (:func:`disconnect` and the process's exit do, for up to :data:`DRAIN_S`). At exit a
  plugin still in the very call an earlier wait gave up on is not waited for again, and
  every step of the exit shares one budget, :data:`EXIT_S` (:func:`exit_step`).
- ``query_asked`` waits for ``on_query`` at most :func:`query_deadline` (two model tiers at
  the routing rules' ``model_timeout_s`` and :data:`QUERY_MARGIN_S`); past that the sender
  gets None (its own path applies) and a warning names the plugin still running. While such
  a call has not returned, later ones fail at once (None), as a model tier does
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
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from foundups_training import signals
from foundups_training.logs import shown, warn_failure
from foundups_training.plugins import IsolatingPluginManager, get_plugin_manager
from foundups_training.records import Answer, Decision, IdleBudget, IdleReport, Query

log = logging.getLogger(__name__)

#: Decisions waiting for one plugin's delivery thread; past this, new ones are dropped for
#: that plugin and counted (as many as the live learner's own queue holds).
QUEUE_SIZE = 10_000
#: Seconds a delivery thread sleeps when its queue is empty. The host's thread never wakes
#: it (waking a thread from the host's call hands it the GIL in the middle of that call, see
#: ``LiveLearner``): a decision waits at most this long before it is delivered.
POLL_S = 0.05
#: After the first dropped decision, at most one warning line per this many seconds.
DROP_WARN_S = 60.0
#: Seconds :func:`disconnect` and the process's exit wait for queued decisions.
DRAIN_S = 5.0
#: Seconds the process's exit may wait in all, every step together (:func:`exit_step`): the
#: bridge's last drain here, and in ``foundups_training.auto`` the flush when run-host's
#: main.py returns, then the live learner's and the memory writer's close. Only the time
#: spent in those steps counts, not the time the host's own threads keep the process alive.
EXIT_S = 15.0
#: Of :data:`EXIT_S`, the seconds that waiting for a delivery or for the live learner's build
#: never takes: they are kept for storing or journaling what the live learner and the memory
#: writer hold (what they cannot store in time is journaled, never lost).
EXIT_CLOSE_S = 5.0
#: Seconds a question may take on top of its two model tiers (:func:`query_deadline`): the
#: recall and, on first use, building the Trainer.
QUERY_MARGIN_S = 300.0
#: Seconds a sender of ``query_asked`` waits for ``on_query`` when the settings cannot be
#: read (:func:`query_deadline`): two tiers at the default ``model_timeout_s`` (300 s) and
#: :data:`QUERY_MARGIN_S`.
QUERY_TIMEOUT_S = 900.0
#: Seconds ``on_idle`` may run past its budget's ``max_seconds`` before the sender of
#: ``idle_started`` goes on without its report: the budget bounds the mining, while the
#: Trainer's first build (imports, opening the store, loading the encoder) and the last
#: write come on top of it.
IDLE_GRACE_S = 300.0

_connected: dict[str, Any] = {}
_lock = threading.Lock()
#: :func:`query_deadline`'s value, read once per :func:`connect` (empty: not read yet).
_query_deadline: list[float] = []


def _call_one(pm: IsolatingPluginManager, plugin: object, decision: Decision) -> None:
    """``on_decision`` of ``plugin`` alone, isolated as every hook call is."""
    pm.call_one(plugin, "on_decision", decision=decision)


class _Lane:
    """One plugin's decisions on their way to its ``on_decision``, and the thread that
    delivers them."""

    def __init__(self, owner: _Delivery, pm: IsolatingPluginManager, plugin: object, name: str):
        self.owner = owner
        self.pm = pm
        self.plugin = plugin
        self.name = name
        self.pending: deque[Decision] = deque()
        self.lock = threading.Lock()  # the queue's bound, the counters, retiring (host threads)
        self.wake = threading.Event()  # set by drain, never by the host's thread
        self.worker: threading.Thread | None = None
        self.retired = False  # its thread ended with the queue empty: a new lane takes over
        self.closing = False  # end the thread once the queue is empty (disconnect)
        self.queued = 0
        self.delivered = 0
        self.dropped = 0
        self.told = 0  # drops a warning has counted
        self.warned_at = 0.0  # monotonic time of the last warning about drops
        self.since: float | None = None  # monotonic start of the delivery in progress
        # (delivered, since) when an exit drain gave up while this lane was inside a call:
        # while both are unchanged the plugin is still in that same call (_Delivery.drain).
        self.gave_up_at: tuple[int, float] | None = None

    def start(self) -> None:
        worker = threading.Thread(
            target=self.run, name=f"foundups-training-bridge-{self.name}", daemon=True
        )
        worker.start()
        self.worker = worker

    def put(self, decision: Decision) -> bool:
        """Queue ``decision`` (the host's thread): never blocks on the plugin, never raises.
        False when this lane has retired (the caller queues it on a new one)."""
        with self.lock:
            if self.retired:
                return False
            self.closing = False
            if len(self.pending) < QUEUE_SIZE:
                self.pending.append(decision)
                self.queued += 1
                return True
            self.dropped += 1
            dropped = self.to_tell()
        if dropped:
            log.warning(
                "foundups-training: %d decision%s dropped so far for plugin %s: its queue is "
                "full (%d waiting)%s",
                dropped,
                "" if dropped == 1 else "s",
                self.name,
                QUEUE_SIZE,
                self.blocker(),
            )
        return True

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

    def stuck(self) -> bool:
        """Whether the plugin is still in the call an earlier exit drain gave up on: it made
        no progress since, so waiting for it again would most likely be waiting in vain."""
        since = self.since
        return since is not None and self.gave_up_at == (self.delivered, since)

    def blocker(self) -> str:
        """``"; plugin X has been in on_decision for N s"`` ('' when it is not in it)."""
        since = self.since
        if since is None:
            return ""
        return f"; plugin {self.name} has been in on_decision for {time.monotonic() - since:.0f} s"

    def deliver(self, decision: Decision) -> None:
        self.since = time.monotonic()
        try:
            _call_one(self.pm, self.plugin, decision)
        except BaseException as exc:  # noqa: BLE001 - the delivery thread survives anything
            # The decision is the host's object: its id may not print (a repr that raises
            # ended this thread, and the plugin's later decisions queued on a dead lane), or
            # be megabytes long.
            warn_failure(log, f"delivering decision {_id_of(decision)} to {self.name} failed", exc)
        self.since = None

    def idle(self) -> bool:
        """With the queue empty: report drops not told yet; True when the thread may end
        (disconnected, or the plugin no longer registered), the lane then retired."""
        if self.dropped != self.told:  # drops since the last warning: sum them up
            with self.lock:
                dropped = self.to_tell()
            if dropped:
                log.warning(
                    "foundups-training: %d decisions dropped in all for plugin %s while its "
                    "queue was full",
                    dropped,
                    self.name,
                )
        if not self.closing and self.pm.is_registered(self.plugin):
            return False
        with self.lock:
            if self.pending:  # queued since the queue was found empty
                return False
            self.retired = True
        self.owner.retire(self)
        return True

    def run(self) -> None:
        while True:
            try:
                decision = self.pending.popleft()
            except IndexError:
                try:
                    if self.idle():
                        return
                except Exception as exc:  # noqa: BLE001 - the delivery thread survives anything
                    warn_failure(log, f"delivery thread of plugin {self.name}", exc)
                self.wake.wait(POLL_S)
                self.wake.clear()
                continue
            self.deliver(decision)
            with self.owner.done:
                self.delivered += 1
                self.owner.done.notify_all()


def _id_of(decision: Any) -> str:
    """A decision's id for a log line (:func:`shown`), or ``"?"``: what the host sends may be
    any object, whose attributes can raise anything."""
    try:
        return shown(decision.id)
    except Exception:  # noqa: BLE001 - a malformed decision: say what can be said
        return "?"


class _Delivery:
    """The decisions on their way to ``on_decision``: one :class:`_Lane` per plugin."""

    def __init__(self) -> None:
        # (id of the manager, id of the plugin): a lane holds both, so neither id is reused
        # while it is here. A plugin unregistered and another registered under its name get
        # a lane each; the old one delivers what it holds and ends.
        self.lanes: dict[tuple[int, int], _Lane] = {}
        self.lock = threading.Lock()  # creating and retiring lanes
        self.done = threading.Condition()  # notified after each delivery (for drain)
        # The counters of the lanes that retired, so the totals never go back.
        self.ended = {"queued": 0, "delivered": 0, "dropped": 0}

    def put(self, pm: IsolatingPluginManager, decision: Decision) -> None:
        """Queue ``decision`` for every plugin that implements ``on_decision`` (the host's
        thread): never blocks on a plugin, never raises."""
        try:
            impls = pm.hook.on_decision.get_hookimpls()
        except Exception as exc:  # noqa: BLE001 - a caller's mistake must not reach the host
            log.error("cannot call hook on_decision: %s: %s", type(exc).__name__, exc)
            return
        # pluggy's order (call_safely's): each plugin's lane is independent of the others',
        # but with no thread to start they are called inline in this order.
        for impl in reversed(impls):
            if impl.wrapper or impl.hookwrapper:
                continue
            for _ in range(3):  # a lane retiring at this very moment: queue on its successor
                lane = self.lane(pm, impl.plugin, impl.plugin_name)
                if lane is None:  # no thread can start (the interpreter is ending)
                    _call_one(pm, impl.plugin, decision)
                    break
                if lane.put(decision):
                    break

    def lane(self, pm: IsolatingPluginManager, plugin: object, name: str) -> _Lane | None:
        """The lane of ``plugin`` in ``pm``, started on first use (None: no thread can)."""
        key = (id(pm), id(plugin))
        lane = self.lanes.get(key)
        if lane is not None and not lane.retired:
            return lane
        with self.lock:
            lane = self.lanes.get(key)
            if lane is None or lane.retired:
                lane = _Lane(self, pm, plugin, name)
                try:
                    lane.start()
                except RuntimeError as exc:
                    log.debug("no delivery thread (%s): on_decision called inline", exc)
                    return None
                self.lanes[key] = lane
                _exit_drain_registered()
            return lane

    def retire(self, lane: _Lane) -> None:
        """Take ``lane`` (its queue empty, its thread ending) out of :attr:`lanes`, its
        counters into :attr:`ended`."""
        with self.lock:
            key = (id(lane.pm), id(lane.plugin))
            if self.lanes.get(key) is lane:  # (not when a successor took its place already)
                del self.lanes[key]
            self.ended["queued"] += lane.queued
            self.ended["delivered"] += lane.delivered
            self.ended["dropped"] += lane.dropped

    def close(self) -> None:
        """Let every lane's thread end once its queue is empty (:func:`disconnect`): a
        :func:`connect` later starts new ones."""
        for lane in list(self.lanes.values()):
            lane.closing = True

    def behind(self, lanes: list[_Lane], targets: list[int]) -> list[_Lane]:
        """The lanes of ``lanes`` that have not delivered their ``targets`` yet."""
        return [
            lane for lane, target in zip(lanes, targets, strict=True) if lane.delivered < target
        ]

    def waiting(self) -> int:
        """Decisions queued and not yet delivered (the one in a plugin included)."""
        return sum(lane.queued - lane.delivered for lane in list(self.lanes.values()))

    def blockers(self) -> str:
        return "".join(lane.blocker() for lane in list(self.lanes.values()))

    def drain(self, timeout: float, skip_stuck: bool = False) -> bool:
        started = time.monotonic()
        deadline = started + timeout
        lanes = list(self.lanes.values())
        # What was queued when the wait began, not what is queued later: while the host
        # keeps sending, a lane is never empty, and waiting for that ran out the whole
        # timeout (at the exit, where the steps share one budget) and reported decisions
        # as not delivered that were. Each lane delivers in order, so its count says when.
        targets = [lane.queued for lane in lanes]
        me = threading.current_thread()
        if any(lane.worker is me for lane in lanes):
            # a plugin's on_decision: it cannot wait on itself, nor (another plugin waiting
            # on it meanwhile) make the other wait
            return not self.behind(lanes, targets)
        with self.done:
            while True:
                behind = self.behind(lanes, targets)
                if not behind:
                    return True
                # skip_stuck (the exit's steps): a plugin still in the call an earlier exit
                # drain gave up on is not waited for again, the others are (a lane that
                # delivered since may deliver the rest: it is waited for again).
                waited = [lane for lane in behind if not (skip_stuck and lane.stuck())]
                left = deadline - time.monotonic()
                if (
                    not waited
                    or left <= 0
                    or any(lane.worker is None or not lane.worker.is_alive() for lane in waited)
                ):
                    if skip_stuck and timeout > 0 and left <= 0:
                        for lane in waited:
                            since = lane.since
                            # only a call that lasted this whole wait counts as stuck
                            if since is not None and since <= started:
                                lane.gave_up_at = (lane.delivered, since)
                    return False
                for lane in waited:
                    lane.wake.set()
                self.done.wait(min(left, POLL_S))


class _Overdue:
    """Hook calls that ran past their deadline and have not returned: hook -> (plugin, since)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[str, list[tuple[str, float]]] = {}
        self.told: set[str] = set()  # hooks whose fast failures were reported this episode


class _ExitBudget:
    """The seconds the exit's steps have waited so far, all together (:func:`exit_step`)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spent = 0.0

    def left(self, keep: float) -> float:
        """Seconds of :data:`EXIT_S` left once ``keep`` is set aside for later steps."""
        with self.lock:
            return max(0.0, EXIT_S - self.spent - keep)

    def charge(self, seconds: float) -> None:
        with self.lock:
            self.spent += max(0.0, seconds)


_delivery = _Delivery()
_overdue = _Overdue()
_exit_budget = _ExitBudget()
_exit_registered: list[bool] = []


def start_exit() -> None:
    """The exit path begins (run-host's flush when the host's main.py returns): its steps
    get :data:`EXIT_S` afresh. A process that never calls it starts with the full budget."""
    global _exit_budget
    _exit_budget = _ExitBudget()


@contextmanager
def exit_step(bound: float, keep: float | None = None, parts: int = 1) -> Iterator[float]:
    """The seconds one step of the process's exit may wait, and the time it takes charged to
    the exit's budget (:data:`EXIT_S`, all steps together).

    ``bound`` is the step's own limit; it gets less when the budget has less left once
    ``keep`` seconds are set aside for the steps after it (None: :data:`EXIT_CLOSE_S`, for
    the last writes), split in ``parts`` for a step that may wait that long several times
    (a close: its flush, then its thread).
    """
    budget = _exit_budget
    spare = budget.left(EXIT_CLOSE_S if keep is None else keep)
    seconds = max(0.0, min(bound, spare / max(1, parts)))
    started = time.monotonic()
    try:
        yield seconds
    finally:
        budget.charge(time.monotonic() - started)


def _exit_drain_registered() -> None:
    """Drain at the process's exit (registered when the first delivery thread starts, so
    after ``foundups_training.auto``'s handler, and run before it: ``atexit`` runs the last
    registered first, and the live learner's exit flush must find the decisions)."""
    if not _exit_registered:
        _exit_registered.append(True)
        atexit.register(_drain_at_exit)


def _drained(
    level: int, when: str, then: str, timeout: float | None = None, skip_stuck: bool = False
) -> None:
    """Wait up to ``timeout`` (:data:`DRAIN_S`) for the queued decisions; say how many are
    left, if any."""
    seconds = DRAIN_S if timeout is None else timeout
    if not drain(seconds, skip_stuck=skip_stuck):
        log.log(
            level,
            "foundups-training: %d decisions not delivered to the plugins within %g s %s%s; %s",
            _delivery.waiting(),
            seconds,
            when,
            _delivery.blockers(),
            then,
        )


def _drain_at_exit() -> None:
    """Wait up to :data:`DRAIN_S` (what the exit's budget has left) for the queued
    decisions, but not again for a plugin still in the call an earlier wait gave up on."""
    try:
        with exit_step(DRAIN_S) as seconds:
            _drained(logging.ERROR, "at exit", "they are lost", seconds, skip_stuck=True)
    except Exception as exc:  # noqa: BLE001 - the host is ending: report, never raise
        warn_failure(log, "foundups-training: delivering the last decisions failed", exc)


def _after_fork_in_child() -> None:
    """A forked child starts with empty queues and no delivery thread (the parent's do not
    exist there; the decisions queued in the parent are the parent's to deliver), fresh
    locks (one held by a thread of the parent at the fork would stay held), no overdue call
    (the thread stuck in it is the parent's), and its own exit budget."""
    global _delivery, _overdue, _lock, _exit_budget
    _delivery = _Delivery()
    _overdue = _Overdue()
    _exit_budget = _ExitBudget()
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


def _plugin_settings(pm: IsolatingPluginManager) -> Any:
    """The settings the training plugin answers with: those of the Trainer it was given
    (``plugins.use_only``), else the environment's and the config file's."""
    module = sys.modules.get("foundups_training.plugin")  # imported if one is registered
    if module is not None:
        for plugin in pm.get_plugins():
            if isinstance(plugin, module.TrainingPlugin):
                given = getattr(plugin, "_settings", None)
                if given is not None:
                    return given
    from foundups_training.config import load_settings

    return load_settings()


def query_deadline(pm: IsolatingPluginManager) -> float:
    """Seconds a sender of ``query_asked`` waits for ``on_query`` (0: no bound).

    A question runs at most two model tiers one after the other (Gemma, then the escalation
    to Qwen), each bounded by the routing rules' ``model_timeout_s`` (its first load
    included), plus the recall and, on first use, building the Trainer: 2 ×
    ``model_timeout_s`` and :data:`QUERY_MARGIN_S`. A lower bound would cut off an answer
    the router is still legitimately waiting for; a ``model_timeout_s`` of 0 (no limit)
    leaves none here either. Read once per :func:`connect` (on the first question); settings
    that cannot be read give :data:`QUERY_TIMEOUT_S`, with a warning.
    """
    if _query_deadline:
        return _query_deadline[0]
    try:
        from foundups_training.routing.rules import RoutingRules

        model = float(RoutingRules.from_settings(_plugin_settings(pm)).model_timeout_s)
        if not model >= 0:  # NaN too
            raise ValueError(f"model_timeout_s is {model}")
        # not infinite nor so large that a thread's wait overflows: no bound, as 0
        deadline = 2 * model + QUERY_MARGIN_S if 0 < model < 1e9 else 0.0
        log.debug("on_query is waited for %g s (0: no bound)", deadline)
    except Exception as exc:  # noqa: BLE001 - never raise into the host's question
        deadline = QUERY_TIMEOUT_S
        log.warning(
            "foundups-training: the routing settings cannot be read (%s: %s); on_query is "
            "waited for %g s",
            type(exc).__name__,
            exc,
            deadline,
        )
    _query_deadline[:] = [deadline]
    return deadline


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
        _query_deadline.clear()  # the settings as they are now, read on the first question

        def on_decision(sender: object, decision: Decision, **_: Any) -> None:
            _delivery.put(_pm(manager), decision)

        def on_idle(sender: object, budget: IdleBudget, **_: Any) -> list[IdleReport]:
            pm = _pm(manager)
            results = call_within(pm, "on_idle", idle_deadline(budget), budget=budget) or []
            return [r for r in results if r is not None]

        def on_query(sender: object, query: Query, **_: Any) -> Answer | None:
            pm = _pm(manager)
            answer: Answer | None = call_within(pm, "on_query", query_deadline(pm), query=query)
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


def connected() -> bool:
    """Whether the bridge is connected (the adapters' signals reach the plugins)."""
    return bool(_connected)


def disconnect() -> None:
    """Undo :func:`connect` (tests, uninstrumenting); then wait up to :data:`DRAIN_S` for the
    decisions already queued to reach the plugins (those still queued after it are delivered
    later, by their delivery threads, which then end)."""
    with _lock:
        for name, receiver in _connected.items():
            signals.NAMESPACE.signal(name).disconnect(receiver)
        _connected.clear()
    _delivery.close()
    _drained(logging.WARNING, "of disconnecting", "they are delivered when it returns")


def drain(timeout: float = DRAIN_S, *, skip_stuck: bool = False) -> bool:
    """Wait up to ``timeout`` seconds until every decision queued so far has been handed to
    the plugins' ``on_decision``; False if some are still waiting.

    ``skip_stuck`` (the exit's steps): a plugin still inside the same ``on_decision`` call an
    earlier such drain timed out on is not waited for again (False at once if only such
    plugins are behind); one that delivered anything since is.
    """
    return _delivery.drain(timeout, skip_stuck)


def stats() -> dict[str, int]:
    """The decision queues' counters, all plugins together: queued, delivered, dropped
    (a queue full), waiting (queued, not yet delivered). A decision counts once per plugin
    that implements ``on_decision``."""
    d = _delivery
    with d.lock:
        totals = dict(d.ended)
        for lane in d.lanes.values():
            totals["queued"] += lane.queued
            totals["delivered"] += lane.delivered
            totals["dropped"] += lane.dropped
    totals["waiting"] = totals["queued"] - totals["delivered"]
    return totals


def plugin_stats() -> dict[str, dict[str, int]]:
    """:func:`stats` of each plugin whose delivery thread runs now, by plugin name."""
    with _delivery.lock:
        lanes = list(_delivery.lanes.values())
    by_name: dict[str, dict[str, int]] = {}
    for lane in lanes:  # a name re-registered meanwhile: its old lane and its new, together
        counts = by_name.setdefault(
            lane.name, {"queued": 0, "delivered": 0, "dropped": 0, "waiting": 0}
        )
        counts["queued"] += lane.queued
        counts["delivered"] += lane.delivered
        counts["dropped"] += lane.dropped
        counts["waiting"] += lane.queued - lane.delivered
    return by_name


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
