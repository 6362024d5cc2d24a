"""Priority questions that give the scores: the mined rule applied to the question's numbers.

A priority pattern records one scoring round: each channel's score, the order the channels
were checked in, and the rule that order follows (:data:`PRIORITY_RULE`). A question such as
"Qwen gave Move2Japan 1.00 and UnDaoDu 5.38: which channel is checked first?" is answered by
no recorded round, since its numbers are new; picking the closest round answers another
question. When recalled priority patterns state the rule and name the channels, the rule is
applied to the numbers the question gives instead.

Nothing is applied on a guess: at least two named channels, each with exactly one score, no
tie, and a question about which comes *first*. Anything else is left to the models.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from foundups_training.mining.extractors import PRIORITY_RULE
from foundups_training.records import Recalled

#: "order: UnDaoDu [MINDFUL] -> FoundUps [FOUNDUPS] -> Move2Japan [JAPAN]" in a decision.
_ORDER = re.compile(r"order: (.+?)(?:\. |$)")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.]*\d)")
#: The question asks which channel comes first (not last, not after one came up empty).
_FIRST = re.compile(r"\b(?:first|before|earlier|sooner)\b", re.I)
_NOT_FIRST = re.compile(
    r"\b(?:second|third|after|next)\b|\blast\s*\?|\b(?:checked|looked at|goes|comes) last\b", re.I
)
#: At most this many words between a channel's name and its score ("X scored 2.4").
_GAP_WORDS = 3


@dataclass(frozen=True)
class RuleAnswer:
    """The rule applied to the question's scores: the answer, and the patterns stating it."""

    text: str
    pattern_ids: tuple[str, ...]
    evidence: str
    similarity: float


def _channels(recalled: Sequence[Recalled]) -> dict[str, str]:
    """Channel name (lower case) -> its label as the log shows it ("UnDaoDu [MINDFUL]")."""
    names: dict[str, str] = {}
    for rec in recalled:
        m = _ORDER.search(rec.pattern.decision)
        if not m:
            continue
        for label in m.group(1).split(" -> "):
            label = label.strip()
            name = label.split(" [", 1)[0].strip()
            if name and name != "?":
                names.setdefault(name.lower(), label)
    return names


def _score_after(question: str, end: int, stop: int) -> float | None:
    """The first number within a few words after ``end`` (before ``stop``), if any."""
    span = question[end:stop]
    m = _NUMBER.search(span)
    if not m or len(span[: m.start()].split()) > _GAP_WORDS:
        return None
    return float(m.group(0))


def scores_in(question: str, channels: Sequence[str]) -> dict[str, float] | None:
    """Each named channel's score in ``question``; None unless every named one has one."""
    spots = []
    for name in channels:
        for m in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", question, re.I):
            spots.append((m.start(), m.end(), name))
    spots.sort()
    found: dict[str, float] = {}
    for i, (_, end, name) in enumerate(spots):
        stop = spots[i + 1][0] if i + 1 < len(spots) else len(question)
        score = _score_after(question, end, stop)
        if score is None or (name in found and found[name] != score):
            return None
        found[name] = score
    return found


def apply_priority_rule(question: str, recalled: Sequence[Recalled]) -> RuleAnswer | None:
    """The rule's answer to ``question``, or None when the rule cannot be applied safely."""
    if not _FIRST.search(question) or _NOT_FIRST.search(question):
        return None
    stating = [r for r in recalled if r.pattern.kind == "priority" and PRIORITY_RULE in (
        r.pattern.decision
    )]  # fmt: skip
    if not stating:
        return None
    labels = _channels(stating)
    scores = scores_in(question, list(labels))
    if not scores or len(scores) < 2 or len(set(scores.values())) < len(scores):
        return None  # one channel, or a tie: the rule alone does not decide
    ranked = tuple(sorted(((labels[n], s) for n, s in scores.items()), key=lambda cs: cs[1]))
    order = " -> ".join(label for label, _ in ranked)
    text = f"check {ranked[0][0]} first ({PRIORITY_RULE}); order: {order}"
    listing = ", ".join(f"{label}={score:g}" for label, score in ranked)
    return RuleAnswer(
        text=text,
        pattern_ids=tuple(r.pattern.id for r in stating),
        # What a model is shown for this option: the question's scores under the rule, not
        # a recorded round (whose scores are other numbers).
        evidence=f"{listing} ({PRIORITY_RULE})",
        similarity=max(r.similarity for r in stating),
    )
