"""Review of the router's failure paths: how long a tier's failure is remembered, and that an
answer says every tier's failure and never claims an escalation that did not happen.
Scripted models and memories only; a fake clock, so nothing sleeps."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from foundups_training.models import base as base_module
from foundups_training.models.base import Backend, Choice, ModelError, Prompt
from foundups_training.records import Answer, Pattern, Query
from foundups_training.routing import LazyBackend, Router, RoutingRules
from foundups_training.routing.moments import LogMoments

from .scripted import ListMemory, ScriptedModel, module_pattern

LIVECHAT = module_pattern("modules/communication/livechat", "reads and answers YouTube live chat")
LINKEDIN = module_pattern("modules/platform_integration/linkedin_agent", "posts to LinkedIn")
LOOKUP = "Which module reads the live chat?"
#: a bound for waits on threads, so that a regression fails instead of hanging
WAIT_S = 10.0


class _Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Factory:
    """A backend factory that fails until told the cause is fixed."""

    def __init__(self, reason: str = "no gemma model found. Looked at: HOLO_GEMMA_MODEL") -> None:
        self.reason = reason
        self.fixed = False
        self.calls = 0
        self.model = ScriptedModel("gemma-test", probs=[0.98, 0.01, 0.01])

    def __call__(self) -> Backend:
        self.calls += 1
        if not self.fixed:
            raise FileNotFoundError(self.reason)
        return self.model


def _memory() -> ListMemory:
    return ListMemory([(LIVECHAT, 0.62), (LINKEDIN, 0.48)])


# -- 1. a failed build is remembered for a while, not for the whole process -------------------


def test_a_fixed_model_is_used_after_the_cool_down_without_a_restart() -> None:
    """The first failure to build a tier's backend (a GGUF not downloaded yet, a wrong path)
    was remembered for the life of the process: a host that ran for days answered from
    memory with the old error after the operator had fixed the cause."""
    clock, factory = _Clock(), _Factory()
    gemma = LazyBackend("gemma", factory, clock=clock)
    router = Router(_memory(), gemma, ScriptedModel("qwen-test", fail="qwen down"))
    first = router.answer(Query(LOOKUP, tier="gemma"))
    assert first.tier == "memory" and "no gemma model found" in first.error
    assert "retried in 60 s" in first.error  # says that it will be tried again
    factory.fixed = True  # the operator downloads the model
    clock.now += base_module.RETRY_LOAD_S / 2
    within = router.answer(Query(LOOKUP, tier="gemma"))
    # within the cool-down: the remembered reason, at once, without building again
    assert within.tier == "memory" and "no gemma model found" in within.error
    assert "retried in 30 s" in within.error
    assert factory.calls == 1
    clock.now += base_module.RETRY_LOAD_S / 2
    after = router.answer(Query(LOOKUP, tier="gemma"))
    assert after.tier == "gemma" and after.model == "gemma-test" and not after.error
    assert factory.calls == 2
    router.answer(Query(LOOKUP, tier="gemma"))
    assert factory.calls == 2  # built once it worked: never again


def test_a_retry_that_fails_again_is_remembered_for_another_cool_down() -> None:
    clock, factory = _Clock(), _Factory()
    gemma = LazyBackend("gemma", factory, clock=clock)
    for _ in range(3):
        with pytest.raises(ModelError, match="no gemma model found"):
            gemma.get()
    assert factory.calls == 1
    clock.now += base_module.RETRY_LOAD_S
    factory.reason = "no gemma model found. Looked at: LOCAL_MODEL_ROOT"
    with pytest.raises(ModelError, match="LOCAL_MODEL_ROOT"):  # the new reason
        gemma.get()
    clock.now += 2 * base_module.RETRY_LOAD_S - 1  # the second failure in a row: twice
    with pytest.raises(ModelError, match=r"LOCAL_MODEL_ROOT.*retried in 1 s"):
        gemma.get()
    assert factory.calls == 2


def test_a_cause_that_lasts_is_retried_less_and_less_often() -> None:
    """A full disk under the cache: each retry of Qwen joins and hashes 1.1 GB again."""
    clock, factory = _Clock(), _Factory()
    gemma = LazyBackend("gemma", factory, clock=clock)
    waits = []
    for _ in range(10):
        with pytest.raises(ModelError, match=r"retried in (\d+) s") as failed:
            gemma.get()
        wait = int(re.search(r"retried in (\d+) s", str(failed.value)).group(1))  # type: ignore[union-attr]
        waits.append(wait)
        clock.now += wait
    first = int(base_module.RETRY_LOAD_S)
    assert waits[:4] == [first, 2 * first, 4 * first, 8 * first]
    assert max(waits) == int(base_module.RETRY_LOAD_MAX_S) == waits[-1]
    assert factory.calls == 10
    factory.fixed = True
    clock.now += base_module.RETRY_LOAD_MAX_S
    assert gemma.get() is not None  # once fixed, it is used


def test_the_cool_down_is_the_module_constant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base_module, "RETRY_LOAD_S", 5.0)
    clock, factory = _Clock(), _Factory()
    gemma = LazyBackend("gemma", factory, clock=clock)
    with pytest.raises(ModelError, match="retried in 5 s"):
        gemma.get()
    factory.fixed = True
    clock.now += 5.0
    assert gemma.get() is factory.model


def test_callers_waiting_on_a_retry_do_not_each_build_again() -> None:
    """One question per cool-down tries again; the callers that queued behind that try get
    its failure at once instead of each loading the model in turn."""
    clock = _Clock()
    entered, go = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow_failure() -> Backend:
        calls.append(1)
        if len(calls) > 1:  # the retry takes a while, then fails again
            entered.set()
            go.wait(WAIT_S)
        raise FileNotFoundError("no gemma model found")

    gemma = LazyBackend("gemma", slow_failure, clock=clock)
    with pytest.raises(ModelError):
        gemma.get()
    clock.now += base_module.RETRY_LOAD_S + 1
    errors: list[str] = []

    def ask() -> None:
        try:
            gemma.get()
        except ModelError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    threads[0].start()
    assert entered.wait(WAIT_S)
    for thread in threads[1:]:
        thread.start()
    go.set()
    for thread in threads:
        thread.join(WAIT_S)
    assert not any(thread.is_alive() for thread in threads)
    assert len(calls) == 2 and len(errors) == 4
    assert all("no gemma model found" in e and "retried in" in e for e in errors)


def test_a_hung_build_is_still_busy_then_remembered_then_retried() -> None:
    """The model timeout and the cool-down together: while a build runs past
    ``model_timeout_s`` the tier is busy; once it has failed, its reason is remembered for
    the cool-down; after it, the tier is tried again."""
    clock = _Clock()
    go = threading.Event()
    factory = _Factory()
    hang = [True]

    def build() -> Backend:
        if hang[0]:
            hang[0] = False
            go.wait(WAIT_S)
        return factory()

    gemma = LazyBackend("gemma", build, clock=clock)
    work = lambda b: b.choose(Prompt(text="Q"), ["A", "B"])  # noqa: E731
    with pytest.raises(ModelError, match="no answer within"):
        gemma.call(work, 0.05)
    with pytest.raises(ModelError, match="still busy"):
        gemma.call(work, 0.05)
    go.set()
    for _ in range(10_000):
        if not gemma._overdue:
            break
        threading.Event().wait(0.001)
    assert not gemma._overdue
    with pytest.raises(ModelError, match=r"no gemma model found.*retried in"):
        gemma.call(work, 5)
    assert factory.calls == 1
    factory.fixed = True
    clock.now += base_module.RETRY_LOAD_S
    backend, choice = gemma.call(work, 5)
    assert backend is factory.model and isinstance(choice, Choice)


def test_close_still_closes_a_backend_built_on_a_retry() -> None:
    clock, factory = _Clock(), _Factory()
    gemma = LazyBackend("gemma", factory, clock=clock)
    with pytest.raises(ModelError):
        gemma.get()
    gemma.close()  # nothing built: nothing to close, no error
    factory.fixed = True
    clock.now += base_module.RETRY_LOAD_S
    assert gemma.get() is factory.model and gemma.name == "gemma-test"
    gemma.close()
    assert factory.model.closed and gemma.name == ""


# -- 2. every tier's failure is in the answer ---------------------------------------------------


_DOWN = "memory: RuntimeError: store is down"


@pytest.mark.parametrize(
    ("gemma", "qwen", "tier"),
    [
        (ScriptedModel("g", fail="gemma down"), ScriptedModel("q", fail="qwen down"), "memory"),
        (ScriptedModel("g", fail="gemma down"), ScriptedModel("q", probs=[0.9, 0.1]), "qwen"),
        (ScriptedModel("g", probs=[0.5, 0.5]), ScriptedModel("q", fail="qwen down"), "gemma"),
        (ScriptedModel("g", probs=[0.5, 0.5]), ScriptedModel("q", probs=[0.9, 0.1]), "qwen"),
    ],
    ids=["both-models-fail", "gemma-fails", "escalation-fails", "escalated"],
)
def test_a_broken_store_is_named_whatever_the_models_do(
    gemma: ScriptedModel, qwen: ScriptedModel, tier: str
) -> None:
    """A classification question (``labels``) is asked of the models when the store is down.
    The store's failure was in the answer only when Gemma answered at once: after a model
    failed, or an escalation, the answer named the models' errors (or none) and not it."""
    router = Router(ListMemory([], fail=True), gemma, qwen)
    ans = router.answer(Query("Is the stream live?", labels=("yes", "no")))
    assert ans.tier == tier
    assert _DOWN in ans.error
    for model in (gemma, qwen):
        if model.fail:
            assert f"{model.fail}" in ans.error


