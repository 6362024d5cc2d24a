"""Priority questions that give the scores: the mined rule applied to the question's numbers.

A priority pattern records one scoring round: each channel's score, the order the channels
were checked in, and the rule that order follows (:data:`PRIORITY_RULE`). A question such as
"Qwen gave Move2Japan 1.00 and UnDaoDu 5.38: which channel is checked first?" is answered by
no recorded round, since its numbers are new; picking the closest round answers another
question. When recalled priority patterns state the rule and name the channels, the rule is
applied to the numbers the question gives instead.

Nothing is applied on a guess: at least two named channels, each with exactly one score, no
tie, and a question about which comes *first*. Anything else is left to the models.

A question whose scores are those of a round the log recorded ("In the round where FoundUps
scored 1.26 and Move2Japan 1.28, which channel was looked at first, and was it on air?") is
about that round: :func:`recorded_round` answers with what was decided then and what
followed, which the rule alone cannot say.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from foundups_training.mining.extractors import PRIORITY_RULE
from foundups_training.records import Recalled

#: "order: UnDaoDu [MINDFUL] -> FoundUps [FOUNDUPS] -> Move2Japan [JAPAN]" in a decision.
_ORDER = re.compile(r"order: (.+?)(?:\. |$)")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")
#: The question asks which channel comes first (not last, not after one came up empty).
_FIRST = re.compile(r"\b(?:first|before|earlier|sooner)\b", re.I)
_NOT_FIRST = re.compile(
    r"\b(?:second|third|after|next)\b|\blast\s*\?|\b(?:checked|looked at|goes|comes) last\b", re.I
)
#: At most this many words between a channel's name and its score ("X scored 2.4").
_GAP_WORDS = 3
#: "Move2Japan [JAPAN]=3.58" in a recorded round's score listing.
_LISTED = re.compile(r"(?:^|, )([^,=\[]+?) \[[^\]]*\]=(\d+(?:\.\d+)?)")
#: Two scores closer than this are the same score (the log writes two decimals).
_SAME = 0.005


@dataclass(frozen=True)
class RuleAnswer:
    """The rule applied to the question's scores, or the recorded round they name: the
    answer, and the patterns it comes from."""

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
    """The first number within a few words after ``end`` (before ``stop``), if any.

    Linear in the question's length: a 50 KB run of digits is read once (a look-ahead over
    it from each of its digits took 20 s, holding the interpreter lock the host's threads
    need)."""
    for m in _NUMBER.finditer(question, end, stop):
        if len(question[end : m.start()].split()) > _GAP_WORDS:
            return None
        if not _joined(question, m.end(), stop):
            return _grouped(question, m.group(0), m.end(), stop)
    return None


#: What may follow a number as a question writes it: a comma and digits ("3,82", "1,000"),
#: or a space and three digits ("1 000", with a no-break or thin space as often).
_AFTER = re.compile(r",(\d+)|[ \u00a0\u202f\u2009](\d{3})(?!\w)", re.ASCII)
#: More digits joined on after those ("1,000,000", "1 000,5").
_MORE = re.compile(r"[.,]?\d")


def _grouped(question: str, number: str, end: int, stop: int) -> float | None:
    """``number`` (read up to ``end``) as the score it writes, with what follows it.

    "3,82" is 3.82 written with a decimal comma. "1,000" and "1 000" may be a thousand or
    (the first) one with three decimals: None, nothing is applied on a guess. Before, the
    digits after the comma or space were not read: "Move2Japan 1,000 and UnDaoDu 5.38" had
    Move2Japan scored 1 and checked first."""
    after = _AFTER.match(question, end, stop)
    if after is None:
        return float(number)
    if _MORE.match(question, after.end(), stop):
        return None
    decimals = after.group(1)
    if decimals is not None and "." not in number and len(decimals) != 3:
        return float(f"{number}.{decimals}")
    return None


def _joined(text: str, at: int, stop: int) -> bool:
    """Whether more digits are joined on at ``at`` ("5x2", "1.2.3"): not a score of its own."""
    for ch in text[at:stop]:
        if ch.isdigit():
            return True
        if not (ch.isalnum() or ch in "._"):
            return False
    return False


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


def _listed(situation: str) -> dict[str, float]:
    """A recorded round's scores: channel name (lower case) -> score."""
    return {name.strip().lower(): float(score) for name, score in _LISTED.findall(situation)}


def _asked(question: str, priority: Sequence[Recalled]) -> dict[str, float]:
    """The scores ``question`` gives the channels that ``priority`` patterns name, when it
    gives two or more; else empty."""
    labels = _channels(priority)
    asked = scores_in(question, list(labels)) if labels else None
    return asked if asked and len(asked) >= 2 else {}


def gives_scores(question: str, recalled: Sequence[Recalled]) -> bool:
    """Whether ``question`` gives a score for two or more of the channels that the recalled
    priority patterns name."""
    return bool(_asked(question, [r for r in recalled if r.pattern.kind == "priority"]))


def recorded_round(question: str, recalled: Sequence[Recalled]) -> RuleAnswer | None:
    """The recorded round whose scores the question gives, with what followed it; None when
    the question gives fewer than two scores, no kept round has them all, or the rounds that
    have them differ in what they decided or what followed (or may: a kept round whose tally
    says its scores came back keeps only the first ending)."""
    rounds = [r for r in recalled if r.pattern.kind == "priority" and r.pattern.variants]
    asked = _asked(question, rounds)
    if not asked:
        return None
    found: dict[str, tuple[Recalled, str]] = {}
    for rec in rounds:
        tally = rec.pattern.tally
        for i, (situation, decision, outcome) in enumerate(rec.pattern.variants):
            listed = _listed(situation)
            if all(abs(listed.get(n, -1.0) - s) < _SAME for n, s in asked.items()):
                if i < len(tally) and tally[i] > 1:
                    return None  # the same scores came back: only the first ending is kept
                text = decision + (f" (then: {outcome})" if outcome else "")
                found.setdefault(text, (rec, situation))
    if len(found) != 1:
        return None
    text, (rec, situation) = next(iter(found.items()))
    return RuleAnswer(
        text=text,
        pattern_ids=(rec.pattern.id,),
        evidence=f"{situation} ({PRIORITY_RULE})",
        similarity=rec.similarity,
    )
