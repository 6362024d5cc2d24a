"""Word coverage: how much of a question the chosen answer's patterns speak about.

A picked answer is usually right when its patterns mention what the question mentions: the
error code, the channel, the class, the file. Coverage is the share of the question's
content words (lower-cased words and dotted or slashed names, stop words and question words
removed) found among the words of the answer's patterns (their situation line, decision,
outcome and module path).

Measured on the 32 sample development lookups: coverage separates right picks from wrong
ones with an area under the ROC curve of 0.85, Gemma's raw score 0.59 (docs/models.md,
"Sixth session"). It is the second input of the calibration curves
(:mod:`foundups_training.models.calibration`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from foundups_training.records import Pattern, situation_of

_WORD = re.compile(r"[a-z0-9_]+(?:[./][a-z0-9_]+)*")
_PARTS = re.compile(r"[./]")

#: Words that say nothing about what a question is about.
STOP_WORDS = frozenset(
    """a an the of to in on for and or but not no is are was were be been being am it its
    that this these those there then than with by at from as into onto about over under
    what which who whom whose when where why how does do did done doing has have had can
    could would should will shall may might must i me my we us our you your they them their
    he she his her one any some all each every if so just also only very too
    module modules package part code file folder component""".split()
)


def content_words(text: str) -> frozenset[str]:
    """The question's words that carry meaning."""
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS)


def pattern_words(patterns: Iterable[Pattern]) -> frozenset[str]:
    """Every word the patterns say about their own situation, decision and outcome."""
    words: set[str] = set()
    for pat in patterns:
        for part in (situation_of(pat.context), pat.decision, pat.outcome, pat.module):
            for word in _WORD.findall(part.lower()):
                words.add(word)
                # "modules/communication/livechat" also says "livechat"
                words.update(_PARTS.split(word))
    return frozenset(words)


def text_words(text: str) -> frozenset[str]:
    """The words of an answer given as plain text (a classification label)."""
    return pattern_words([Pattern(id="", kind="", context="", decision=text)])


def coverage(question: str, words: frozenset[str]) -> float:
    """Share of the question's content words among ``words`` (0 when it has none)."""
    asked = content_words(question)
    if not asked:
        return 0.0
    return len(asked & words) / len(asked)