def test_every_failed_tier_is_named_in_one_answer() -> None:
    router = Router(
        ListMemory([], fail=True),
        ScriptedModel("g", fail="gemma down"),
        ScriptedModel("q", fail="qwen down"),
    )
    ans = router.answer(Query("Is the stream live?", labels=("yes", "no")))
    assert ans.error.split("; ")[:3] == ["gemma: gemma down", "qwen: qwen down", _DOWN]


class _BrokenStore(ListMemory):
    """A store that cannot recall (a Chroma server down), though questions can be embedded."""

    def __init__(self) -> None:
        super().__init__([], fail=True)

    def pattern_similarity(self, query: str, patterns: Sequence[Pattern]) -> list[float]:
        return [0.8 if "INSERT OR REPLACE" in p.decision else 0.3 for p in patterns]


def _db_log(tmp_path: Path) -> Path:
    logger = "modules.infrastructure.database.src.db_manager"
    lines = [
        f"2025-10-20 15:34:10,000 - {logger} - ERROR - "
        "Database transaction failed: UNIQUE constraint failed: stream_patterns.id",
        f"2025-10-20 15:34:11,000 - {logger} - INFO - Retrying transaction with INSERT OR REPLACE",
        f"2025-10-20 15:34:12,000 - {logger} - INFO - [OK] Transaction committed (40 rows)",
    ]
    path = tmp_path / "012.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_broken_store_is_named_when_the_log_answers_a_moment(tmp_path: Path) -> None:
    """A question naming a moment is answered from the log even when the store cannot
    recall: the models' failures were reported, the store's was not."""
    router = Router(
        _BrokenStore(),
        ScriptedModel("g", fail="gemma down"),
        ScriptedModel("q", fail="qwen down"),
        rules=RoutingRules(),
        moments=LogMoments(_db_log(tmp_path)),
    )
    ans = router.answer(Query("At 15:34 on 20 October a write hit a duplicate key. How many rows?"))
    assert "(40 rows)" in ans.text and ans.tier == "memory"
    assert _DOWN in ans.error and "gemma down" in ans.error and "qwen down" in ans.error


