"""Second review of the router: a calibration or a model that hands back broken numbers, the
threshold's edge, and questions with nothing in them to ask. Scripted models and memories
only."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest

from foundups_training.models.base import Choice, Prompt
from foundups_training.records import Answer, Pattern, Query, Recalled
from foundups_training.routing import Router, RoutingRules

from .scripted import ListMemory, ScriptedModel, module_pattern

LIVECHAT = module_pattern("modules/communication/livechat", "reads and answers YouTube live chat")
LINKEDIN = module_pattern("modules/platform_integration/linkedin_agent", "posts to LinkedIn")
DATABASE = module_pattern("modules/infrastructure/database", "SQLite storage for every module")
LOOKUP = "Which module reads the live chat?"
KEY = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcd"


def _memory() -> ListMemory:
    return ListMemory([(LIVECHAT, 0.62), (LINKEDIN, 0.48), (DATABASE, 0.40)])


class _Fixed:
    """A calibration that says the same number, whatever the score."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, tier: str, raw: float, coverage: float = 0.0, intent: str = "") -> float:
        return self.value


class _Probs:
    """A backend whose ``choose`` returns the given probabilities as they are."""

    name = "odd"

    def __init__(self, probs: Sequence[float]) -> None:
        self.probs = tuple(probs)
        self.calls = 0

    def choose(self, prompt: Prompt, labels: Sequence[str]) -> Choice:
        self.calls += 1
        return Choice(probs=self.probs)

    def close(self) -> None:
        pass


def _well_formed(ans: Answer) -> None:
    assert math.isfinite(ans.confidence) and 0.0 <= ans.confidence <= 1.0
    assert ans.tier in ("memory", "gemma", "qwen", "none")
    assert not ans.escalated or ans.escalation_reason
    if ans.tier == "none":
        assert not ans.text and ans.error and not ans.model


# -- the threshold and the confidence the answer shows --------------------------------------


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_calibration_that_says_nan_or_infinity_still_routes(value: float) -> None:
    """The answer shows such a confidence as 0 (``_probability``). Routing compared the
    number itself with the threshold: a NaN or -inf failed the whole answer ("ValueError:
    cannot convert float NaN to integer" while writing the escalation reason, tier
    ``none``), and +inf let Gemma answer unescalated with a confidence of 0."""
    gemma = ScriptedModel("gemma-test", probs=[0.98, 0.01, 0.01])
    qwen = ScriptedModel("qwen-test", probs=[0.01, 0.98, 0.01])
    router = Router(_memory(), gemma, qwen, calibration=_Fixed(value))
    ans = router.answer(Query(LOOKUP))
    _well_formed(ans)
    assert ans.tier == "qwen" and ans.escalated and not ans.error
    assert ans.escalation_reason == "gemma confidence 0.00 < 0.70"


@pytest.mark.parametrize("qwen_up", [True, False])
def test_the_threshold_is_compared_with_the_confidence_the_answer_shows(qwen_up: bool) -> None:
    """0.69996 is shown as 0.7, which meets the threshold: Gemma's answer said confidence
    0.7 beside "gemma confidence 0.69 < 0.70 (qwen unavailable)", or was escalated."""
    gemma = ScriptedModel("gemma-test", probs=[0.98, 0.01, 0.01])
    qwen = ScriptedModel("qwen-test", probs=[0.01, 0.98, 0.01], fail="" if qwen_up else "down")
    router = Router(_memory(), gemma, qwen, calibration=_Fixed(0.69996))
    ans = router.answer(Query(LOOKUP))
    _well_formed(ans)
    assert ans.tier == "gemma" and ans.confidence == 0.7
    assert not ans.escalated and ans.escalation_reason == "" and not ans.error
    assert qwen.calls == []


def test_a_threshold_with_more_places_is_written_with_them() -> None:
    """A threshold of 0.705 was written "0.70": "gemma confidence 0.70 < 0.70"."""
    gemma = ScriptedModel("gemma-test", probs=[0.98, 0.01, 0.01])
    qwen = ScriptedModel("qwen-test", probs=[0.01, 0.98, 0.01])
    rules = RoutingRules(threshold=0.705)
    router = Router(_memory(), gemma, qwen, rules=rules, calibration=_Fixed(0.7049))
    ans = router.answer(Query(LOOKUP))
    assert ans.tier == "qwen" and ans.escalated
    assert ans.escalation_reason == "gemma confidence 0.70 < 0.705"


# -- what a host hands the hook -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bogus", "module", "reasonning", "error-fix"])
def test_a_kind_that_is_not_one_is_named_not_ignored(kind: str) -> None:
    """Like an unknown tier: such a question was answered as a plain lookup, as if the host
    had named no kind, and nothing said the kind was not read."""
    memory = _memory()
    ans = Router(memory, None, None).answer(Query(LOOKUP, kind=kind))
    _well_formed(ans)
    assert ans.tier == "none" and ans.error.startswith(f"unknown kind {kind!r}")
    assert "reasoning" in ans.error and "error_fix" in ans.error
    assert memory.calls == []


