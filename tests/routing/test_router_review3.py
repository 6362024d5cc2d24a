"""Third review of the router: a host's labels (a chat message to sort into the host's own
closed set), the patterns an answer names, answering after close, and what the latency
counts. Scripted models and memories only."""

from __future__ import annotations

import re
import time

import pytest

from foundups_training.models.base import ModelError, Prompt
from foundups_training.models.prompts import LETTERS
from foundups_training.records import Pattern, Query
from foundups_training.routing import LazyBackend, Router, RoutingRules

from .scripted import ListMemory, ScriptedModel, module_pattern

LIVECHAT = module_pattern("modules/communication/livechat", "reads and answers YouTube live chat")
LINKEDIN = module_pattern("modules/platform_integration/linkedin_agent", "posts to LinkedIn")
DATABASE = module_pattern("modules/infrastructure/database", "SQLite storage for every module")
DISCORD = module_pattern("modules/communication/discord", "Discord sessions for the bot")
LOOKUP = "Which module reads the live chat?"
SIX = ("ignore", "warn", "timeout", "delete", "ban", "report")


def _memory() -> ListMemory:
    return ListMemory([(LIVECHAT, 0.62), (LINKEDIN, 0.48), (DATABASE, 0.40), (DISCORD, 0.39)])


def _shown(prompt: Prompt) -> list[str]:
    """The letters a Gemma prompt offers (its option lines end ``» = X``)."""
    return re.findall(r"» = ([A-F])\n", prompt.text)


# -- labels: the host's closed set ------------------------------------------------------------


@pytest.mark.parametrize("count", [4, 5, 6])
def test_gemma_is_shown_every_label(count: int) -> None:
    """``gemma_max_options`` (3) cut the host's labels too: a message whose label was the
    4th, 5th or 6th could never be sorted into it by Gemma (it picked among the first 3,
    sure of itself, and answered)."""
    labels = SIX[:count]
    gemma = ScriptedModel("gemma-test", probs=[0.01] * (count - 1) + [0.99])
    router = Router(ListMemory([]), gemma, None, rules=RoutingRules(threshold=0.0))
    ans = router.answer(Query("you are all idiots, buy followers at spam.example", labels=labels))
    assert _shown(gemma.calls[0][1]) == list(LETTERS[:count])
    for label in labels:
        assert f"«{label}» = " in gemma.calls[0][1].text
    assert ans.tier == "gemma" and ans.text == labels[-1] and not ans.error


@pytest.mark.parametrize("tier", ["auto", "memory", "gemma", "qwen"])
def test_more_labels_than_letters_are_refused_not_cut(tier: str) -> None:
    """Labels past the sixth (F) were dropped silently: the 7th could never be the answer,
    and the host was not told. Such a question is refused, naming the limit, and nothing is
    recalled or asked."""
    labels = (*SIX, "escalate")
    memory = _memory()
    gemma, qwen = ScriptedModel("gemma-test"), ScriptedModel("qwen-test")
    ans = Router(memory, gemma, qwen).answer(Query("spam spam spam", tier=tier, labels=labels))
    assert ans.tier == "none" and not ans.text and not ans.model
    assert "too many labels: 7" in ans.error and "at most 6" in ans.error
    assert memory.calls == [] and gemma.calls == [] and qwen.calls == []


@pytest.mark.parametrize("tier", ["auto", "qwen"])
def test_a_labelled_message_that_reads_like_a_why_is_still_sorted(tier: str) -> None:
    """A chat message that reads as a reasoning question ("why is the stream down??") went
    to Qwen's open answer: the host got a paragraph of prose, none of its labels."""
    gemma = ScriptedModel("gemma-test", probs=[0.01, 0.98, 0.01])
    qwen = ScriptedModel("qwen-test", probs=[0.01, 0.01, 0.98], text="Because of the quota.")
    router = Router(_memory(), gemma, qwen)
    ans = router.answer(
        Query("why is the stream down again??", tier=tier, labels=("ignore", "answer", "ban"))
    )
    assert ans.text in ("ignore", "answer", "ban")
    assert all(call == "choose" for call, _ in gemma.calls + qwen.calls)


def test_a_labelled_message_of_kind_reasoning_is_still_sorted() -> None:
    qwen = ScriptedModel("qwen-test", probs=[0.98, 0.01], text="Because.")
    ans = Router(_memory(), None, qwen).answer(
        Query("is this spam?", tier="qwen", kind="reasoning", labels=("spam", "fine"))
    )
    assert ans.tier == "qwen" and ans.text == "spam"


# -- the patterns an answer names --------------------------------------------------------------


def test_gemma_answer_names_only_the_patterns_of_the_options_it_saw() -> None:
    """Gemma is shown 3 options (``gemma_max_options``); its answer listed the 4th option's
    patterns too, as if it had been one of the choices."""
    gemma = ScriptedModel("gemma-test", probs=[0.98, 0.01, 0.01])
    ans = Router(_memory(), gemma, None, rules=RoutingRules(threshold=0.0)).answer(Query(LOOKUP))
    assert ans.tier == "gemma" and len(_shown(gemma.calls[0][1])) == 3
    assert ans.patterns == (LIVECHAT.id, LINKEDIN.id, DATABASE.id)


def test_gemma_answer_kept_after_a_failed_escalation_names_what_gemma_saw() -> None:
    gemma = ScriptedModel("gemma-test", probs=[0.4, 0.3, 0.3])
    qwen = ScriptedModel("qwen-test", fail="no qwen here")
    rules = RoutingRules(retrieval_temperature=10)
    ans = Router(_memory(), gemma, qwen, rules=rules).answer(Query(LOOKUP))
    assert ans.tier == "gemma" and "qwen unavailable" in ans.escalation_reason
    assert ans.patterns == (LIVECHAT.id, LINKEDIN.id, DATABASE.id)