# -- 3. an escalation whose target failed is not claimed ---------------------------------------


def _claims_only_what_happened(ans: Answer) -> None:
    # ``escalated`` says Qwen answered in place of Gemma (the menu shows "escalated: yes",
    # the metrics count an escalation to Qwen): never when something else answered
    assert not ans.escalated or ans.tier == "qwen"


def test_no_patterns_and_qwen_down_is_no_escalation() -> None:
    """Nothing recalled and Qwen unavailable: the answer said ``escalated: true``,
    "no patterns recalled", with tier none; the escalation to Qwen never happened."""
    router = Router(ListMemory([]), None, ScriptedModel("q", fail="qwen down"))
    ans = router.answer(Query(LOOKUP))
    _claims_only_what_happened(ans)
    assert ans.tier == "none" and not ans.escalated
    assert ans.escalation_reason == "no patterns recalled (qwen unavailable)"
    assert "qwen: qwen down" in ans.error


def test_both_models_down_is_no_escalation() -> None:
    """Gemma and Qwen unavailable: the memory's answer said ``escalated: true``."""
    router = Router(
        _memory(), ScriptedModel("g", fail="gemma down"), ScriptedModel("q", fail="qwen down")
    )
    ans = router.answer(Query(LOOKUP))
    _claims_only_what_happened(ans)
    assert ans.tier == "memory" and ans.text == "modules/communication/livechat"
    assert not ans.escalated and ans.escalation_reason == "models unavailable"
    assert ans.error == "gemma: gemma down; qwen: qwen down"


