"""A plugin that raises is dropped without running the healthy plugins a second time.

Real pluggy and a real IsolatingPluginManager: plugins registered the way entry points are.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from foundups_training.hookspecs import hookimpl

from foundups_training.plugins import IsolatingPluginManager
from foundups_training.records import Answer, Decision, IdleBudget, IdleReport, Query


class Broken:
    @hookimpl
    def on_decision(self, decision: Decision) -> None:
        raise RuntimeError("plugin bug")

    @hookimpl
    def on_idle(self, budget: IdleBudget) -> IdleReport | None:
        raise RuntimeError("plugin bug")

    @hookimpl(tryfirst=True)
    def on_query(self, query: Query) -> Answer | None:
        raise ValueError("cannot answer")


class Healthy:
    def __init__(self) -> None:
        self.decisions: list[str] = []
        self.idles = 0
        self.queries = 0

    @hookimpl
    def on_decision(self, decision: Decision) -> None:
        self.decisions.append(decision.id)

    @hookimpl
    def on_idle(self, budget: IdleBudget) -> IdleReport | None:
        self.idles += 1
        return IdleReport(lines_processed=budget.max_lines or 0)

    @hookimpl
    def on_query(self, query: Query) -> Answer | None:
        self.queries += 1
        return Answer(text="answer", tier="memory")


def _managers() -> list[tuple[str, IsolatingPluginManager, Healthy]]:
    """The broken plugin registered before and after the healthy one (pluggy calls the last
    registered first, so both orders are met)."""
    out = []
    for order in ("broken-first", "healthy-first"):
        pm, healthy = IsolatingPluginManager(), Healthy()
        pair: list[tuple[object, str]] = [(Broken(), "broken"), (healthy, "healthy")]
        for plugin, name in pair if order == "broken-first" else reversed(pair):
            pm.register(plugin, name=name)
        out.append((order, pm, healthy))
    return out


def test_healthy_plugins_run_once_when_another_raises_in_on_idle() -> None:
    for order, pm, healthy in _managers():
        reports = pm.call_safely("on_idle", budget=IdleBudget(max_lines=5000, max_seconds=60))
        assert healthy.idles == 1, order  # one idle phase, one mining budget
        assert [r.lines_processed for r in reports] == [5000], order
        assert not pm.has_plugin("broken"), order
        assert pm.failures == [("broken", "on_idle", "RuntimeError: plugin bug")], order
        # Later calls go to the healthy plugin alone.
        pm.call_safely("on_idle", budget=IdleBudget(max_lines=1))
        assert healthy.idles == 2, order


def test_a_decision_is_queued_once_when_another_plugin_raises() -> None:
    for order, pm, healthy in _managers():
        decision = Decision(id="m1", source="live_chat", action="ignore")
        assert pm.call_safely("on_decision", decision=decision) == []
        assert healthy.decisions == ["m1"], order
        assert pm.get_plugins() == {healthy}, order


def test_first_result_hook_calls_each_plugin_once_until_one_answers() -> None:
    """``on_query`` (firstresult): a plugin that passes (None) before the broken one is not
    asked again; the next plugin answers."""

    class Passing:
        calls = 0

        @hookimpl(tryfirst=True)
        def on_query(self, query: Query) -> Answer | None:
            Passing.calls += 1
            return None

    class RaisingPlain:
        @hookimpl
        def on_query(self, query: Query) -> Answer | None:
            raise ValueError("cannot answer")

    pm, healthy = IsolatingPluginManager(), Healthy()
    pm.register(healthy, name="healthy")
    pm.register(RaisingPlain(), name="broken")
    pm.register(Passing(), name="passing")
    answer = pm.call_safely("on_query", query=Query("which module?"))
    assert answer is not None and answer.text == "answer"
    assert (Passing.calls, healthy.queries) == (1, 1)
    assert pm.failures == [("broken", "on_query", "ValueError: cannot answer")]


def test_the_failure_is_one_clear_log_line(caplog: pytest.LogCaptureFixture) -> None:
    pm = IsolatingPluginManager()
    pm.register(Broken(), name="broken")
    with caplog.at_level(logging.WARNING, logger="foundups_training.plugins"):
        pm.call_safely("on_decision", decision=Decision(id="m", source="s", action="a"))
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        "plugin broken raised in on_decision: RuntimeError: plugin bug; "
        "it is disabled for the rest of this process"
    )
    assert record.exc_info is None  # the traceback is for -vv (DEBUG)
    caplog.clear()
    pm.register(Broken(), name="broken-again")
    with caplog.at_level(logging.DEBUG, logger="foundups_training.plugins"):
        pm.call_safely("on_decision", decision=Decision(id="m", source="s", action="a"))
    assert [r.exc_info is not None for r in caplog.records if r.levelno == logging.ERROR] == [True]


def test_two_threads_failing_in_one_plugin_at_once(caplog: pytest.LogCaptureFixture) -> None:
    """Both calls are inside the broken implementation before either raises: the plugin is
    dropped once, nothing reaches either caller, and one error line is logged."""
    both_inside = threading.Barrier(2, timeout=30)

    class SlowBroken:
        @hookimpl
        def on_decision(self, decision: Decision) -> None:
            both_inside.wait()
            raise RuntimeError("bug")

    pm = IsolatingPluginManager()
    healthy = Healthy()
    pm.register(SlowBroken(), name="slowbroken")
    pm.register(healthy, name="healthy")
    escaped: list[str] = []
    results: list[Any] = []

    def call(i: int) -> None:
        try:
            decision = Decision(id=f"m{i}", source="s", action="a")
            results.append(pm.call_safely("on_decision", decision=decision))
        except BaseException as exc:  # noqa: BLE001 - what the test looks for
            escaped.append(f"{type(exc).__name__}: {exc}")

    with caplog.at_level(logging.WARNING, logger="foundups_training.plugins"):
        threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert escaped == []
    assert results == [[], []]
    assert sorted(healthy.decisions) == ["m0", "m1"]
    assert not pm.has_plugin("slowbroken")
    assert [f[:2] for f in pm.failures] == [("slowbroken", "on_decision")] * 2
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


def test_a_call_without_its_argument_never_raises_nor_drops_a_plugin() -> None:
    pm = IsolatingPluginManager()
    healthy = Healthy()
    pm.register(healthy, name="healthy")
    assert pm.call_safely("on_decision") == []
    assert pm.call_safely("no_such_hook", decision=None) is None
    assert pm.has_plugin("healthy") and pm.failures == []
