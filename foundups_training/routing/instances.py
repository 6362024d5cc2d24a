"""A masked answer made concrete again: the recorded instance the question is about.

Mining masks what varies between occurrences ("Quota exceeded for credential set <NUM>" →
"Rotating to credential set <NUM>"), so that one pattern counts them all. The masked text
cannot answer "credential set 2 ran out: which set came next?". A pattern therefore keeps a
few concrete instances (:attr:`Pattern.variants`: the situation line, the decision and the
outcome as logged; every episode keeps them, masked or not, since an unmasked decision's
occurrences still end differently), and an answer built from it names the instance the
question is about:

- the instance whose situation shares the most with the question — its numbers, and the
  words that tell the instances apart ("the idle automation module" names the finding in
  ``modules/infrastructure/idle_automation/``, not the one in ``…/youtube_auth/``) — when
  every instance sharing that much decided the same (a number or a word every instance
  has, such as the 403 of each quota error, decides nothing);
- otherwise, when the question asks what happens most often and every occurrence was
  counted (:attr:`Pattern.tally`), the instance seen most often, with its count ("Menu
  option 12 selected (7 of 13 times)"), counted across the option's patterns when each
  counted all of its own (:func:`option_most_often`);
- otherwise, when none was left out, the template with each placeholder that every kept
  instance fills the same way filled in (the mask hid nothing that varied there: "Phase
  <NUM>: pattern training: 500 lines processed");
- otherwise the masked answer stays.

What followed a decision is named the same way: an option's patterns share the decision and
differ in how it ended, and the ending whose words the question says ("until the retries
ran out" → "Max retries reached; giving up on live chat") is the one shown
(:func:`outcome_of`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from foundups_training.records import MASKED, MAX_VARIANTS, Pattern, Variant
from foundups_training.routing.coverage import STOP_WORDS

_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?!\w)")
_WORD = re.compile(r"[a-z]{3,}")


def numbers(text: str) -> frozenset[str]:
    """The numbers ``text`` names, as written ("2", "6.41")."""
    return frozenset(_NUMBER.findall(text))


def words(text: str) -> frozenset[str]:
    """The words ``text`` names, lower-cased, names split at ``_``, ``/`` and ``.``
    ("youtube_auth" → "youtube", "auth"); stop words left out."""
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS)


def instance_for(question: str, pattern: Pattern) -> Variant | None:
    """The recorded instance of ``pattern`` that ``question`` names, if one stands out."""
    variants = pattern.variants
    if not variants:
        return None
    asked_numbers, asked_words = numbers(question), words(question)
    said = _apart([words(v[0]) for v in variants])
    shared = [
        len(asked_numbers & numbers(v[0])) + len(asked_words & w)
        for v, w in zip(variants, said, strict=True)
    ]
    best = max(shared)
    if best == 0:
        return None
    top = [v for v, n in zip(variants, shared, strict=True) if n == best]
    return top[0] if len({v[1] for v in top}) == 1 else None


def _apart(said: Sequence[frozenset[str]]) -> list[frozenset[str]]:
    """Each text's words less those every text says: a word they all say tells none of them
    apart (and a single text is told apart from nothing)."""
    common = frozenset.intersection(*said) if said else frozenset()
    return [w - common for w in said]


#: The time, level and logger an outcome starts with as logged ("19:02:34 ERROR x: ...").
_LOGGED_BY = re.compile(r"^\d\d:\d\d:\d\d \w+ [\w.]+: ")


def named_outcome(question: str, outcomes: Sequence[str]) -> str:
    """The one of ``outcomes`` (the endings logged after one decision) that ``question``
    names by the words that tell the endings apart ("until the retries ran out" → "Max
    retries reached; giving up …"); "" when none or more than one shares the most."""
    if len(set(outcomes)) < 2:
        return ""
    asked = words(question)
    said = _apart([words(_LOGGED_BY.sub("", o)) for o in outcomes])
    shared = [len(asked & w) for w in said]
    best = max(shared)
    top = {o for o, n in zip(outcomes, shared, strict=True) if n == best}
    return outcomes[shared.index(best)] if best and len(top) == 1 else ""


def outcome_of(question: str, patterns: Sequence[Pattern]) -> str:
    """What followed an option's decision: the outcome the question names among its
    patterns' (:func:`named_outcome`), else its best pattern's outcome, else (when nothing
    was logged after that occurrence) the outcome most often logged after the same
    decision."""
    if not patterns:
        return ""
    named = named_outcome(question, [p.outcome for p in patterns if p.outcome])
    if named:
        return named
    if patterns[0].outcome:
        return patterns[0].outcome
    logged = [p for p in patterns if p.outcome]
    return max(logged, key=lambda p: p.seen).outcome if logged else ""


class Concrete(NamedTuple):
    """An option's answer made concrete."""

    #: the decision as logged, and what followed it: ``"tried: X (then: Y)"``
    text: str
    #: the situation of the instance the answer is about, as logged; "" when the answer
    #: comes from what all instances agree on (no single one was singled out)
    situation: str = ""


_MOST_OFTEN = re.compile(
    r"\b(?:most (?:often|common(?:ly)?|frequent(?:ly)?|usual(?:ly)?)|usually|typically"
    r"|more often than not)\b",
    re.IGNORECASE,
)


def asks_most_often(question: str) -> bool:
    """Whether ``question`` asks what happens most often ("which option is chosen most
    often?", "what does it usually do?")."""
    return _MOST_OFTEN.search(question) is not None


def _exact(pattern: Pattern) -> bool:
    """Whether ``pattern``'s tally counts every occurrence of its instances."""
    tally, kept = pattern.tally, pattern.variants
    return bool(kept) and len(tally) == len(kept) and sum(tally) == pattern.seen


def most_often(pattern: Pattern) -> tuple[Variant, int] | None:
    """The instance of ``pattern`` seen most often and how often, when the tally counts
    every occurrence (it sums to ``seen``) and one instance leads; else None."""
    tally, kept = pattern.tally, pattern.variants
    if len(kept) < 2 or not _exact(pattern):
        return None
    top = max(tally)
    if tally.count(top) > 1:
        return None
    return kept[tally.index(top)], top


def option_most_often(patterns: Sequence[Pattern]) -> tuple[Variant, int, int] | None:
    """The instance an option's patterns saw most often, how often, and of how many.

    The patterns share the decision and differ in how it ended (the rotation after set 1
    ran out once ended in a login, once in giving up): when each counted every occurrence,
    the option's instances are counted across them all ("13 of 25 times", not the nearer
    pattern's "5 of 7"), shown with the ending that instance had most often; a tie decides
    nothing. Otherwise the first pattern, best first, whose own count names one
    (:func:`most_often`)."""
    if len(patterns) > 1 and all(_exact(p) for p in patterns):
        counts: dict[tuple[str, str], int] = {}
        ending: dict[tuple[str, str], tuple[int, str]] = {}
        for pattern in patterns:
            for (situation, decision, outcome), n in zip(
                pattern.variants, pattern.tally, strict=True
            ):
                key = (situation, decision)
                counts[key] = counts.get(key, 0) + n
                if n > ending.get(key, (0, ""))[0]:  # equals: the nearer pattern's ending
                    ending[key] = (n, outcome)
        top = max(counts.values())
        leaders = [k for k, n in counts.items() if n == top]
        if len(counts) < 2 or len(leaders) > 1:
            return None
        (situation, decision), total = leaders[0], sum(p.seen for p in patterns)
        return (situation, decision, ending[leaders[0]][1]), top, total
    for pattern in patterns:
        found = most_often(pattern)
        if found is not None:
            return found[0], found[1], pattern.seen
    return None


def concrete_text(question: str, patterns: Sequence[Pattern]) -> Concrete | None:
    """The answer of one option made concrete, or None (the template stays).

    ``patterns`` are the option's patterns, best first: they share the decision, not their
    instances (the same rotation that once ended in a login and once in giving up), so the
    instance the question names is looked for in each of them. The agreement fallback uses
    the best pattern alone.
    """
    for pattern in patterns:
        inst = instance_for(question, pattern)
        if inst is not None:
            situation, decision, outcome = inst
            return Concrete(decision + (f" (then: {outcome})" if outcome else ""), situation)
    if not patterns or not MASKED.search(patterns[0].decision):
        # a decision that masks nothing says itself what was decided: only a named
        # instance (above) adds something, what followed that one occurrence
        return None
    if asks_most_often(question):
        top = option_most_often(patterns)
        if top is not None:
            (situation, decision, outcome), n, total = top
            then = f" (then: {outcome})" if outcome else ""
            return Concrete(f"{decision} ({n} of {total} times){then}", situation)
    best = patterns[0]
    if not 0 < len(best.variants) < MAX_VARIANTS:
        return None
    decisions = {v[1] for v in best.variants}
    settled = decisions.pop() if len(decisions) == 1 else settle(best.decision, decisions)
    if settled is None:
        return None
    outcome = outcome_of(question, patterns)
    return Concrete(settled + (f" (then: {outcome})" if outcome else ""))


def _filled(literals: Sequence[str], decision: str) -> list[str] | None:
    """What ``decision`` puts in each placeholder of the template whose text between its
    placeholders is ``literals`` (each placeholder at least one character); None when it
    does not read as that template.

    Each literal is placed where it first occurs: the placement a regular expression
    ``literal(.+?)literal…`` would find first, and one that fits whenever any does. That
    expression backtracked through every way of splitting a decision that does not fit
    (a template cut at 200 characters, ending ``<*>``, against its instance cut at another
    word): a logged list of 30 ids held a lookup, and the interpreter lock, for minutes.
    This is one pass."""
    first, *middle, last = literals
    if not decision.startswith(first):
        return None
    at = len(first)
    values = []
    for literal in middle:
        found = decision.find(literal, at + 1)
        if found < 0:
            return None
        values.append(decision[at:found])
        at = found + len(literal)
    end = len(decision) - len(last)
    if end <= at or not decision.endswith(last):
        return None
    values.append(decision[at:end])
    return values


def settle(template: str, decisions: Iterable[str]) -> str | None:
    """``template`` with each placeholder that every decision fills with the same value
    filled in ("Phase <NUM>: <NUM> lines processed" → "Phase <NUM>: 500 lines processed"),
    or None when nothing is settled or a decision does not read as the template."""
    literals = MASKED.split(template)
    slots = MASKED.findall(template)
    if not slots or "" in literals[1:-1]:
        # two placeholders side by side can be split more than one way: claim nothing
        return None
    filled: list[set[str]] = [set() for _ in slots]
    for decision in decisions:
        values = _filled(literals, decision)
        if values is None:
            return None
        for seen, value in zip(filled, values, strict=True):
            seen.add(value)
    if all(len(seen) > 1 for seen in filled):
        return None
    out = [literals[0]]
    for slot, seen, literal in zip(slots, filled, literals[1:], strict=True):
        out.append(next(iter(seen)) if len(seen) == 1 else slot)
        out.append(literal)
    return "".join(out)