@pytest.mark.parametrize(
    ("gemma", "qwen"),
    [
        (None, None),
        (ScriptedModel("g", probs=[0.98, 0.01]), None),
        (ScriptedModel("g", probs=[0.5, 0.5]), None),
        (ScriptedModel("g", fail="x"), ScriptedModel("q", probs=[0.9, 0.1])),
        (ScriptedModel("g", probs=[0.5, 0.5]), ScriptedModel("q", probs=[0.9, 0.1])),
    ],
)
@pytest.mark.parametrize("memory", ["empty", "broken", "working"])
@pytest.mark.parametrize("text", [LOOKUP, "Why does the bot check the lowest score first?"])
def test_an_answer_claims_only_the_escalations_that_happened(
    gemma: Any, qwen: Any, memory: str, text: str
) -> None:
    store = {"empty": ListMemory([]), "broken": ListMemory([], fail=True)}.get(memory, _memory())
    ans = Router(store, gemma, qwen, rules=RoutingRules(retrieval_temperature=10)).answer(
        Query(text)
    )
    _claims_only_what_happened(ans)
    assert not ans.escalated or ans.escalation_reason


# -- 4. closing the router does not wait for a hung model --------------------------------------


class _StuckModel(ScriptedModel):
    """A model whose call hangs until released, and whose ``close`` waits for the call to
    end (as an in-process llama.cpp model does: both take the model's lock)."""

    def __init__(self) -> None:
        super().__init__("stuck", probs=[0.98, 0.01, 0.01])
        self.go = threading.Event()
        self.busy = threading.Lock()

    def choose(self, prompt: Prompt, labels: Sequence[str]) -> Choice:
        with self.busy:
            self.go.wait(WAIT_S * 3)
            return super().choose(prompt, labels)

    def close(self) -> None:
        with self.busy:
            super().close()


def _closes(router: Router) -> bool:
    """Whether ``router.close()`` returns (within a bound, so that a hang fails the test)."""
    closer = threading.Thread(target=router.close, daemon=True)
    closer.start()
    closer.join(WAIT_S)
    return not closer.is_alive()


def test_close_does_not_wait_for_a_model_call_past_its_deadline() -> None:
    """A call past ``model_timeout_s`` is left on a daemon thread so that it cannot hold the
    host; but ``Router.close`` (the Trainer's, at the host's shutdown, before the store's
    lock is released and the metrics written) waited for it: the shutdown hung with it."""
    stuck = _StuckModel()
    router = Router(
        _memory(),
        LazyBackend("gemma", lambda: stuck),
        ScriptedModel("qwen-test", probs=[0.01, 0.98]),
        rules=RoutingRules(model_timeout_s=0.05),
    )
    try:
        ans = router.answer(Query(LOOKUP))
        assert "gemma: no answer within" in ans.error
        assert _closes(router)
        assert not stuck.closed  # left to the call that still runs on it
    finally:
        stuck.go.set()


