"""A masked answer made concrete again: the recorded instance the question is about.

Mining masks what varies between occurrences ("Quota exceeded for credential set <NUM>" →
"Rotating to credential set <NUM>"), so that one pattern counts them all. The masked text
cannot answer "credential set 2 ran out: which set came next?". A pattern therefore keeps a
few concrete instances (:attr:`Pattern.variants`: the situation line, the decision and the
outcome as logged), and an answer built from it names the instance the question is about:

- the instance whose situation shares the most numbers with the question, when every
  instance sharing that many decided the same (a number every instance has, such as the
  403 of each quota error, decides nothing);
- otherwise, when every kept instance decided the same concrete thing and none was left
  out, that decision (the mask hid nothing that varied);
- otherwise the masked answer stays.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from foundups_training.records import MAX_VARIANTS, Pattern, Variant

_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?!\w)")


def numbers(text: str) -> frozenset[str]:
    """The numbers ``text`` names, as written ("2", "6.41")."""
    return frozenset(_NUMBER.findall(text))


def instance_for(question: str, pattern: Pattern) -> Variant | None:
    """The recorded instance of ``pattern`` that ``question`` names by its numbers, if one
    stands out."""
    variants = pattern.variants
    asked = numbers(question)
    if not variants or not asked:
        return None
    shared = [len(asked & numbers(v[0])) for v in variants]
    best = max(shared)
    if best == 0:
        return None
    top = [v for v, n in zip(variants, shared, strict=True) if n == best]
    return top[0] if len({v[1] for v in top}) == 1 else None


def concrete_text(question: str, patterns: Sequence[Pattern]) -> str | None:
    """The answer text of one option made concrete, or None (the template stays).

    ``patterns`` are the option's patterns, best first: they share the decision, not their
    instances (the same rotation that once ended in a login and once in giving up), so the
    instance the question names is looked for in each of them. The agreement fallback uses
    the best pattern alone.
    """
    for pattern in patterns:
        inst = instance_for(question, pattern)
        if inst is not None:
            _, decision, outcome = inst
            return decision + (f" (then: {outcome})" if outcome else "")
    if not patterns:
        return None
    best = patterns[0]
    if 0 < len(best.variants) < MAX_VARIANTS and len({v[1] for v in best.variants}) == 1:
        outcome = best.outcome
        return best.variants[0][1] + (f" (then: {outcome})" if outcome else "")
    return None
