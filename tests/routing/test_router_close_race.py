"""``Router.close()`` racing the questions being answered, with threads and events (no sleeps).

The shipped in-process backend (:class:`~foundups_training.models.llama.LlamaModel`) loads
its GGUF inside its first ``choose``/``complete`` and again after ``close()`` (which frees
the llama context); both take the model's own lock. ``_LlamaLike`` below behaves so, with
hooks that hold a call at a chosen point. Scripted models and memories only."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from foundups_training.config import Settings
from foundups_training.engine import Trainer
from foundups_training.models.base import Backend, Choice, Prompt
from foundups_training.records import Answer, Query
from foundups_training.routing import LazyBackend, Router, RoutingRules

from .scripted import ListMemory, ScriptedModel, module_pattern

LIVECHAT = module_pattern("modules/communication/livechat", "reads and answers YouTube live chat")
LINKEDIN = module_pattern("modules/platform_integration/linkedin_agent", "posts to LinkedIn")
LOOKUP = "Which module reads the live chat?"
#: a bound for waits on threads, so that a regression fails instead of hanging
WAIT_S = 10.0
#: a model deadline no call here reaches
LONG = RoutingRules(model_timeout_s=120.0)


def _memory() -> ListMemory:
    return ListMemory([(LIVECHAT, 0.62), (LINKEDIN, 0.48)])


class _LlamaLike(ScriptedModel):
    """Loads its weights in the first call after a build or a ``close()``, under its own
    lock, as ``LlamaModel`` does; counts loads and closes. ``before_lock`` and
    ``in_call`` run inside ``choose`` (before and after taking the lock), ``on_close`` at
    the start of ``close``."""

    def __init__(self) -> None:
        super().__init__("gemma-test", probs=[0.98, 0.01])
        self.lock = threading.Lock()
        self.loaded = False
        self.loads = 0
        self.closes = 0
        self.before_lock: Callable[[], None] = lambda: None
        self.in_call: Callable[[], None] = lambda: None
        self.on_close: Callable[[], None] = lambda: None

    def choose(self, prompt: Prompt, labels: Sequence[str]) -> Choice:
        self.before_lock()
        with self.lock:
            if not self.loaded:  # LlamaModel._ensure: a llama context is created
                self.loaded, self.loads = True, self.loads + 1
            self.in_call()
            return super().choose(prompt, labels)

    def close(self) -> None:
        self.on_close()
        with self.lock:
            self.loaded, self.closes = False, self.closes + 1
            super().close()


def _pause(entered: threading.Event, go: threading.Event) -> Callable[[], None]:
    """A hook that says it was reached, then waits (bounded) for ``go``."""

    def hook() -> None:
        entered.set()
        go.wait(WAIT_S * 3)

    return hook


def _asking(router: Router, query: Query) -> tuple[threading.Thread, dict[str, Answer]]:
    """A host thread asking ``query``; its answer lands in the returned box."""
    box: dict[str, Answer] = {}
    thread = threading.Thread(target=lambda: box.update(answer=router.answer(query)), daemon=True)
    thread.start()
    return thread, box


def _closing(close: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=close, daemon=True)
    thread.start()
    return thread


def _until(condition: Callable[[], bool]) -> bool:
    """Wait (bounded) until ``condition()``: a state another thread reaches, not a delay."""
    waiter = threading.Event()
    for _ in range(int(WAIT_S * 1000)):
        if condition():
            return True
        waiter.wait(0.001)
    return condition()


# -- (a) a question that already has the backend, before its model call ------------------------


def test_a_question_about_to_call_the_model_when_close_runs_leaves_nothing_loaded() -> None:
    """The question got the backend, then ``close()`` closed it (nothing loaded yet), then the
    question's call loaded the model again: a llama context made after close, which nobody
    closed (the shared model stays in the process's registry)."""
    model = _LlamaLike()
    entered, go = threading.Event(), threading.Event()
    model.before_lock = _pause(entered, go)
    router = Router(_memory(), LazyBackend("gemma", lambda: model), None, rules=LONG)
    asker, box = _asking(router, Query(LOOKUP, tier="gemma"))
    try:
        assert entered.wait(WAIT_S)
        closer = _closing(router.close)
        closer.join(WAIT_S)
        assert not closer.is_alive()
    finally:
        go.set()
    asker.join(WAIT_S)
    assert box["answer"].tier == "gemma"  # the call in flight was answered
    assert not model.loaded, "a model was loaded after close() and never closed"
    assert model.closes >= 1


def test_a_backend_built_while_close_waits_is_closed_and_the_question_refused() -> None:
    """A load within its deadline is waited for by ``close()``, which closed what it built;
    but the question that built it then called it, and loaded the model again after close."""
    model = _LlamaLike()
    building, go, closed = threading.Event(), threading.Event(), threading.Event()
    model.on_close = closed.set
    model.before_lock = _pause(threading.Event(), closed)

    def slow_build() -> Backend:
        building.set()
        go.wait(WAIT_S)
        return model

    gemma = LazyBackend("gemma", slow_build)
    router = Router(_memory(), gemma, None, rules=LONG)
    asker, box = _asking(router, Query(LOOKUP, tier="gemma"))
    try:
        assert building.wait(WAIT_S)
        closer = _closing(router.close)
        assert _until(lambda: gemma._closed)  # close() waits for the build now
    finally:
        go.set()
    closer.join(WAIT_S)
    asker.join(WAIT_S)
    assert not closer.is_alive() and not asker.is_alive()
    assert model.loads == 0 and not model.loaded, "the model was loaded after close()"
    assert model.closes == 1
    answer = box["answer"]
    assert answer.tier == "memory" and "gemma: gemma is closed" in answer.error


def test_a_load_past_its_deadline_closes_what_it_builds_after_close() -> None:
    """``close()`` does not wait for a load past ``model_timeout_s`` (the shutdown must not
    hang with it); when that load ended, what it built was kept, and nobody closed it."""
    model = _LlamaLike()
    building, go = threading.Event(), threading.Event()

    def hung_build() -> Backend:
        building.set()
        go.wait(WAIT_S * 3)
        return model

    router = Router(
        _memory(), LazyBackend("gemma", hung_build), None, rules=RoutingRules(model_timeout_s=0.05)
    )
    try:
        answer = router.answer(Query(LOOKUP, tier="gemma"))
        assert building.is_set() and "no answer within" in answer.error
        closer = _closing(router.close)
        closer.join(WAIT_S)
        assert not closer.is_alive()
    finally:
        go.set()
    assert _until(lambda: model.closes == 1), "what the late load built was never closed"
    assert not model.loaded and model.loads == 0


# -- (b) a question in the middle of its model call ---------------------------------------------


def test_close_during_a_model_call_returns_and_the_last_call_frees_the_model() -> None:
    """``close()`` closed the backend under the call in flight: with ``LlamaModel`` (whose
    ``close`` waits for its lock) it waited for the call, for ever when the call hung
    although it was still within its deadline when close began; a backend without such a
    lock was freed under the call."""
    model = _LlamaLike()
    entered, go = threading.Event(), threading.Event()
    model.in_call = _pause(entered, go)
    router = Router(_memory(), LazyBackend("gemma", lambda: model), None, rules=LONG)
    asker, box = _asking(router, Query(LOOKUP, tier="gemma"))
    try:
        assert entered.wait(WAIT_S)
        closer = _closing(router.close)
        closer.join(WAIT_S)
        assert not closer.is_alive(), "close() waited for the model call in flight"
        assert model.loaded and model.closes == 0  # not freed under the call
    finally:
        go.set()
    asker.join(WAIT_S)
    assert box["answer"].tier == "gemma"
    assert not model.loaded and model.closes == 1  # freed when the call ended


def test_a_plain_close_during_a_call_frees_that_backend_after_it_and_builds_anew() -> None:
    """``close()`` without ``final`` (the backend is built again on the next use) leaves the
    backend of a call in flight to that call, which closes it when it ends."""
    first, second = _LlamaLike(), _LlamaLike()
    built = iter([first, second])
    entered, go = threading.Event(), threading.Event()
    first.in_call = _pause(entered, go)
    gemma = LazyBackend("gemma", lambda: next(built))
    result: dict[str, Any] = {}
    caller = threading.Thread(
        target=lambda: result.update(value=gemma.call(lambda b: b.choose(_PROMPT, "AB"), 60.0)),
        daemon=True,
    )
    caller.start()
    try:
        assert entered.wait(WAIT_S)
        gemma.close()
        assert first.closes == 0
        backend, _ = gemma.call(lambda b: b.choose(_PROMPT, "AB"), 60.0)
        assert backend is second
    finally:
        go.set()
    caller.join(WAIT_S)
    assert result["value"][0] is first
    assert first.closes == 1 and second.closes == 0 and second.loaded


_PROMPT = Prompt("which?")


# -- (c) two closes at once ---------------------------------------------------------------------


def test_two_closes_at_once_close_the_model_once_and_neither_waits_for_the_other() -> None:
    model = _LlamaLike()
    router = Router(_memory(), LazyBackend("gemma", lambda: model), None, rules=LONG)
    assert router.answer(Query(LOOKUP, tier="gemma")).tier == "gemma" and model.loaded
    closing, release = threading.Event(), threading.Event()
    model.on_close = _pause(closing, release)
    first = _closing(router.close)
    try:
        assert closing.wait(WAIT_S)  # the first close is inside the model's close
        second = _closing(router.close)
        second.join(WAIT_S)
        assert not second.is_alive()
    finally:
        release.set()
    first.join(WAIT_S)
    assert not first.is_alive() and model.closes == 1 and not model.loaded


# -- (d) the Trainer closing while the router's store opens -------------------------------------


class _Store(ListMemory):
    """The pattern store, counted open and closed; ``recall`` after ``close`` fails."""

    def __init__(self) -> None:
        super().__init__([(LIVECHAT, 0.62), (LINKEDIN, 0.48)])
        self.closed = False

    def recall(self, query, n=5, where=None, min_similarity=0.0):  # type: ignore[no-untyped-def]
        if self.closed:
            raise RuntimeError("the store is closed")
        return super().recall(query, n, where, min_similarity)

    def close(self) -> None:
        self.closed = True


def test_trainer_close_while_the_store_opens_for_a_question_leaves_nothing_open(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Trainer.close`` waits for the part being opened (its ``_parts_lock``), then closes
    the router (for good) and the store, whichever way the question and the close then
    interleave; no model is left loaded."""
    import foundups_training.memory as memory_module
    import foundups_training.routing.backends as backends

    opening, go = threading.Event(), threading.Event()
    store = _Store()
    models: list[_LlamaLike] = []

    def open_memory(*args: object, **kwargs: object) -> _Store:
        opening.set()
        go.wait(WAIT_S)
        return store

    def factory(tier: str, settings: Settings) -> Callable[[], Backend]:
        def build() -> Backend:
            models.append(_LlamaLike())
            return models[-1]

        return build

    monkeypatch.setattr(memory_module, "open_memory", open_memory)
    monkeypatch.setattr(backends, "backend_factory", factory)
    trainer = Trainer(settings)
    box: dict[str, Answer] = {}
    asker = threading.Thread(
        target=lambda: box.update(answer=trainer.ask(Query(LOOKUP, tier="gemma"))), daemon=True
    )
    asker.start()
    try:
        assert opening.wait(WAIT_S)
        closer = _closing(trainer.close)
    finally:
        go.set()
    closer.join(WAIT_S)
    asker.join(WAIT_S)
    assert not closer.is_alive() and not asker.is_alive()
    assert trainer.closed and store.closed and not trainer.has_part("router")
    assert all(not m.loaded for m in models)
    assert isinstance(box["answer"], Answer)
    answered_after = trainer.ask(Query(LOOKUP))
    assert answered_after.tier == "none" and "closed" in answered_after.error