def test_close_does_not_wait_for_a_load_past_its_deadline() -> None:
    go = threading.Event()

    def hung_load() -> Backend:
        go.wait(WAIT_S * 3)
        return ScriptedModel("gemma-test")

    router = Router(
        _memory(),
        LazyBackend("gemma", hung_load),
        ScriptedModel("qwen-test", probs=[0.01, 0.98]),
        rules=RoutingRules(model_timeout_s=0.05),
    )
    try:
        assert "no answer within" in router.answer(Query(LOOKUP)).error
        assert _closes(router)
    finally:
        go.set()


def test_close_waits_for_a_load_within_its_deadline_and_closes_it() -> None:
    entered, go = threading.Event(), threading.Event()
    model = ScriptedModel("gemma-test", probs=[0.98, 0.01])

    def slow_load() -> Backend:
        entered.set()
        go.wait(WAIT_S)
        return model

    gemma = LazyBackend("gemma", slow_load)
    caller = threading.Thread(target=gemma.get, daemon=True)
    caller.start()
    assert entered.wait(WAIT_S)
    closer = threading.Thread(target=gemma.close, daemon=True)
    closer.start()
    go.set()
    caller.join(WAIT_S)
    closer.join(WAIT_S)
    assert not closer.is_alive() and model.closed


def test_without_a_cool_down_every_call_tries_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same through the real clock: with ``RETRY_LOAD_S`` 0, the next call builds again
    (before, the first failure was final whatever the constant)."""
    monkeypatch.setattr(base_module, "RETRY_LOAD_S", 0.0, raising=False)
    factory = _Factory()
    gemma = LazyBackend("gemma", factory)
    with pytest.raises(ModelError, match="no gemma model found"):
        gemma.get()
    factory.fixed = True
    assert gemma.get() is factory.model and factory.calls == 2


# -- 5. a forced model tier with nothing to choose from -----------------------------------------


def test_a_forced_gemma_with_nothing_recalled_asks_no_model() -> None:
    """``--tier gemma`` on an empty store asked Gemma to choose among no options: a backend
    that answered that (an empty choice) failed the whole answer ("routing failed:
    ValueError: max() arg is an empty sequence", tier none); llama.cpp's and a server's
    said "choose() needs at least one label"."""
    gemma = ScriptedModel("gemma-test")
    router = Router(ListMemory([]), gemma, ScriptedModel("qwen-test"))
    ans = router.answer(Query(LOOKUP, tier="gemma"))
    assert ans.tier == "none" and not ans.text and not gemma.calls
    assert ans.error == "gemma: nothing to choose from; no patterns recalled"


@pytest.mark.parametrize("tier", ["gemma", "qwen"])
def test_a_key_in_the_question_never_reaches_a_models_prompt(tier: str) -> None:
    """With a model server the prompt leaves the machine: a key pasted into a question (or
    chat text asked as one) is redacted first, as everything stored is."""
    gemma = ScriptedModel("g", probs=[0.98, 0.01, 0.01])
    qwen = ScriptedModel("q", probs=[0.98, 0.01, 0.01], text="an open answer")
    router = Router(_memory(), gemma, qwen)
    key = "AIzaSyD3mO7kEyNoTrEaL1234567890abcdefgh"
    answer = router.answer(
        Query(text=f"which module uses the api key {key} to reach YouTube?", tier=tier)
    )
    model = gemma if tier == "gemma" else qwen
    assert model.calls, answer
    shown = [str(prompt) for _, prompt in model.calls]
    assert not [p for p in shown if key in p or "AIzaSyD3" in p]
    assert any("[REDACTED]" in p for p in shown)
