"""Idle training: the host's pattern-training phase is served by the plugin's ``on_idle``.

``IdleAutomationDAE._execute_pattern_training`` (module
``modules.infrastructure.idle_automation.src.idle_automation_dae``) is replaced while
instrumented: its hard-coded ``O:/Foundups-Agent/012.txt`` and line-number checkpoint are not
used. Instead, when the seed's trigger conditions hold —

- at least ``idle_minutes`` (default 5) since the last chat activity seen by the live-chat
  adapter,
- no live stream (no LiveChatCore listening),
- CPU below ``idle_max_cpu`` percent (default 30),

— it sends ``idle_started`` with a budget of ``idle_max_lines`` / ``idle_max_seconds`` and
returns the plugin's :class:`~foundups_training.records.IdleReport` in the host's dict shape.
When a condition does not hold, the dict says ``skipped_reason``. The host's own
``AUTO_PATTERN_TRAINING=false`` switch is honoured. If the plugin side fails or no plugin does
idle work, the host's original method runs, so the host sees what it would have seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from foundups_training.adapters.activity import ACTIVITY
from foundups_training.adapters.base import Instrumentor, Target, awaitable

from foundups_training.records import IdleBudget, IdleReport

log = logging.getLogger(__name__)

IDLE_DAE = "modules.infrastructure.idle_automation.src.idle_automation_dae"

_FALSE = {"0", "false", "no", "off"}

_T = TypeVar("_T")


def _proc_stat_busy() -> tuple[int, int] | None:
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = fh.readline().split()[1:]
        values = [int(v) for v in fields]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    except (OSError, ValueError, IndexError):  # absent or not the Linux format: unmeasurable
        return None
    total = sum(values)
    return total - idle, total


def cpu_percent(interval: float = 0.25) -> float | None:
    """System-wide CPU use in percent over ``interval`` seconds; None when unmeasurable.

    psutil when it is installed (Windows, macOS); else two samples of /proc/stat (Linux);
    else the 1-minute load average per core. No new dependency.
    """
    try:
        import psutil  # type: ignore[import-untyped]

        return float(psutil.cpu_percent(interval=interval))
    except ImportError:
        pass
    first = _proc_stat_busy()
    if first is not None:
        time.sleep(interval)
        second = _proc_stat_busy()
        if second is not None and second[1] > first[1]:
            return 100.0 * (second[0] - first[0]) / (second[1] - first[1])
    if hasattr(os, "getloadavg"):
        return 100.0 * os.getloadavg()[0] / (os.cpu_count() or 1)
    return None


def _settings() -> Any:
    from foundups_training.config import load_settings

    return load_settings()


def trigger_blocker(
    settings: Any, cpu: Callable[[], float | None] | None = None
) -> tuple[str, str]:
    """Why an idle cycle must not run now: (reason, detail); ("", "") when it may run.

    Reasons: ``chat_active`` (less than ``idle_minutes`` since the last chat activity),
    ``stream_live`` (a live-chat session is listening), ``cpu_busy`` (CPU at or above
    ``idle_max_cpu`` percent; 100 or more turns this gate off).
    """
    idle_for = ACTIVITY.idle_seconds()
    needed = float(settings.idle_minutes) * 60.0
    if idle_for is not None and idle_for < needed:
        return "chat_active", (
            f"last chat activity {idle_for / 60:.1f} min ago, idle needs "
            f"{settings.idle_minutes:g} min"
        )
    if ACTIVITY.stream_live():
        return "stream_live", "a live stream's chat is being monitored"
    limit = float(settings.idle_max_cpu)
    if limit < 100.0:
        used = (cpu or cpu_percent)()
        if used is not None and used >= limit:
            return "cpu_busy", f"CPU {used:.0f}% >= {limit:g}%"
    return "", ""


def budget_from(settings: Any, reason: str = "idle") -> IdleBudget:
    """The idle budget the settings give (lines and seconds; 0 or less means no limit)."""
    lines = int(settings.idle_max_lines)
    seconds = float(settings.idle_max_seconds)
    return IdleBudget(
        max_lines=lines if lines > 0 else None,
        max_seconds=seconds if seconds > 0 else None,
        reason=reason,
    )


def run_idle_cycle(
    settings: Any | None = None,
    *,
    check_triggers: bool = True,
    cpu: Callable[[], float | None] | None = None,
    reason: str = "idle",
) -> IdleReport | None:
    """One idle cycle through the bridge: triggers checked, then ``on_idle`` within budget.

    Returns the plugin's report, a report with ``skipped_reason`` when a trigger condition does
    not hold, or None when no plugin does idle work.
    """
    from foundups_training import bridge

    settings = settings if settings is not None else _settings()
    start = time.perf_counter()
    if check_triggers:
        reason_code, detail = trigger_blocker(settings, cpu)
        if reason_code:
            return IdleReport(
                success=False,
                skipped_reason=reason_code,
                error=f"skipped: {detail}",
                duration_s=time.perf_counter() - start,
            )
    bridge.connect()
    return bridge.idle(budget_from(settings, reason), sender="idle")


async def in_daemon_thread(fn: Callable[[], _T]) -> _T:
    """``await fn()`` run in a daemon thread, off the host's event loop.

    Not ``asyncio.to_thread``: the loop's default executor runs non-daemon threads, which
    ``asyncio.run`` (``shutdown_default_executor``) and the interpreter's exit both join. A
    host stopped (Ctrl+C, its task cancelled) in the middle of an idle cycle would then wait
    for the whole cycle -- up to ``idle_max_seconds``, or forever when that is 0. A daemon
    thread lets the host exit; the cycle's checkpoint survives being cut off.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:  # on the loop's thread
        if future.done():  # the awaiting task was cancelled: nobody wants the result
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def run() -> None:
        try:
            outcome: tuple[bool, Any] = (True, fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            outcome = (False, exc)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # the host's loop is closed: nobody waits any more
            pass

    threading.Thread(target=run, name="foundups-training-idle", daemon=True).start()
    return await future


class IdleInstrumentor(Instrumentor):
    """Serves the host's pattern-training phase with this plugin's idle training."""

    name = "idle"
    targets = (Target(IDLE_DAE, "IdleAutomationDAE._execute_pattern_training", "_wrap_training"),)

    #: Replaced in tests to make the CPU gate deterministic.
    cpu: Callable[[], float | None] | None = None

    def _wrap_training(
        self, wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict
    ) -> Any:
        # The host's method is called now, as unwrapped: arguments it does not take raise
        # here, at the call. Its coroutine has not started; it runs only if the plugin's
        # side cannot answer, and is closed unstarted otherwise.
        host_call = wrapped(*args, **kwargs)
        if not awaitable(host_call):
            return host_call  # not a coroutine function (any more): its own value
        return self._serve(host_call, instance)

    async def _serve(self, host_call: Awaitable[Any], instance: Any) -> Any:
        try:
            if os.environ.get("AUTO_PATTERN_TRAINING", "true").strip().lower() in _FALSE:
                # The host's own off switch, answered the host's way.
                return await host_call
            try:
                # Mining takes seconds: run it off the host's event loop, in a daemon thread.
                cpu = self.cpu
                report = await in_daemon_thread(lambda: run_idle_cycle(cpu=cpu))
            except Exception as exc:  # noqa: BLE001 - our failure: the host gets its own
                self.record_error("idle", exc)
                report = None
            if report is None:
                return await host_call
            result = self.observe("idle_result", report.as_host_result)
            if result is None:
                return await host_call
            self.observe("idle_state", _note_progress, instance, result)
            return result
        finally:
            # Unstarted (the plugin answered, or the host stopped waiting): closed, so the
            # host's log gets no "coroutine was never awaited". A finished one ignores it.
            with contextlib.suppress(Exception):  # an awaitable without close(): left as is
                close = getattr(host_call, "close", None)
                if callable(close):
                    close()


def _note_progress(instance: Any, result: dict[str, Any]) -> None:
    """Keep the host's idle-state counters truthful, as its own phase 3 does."""
    state = getattr(instance, "idle_state", None)
    if isinstance(state, dict) and result.get("success"):
        from datetime import datetime

        state["last_pattern_training"] = datetime.now().isoformat()
        state["patterns_trained_total"] = int(state.get("patterns_trained_total", 0)) + int(
            result.get("patterns_stored", 0)
        )