@pytest.mark.parametrize("kind", ["Reasoning", "REASONING"])
def test_a_kind_is_read_whatever_its_case_as_a_tier_is(kind: str) -> None:
    qwen = ScriptedModel("qwen-test", text="Because the rule says so.")
    ans = Router(_memory(), None, qwen).answer(Query(LOOKUP, kind=kind))
    assert ans.tier == "qwen" and ans.text == "Because the rule says so."
    assert qwen.calls[0][0] == "complete"


# -- a model's broken numbers -----------------------------------------------------------------


@pytest.mark.parametrize("probs", [(0.1, math.nan, 0.9), (0.1, -math.inf, 0.9)])
@pytest.mark.parametrize("labels", [("ignore", "timeout", "ban"), ()])
def test_a_non_finite_probability_fails_the_tier_with_or_without_a_prior(
    probs: tuple[float, ...], labels: tuple[str, ...]
) -> None:
    """A NaN was caught only through the product with the retrieval prior: a closed label
    set (no prior) took the broken model's pick ("ban", confidence 0.9), and -inf (a log
    probability where a probability belongs) passed as a probability of 0 either way."""
    gemma = _Probs(probs)
    router = Router(_memory(), gemma, None)
    ans = router.answer(Query(LOOKUP, tier="gemma", labels=labels))
    _well_formed(ans)
    assert gemma.calls == 1
    assert ans.tier == "memory" and "gemma: " in ans.error and "non-finite" in ans.error


# -- a memory's broken numbers ---------------------------------------------------------------


class _Raw:
    """A memory that hands back its similarities as they are (``ListMemory`` drops a NaN
    below ``min_similarity``; a host's own memory, or a cosine of a zero vector, need not)."""

    def __init__(self, items: Sequence[tuple[Pattern, float]]) -> None:
        self.items = list(items)

    def recall(
        self, query: str, n: int = 5, where: Any = None, min_similarity: float = 0.0
    ) -> list[Recalled]:
        return [Recalled(p, s) for p, s in self.items][:n]


@pytest.mark.parametrize("broken", [math.nan, math.inf, -math.inf])
def test_a_similarity_that_is_not_a_number_is_left_out(broken: float) -> None:
    """A NaN similarity passed the fast path's "below the bar" test (NaN compares false),
    so the memory answered at once, confidence 0; or it made the retrieval prior NaN and
    both models were reported broken ("gemma: non-finite score nan; qwen: …")."""
    for first, second in ((broken, 0.5), (0.6, broken)):
        gemma = ScriptedModel("gemma-test", probs=[0.98, 0.01])
        qwen = ScriptedModel("qwen-test", probs=[0.98, 0.01])
        memory = _Raw([(LIVECHAT, first), (LINKEDIN, second)])
        ans = Router(memory, gemma, qwen).answer(Query(LOOKUP))
        _well_formed(ans)
        assert ans.tier == "gemma" and not ans.error, (first, second)
        assert len(gemma.calls) == 1
        good = LINKEDIN if math.isfinite(second) else LIVECHAT
        assert ans.text == good.module and ans.patterns == (good.id,)


# -- questions with nothing to ask ------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["\u200b", "\ufeff", "\x00", " \u2060\u200b\ufeff \x00 ", "\u200d\n"]
)
def test_a_question_of_invisible_characters_is_empty(text: str) -> None:
    """``str.strip`` keeps a zero-width space, a byte order mark and a NUL: such a question
    was recalled for and answered (Gemma, confidence 1.0 with one pattern recalled)."""
    memory = _memory()
    gemma = ScriptedModel("gemma-test", probs=[0.98, 0.01, 0.01])
    ans = Router(memory, gemma, None).answer(Query(text))
    _well_formed(ans)
    assert ans.tier == "none" and ans.error == "empty question"
    assert memory.calls == [] and gemma.calls == []


@pytest.mark.parametrize("text", [KEY, f"  {KEY}\n", f"'{KEY}'", f"{KEY} ?"])
def test_a_question_that_is_only_a_secret_is_not_asked(text: str) -> None:
    """Redacted, such a question is "[REDACTED]": it was recalled for and answered with
    whatever pattern came nearest, as if it asked something."""
    memory = _memory()
    gemma = ScriptedModel("gemma-test", probs=[0.98, 0.01, 0.01])
    ans = Router(memory, gemma, None).answer(Query(text))
    _well_formed(ans)
    assert ans.tier == "none" and "only a secret" in ans.error
    assert KEY not in ans.error
    assert memory.calls == [] and gemma.calls == []


def test_a_secret_around_a_question_still_gets_its_answer() -> None:
    memory = _memory()
    ans = Router(memory, None, None).answer(Query(f"{LOOKUP} {KEY}", tier="memory"))
    assert ans.tier == "memory" and ans.text == "modules/communication/livechat"


def test_a_chat_message_that_is_only_a_secret_is_still_classified() -> None:
    """With labels the text is a chat message to sort: one that is only a pasted key is
    still one (a moderator deletes it), so it is not refused."""
    gemma = ScriptedModel("gemma-test", probs=[0.05, 0.05, 0.9])
    ans = Router(ListMemory([]), gemma, None).answer(
        Query(KEY, labels=("ignore", "timeout", "delete"))
    )
    assert ans.tier == "gemma" and ans.text == "delete"
    assert KEY not in gemma.calls[0][1].text