def test_qwen_answer_names_the_patterns_of_all_the_options_it_saw() -> None:
    """Qwen, escalated to, is shown every option (``max_options``): all four count."""
    gemma = ScriptedModel("gemma-test", probs=[0.4, 0.3, 0.3])
    qwen = ScriptedModel("qwen-test", probs=[0.01, 0.01, 0.01, 0.97])
    rules = RoutingRules(retrieval_temperature=10)
    ans = Router(_memory(), gemma, qwen, rules=rules).answer(Query(LOOKUP))
    assert ans.tier == "qwen" and ans.escalated and ans.text == DISCORD.module
    assert ans.patterns == (DISCORD.id, LIVECHAT.id, LINKEDIN.id, DATABASE.id)


# -- after close --------------------------------------------------------------------------------


class _Factory:
    """Builds a scripted model and counts the builds (a load of the model)."""

    def __init__(self) -> None:
        self.builds = 0

    def __call__(self) -> ScriptedModel:
        self.builds += 1
        return ScriptedModel("gemma-test", probs=[0.98, 0.01, 0.01, 0.01])


@pytest.mark.parametrize("tier", ["auto", "memory", "gemma", "qwen"])
def test_a_question_after_close_is_refused_and_loads_nothing(tier: str) -> None:
    """close() released the models, and the next question loaded them again (nobody was
    left to close them: a 1.1 GB Qwen held until the process ended)."""
    gemma, qwen = _Factory(), _Factory()
    memory = _memory()
    router = Router(memory, LazyBackend("gemma", gemma), LazyBackend("qwen", qwen))
    assert router.answer(Query(LOOKUP)).tier == "gemma" and gemma.builds == 1
    router.close()
    memory.calls.clear()
    ans = router.answer(Query(LOOKUP, tier=tier))
    assert ans.tier == "none" and not ans.text and not ans.model
    assert "closed" in ans.error
    assert gemma.builds == 1 and qwen.builds == 0 and memory.calls == []


class _ClosingMemory(ListMemory):
    """A memory during whose recall the host shuts the router down."""

    router: Router | None = None

    def recall(self, query, n=5, where=None, min_similarity=0.0):  # type: ignore[no-untyped-def]
        if self.router is not None:
            self.router.close()
        return super().recall(query, n, where, min_similarity)


def test_a_question_being_answered_when_close_runs_loads_no_model() -> None:
    gemma, qwen = _Factory(), _Factory()
    memory = _ClosingMemory([(LIVECHAT, 0.62), (LINKEDIN, 0.48)])
    router = Router(memory, LazyBackend("gemma", gemma), LazyBackend("qwen", qwen))
    memory.router = router
    ans = router.answer(Query(LOOKUP))
    assert ans.tier == "memory" and "gemma: gemma is closed" in ans.error
    assert gemma.builds == 0 and qwen.builds == 0


def test_a_closed_backend_is_not_built_again() -> None:
    """A question already past the router's check when close() ran must not load the model
    again either: the router closes its backends for good, and each says it is closed. (A
    plain ``close()`` still lets a backend be built again, as before.)"""
    factory = _Factory()
    lazy = LazyBackend("gemma", factory)
    lazy.get()
    lazy.close(final=True)
    with pytest.raises(ModelError, match="closed"):
        lazy.get()
    with pytest.raises(ModelError, match="closed"):
        lazy.call(lambda b: b, 5.0)
    assert factory.builds == 1


def test_a_backend_closed_before_its_first_use_is_never_built() -> None:
    factory = _Factory()
    lazy = LazyBackend("gemma", factory)
    lazy.close(final=True)
    with pytest.raises(ModelError, match="closed"):
        lazy.get()
    assert factory.builds == 0


# -- latency ------------------------------------------------------------------------------------


def test_latency_counts_from_when_the_caller_began_waiting() -> None:
    """The first question opens the store (and builds the router) before the router's own
    clock starts: its latency left that out. A caller that did work first passes when it
    began (``time.perf_counter()``), and the latency counts from then."""
    router = Router(_memory(), ScriptedModel("gemma-test", probs=[0.98, 0.01, 0.01]), None)
    before = time.perf_counter()
    ans = router.answer(Query(LOOKUP), started=before - 2.0)
    assert ans.latency_ms >= 2000.0
    assert router.answer(Query(LOOKUP)).latency_ms > 0.0


def test_latency_is_counted_for_a_refused_question_too() -> None:
    router = Router(_memory(), None, None)
    _ans, _detail = router.answer_detailed(Query("  "), started=time.perf_counter() - 1.0)
    assert _ans.error == "empty question" and _ans.latency_ms >= 1000.0


# -- questions without labels do not change --------------------------------------------------


def test_a_lookup_without_labels_is_answered_as_before() -> None:
    """The constraint on this review: without labels, answer, tier and confidence are
    those of before (Gemma shown the best 3, Qwen all 4)."""
    gemma = ScriptedModel("gemma-test", probs=[0.98, 0.01, 0.01])
    ans = Router(_memory(), gemma, None).answer(Query(LOOKUP))
    assert len(_shown(gemma.calls[0][1])) == 3
    assert ans.tier == "gemma" and ans.text == LIVECHAT.module


def test_a_pattern_kind_is_unaffected() -> None:
    fix = Pattern.make("error_fix", "403 quotaExceeded", "Rotating to credential set 2")
    ans = Router(ListMemory([(fix, 0.6)]), None, None).answer(
        Query("quota ran out", tier="memory", kind="error_fix")
    )
    assert ans.tier == "memory" and ans.patterns == (fix.id,)
