"""Drain-style templates: the variable parts of a log message masked out.

Two lines that differ only in numbers, ids, paths, hex, URLs or quoted values share one
template, and the template (not the raw line) is what a pattern's identity is computed on.
Masking is a pure function of the message — unlike Drain's learned parse tree, whose
templates drift as clusters merge — so a pattern id never depends on what was mined before
it, and chunked mining stays identical to one pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Masks for text shapes, applied in order; each is (name, pattern). Earlier masks protect
# their matches from later ones (a path's digits are not masked again as numbers).
MASKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("<STR>", re.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\"")),
    ("<URL>", re.compile(r"\b[a-z][a-z0-9+.\-]*://\S+", re.I)),
    (
        "<PATH>",
        re.compile(
            # absolute (drive letter or leading slash), then relative paths with two
            # separators or a file extension -- "3/5" and "and/or" stay as they are.
            r"(?:\b[A-Za-z]:|(?<![\w.<>]))[\\/][\w.\-]+(?:[\\/][\w.\-]+)*"
            r"|\b[\w.\-]*[A-Za-z_][\w.\-]*(?:[\\/][\w.\-]+){2,}"
            r"|\b[\w.\-]*[A-Za-z_][\w.\-]*(?:[\\/][\w.\-]+)+\.[A-Za-z]\w{0,4}\b"
        ),
    ),
)
# Every run of word characters holding a digit is classified once (one regex pass with a
# callback is several times faster than one lookahead-heavy regex per mask).
_DIGIT_RUN = re.compile(r"[\w\-+.:]*\d[\w\-+.:]*")
_NUM = re.compile(r"[-+]?\d+(?:[.,:\-]\d+)*(?:e[-+]?\d+)?(?:%|ms|s|m|h|MB|KB|GB)?")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"0x[0-9a-fA-F]+|[0-9a-f]{8,}")
#: A name with a number after it: a chat user's or a channel's ("MagaMike77",
#: "FoundUps1934 [TEST]", "mike2024"), not an id. Its letters are words (a capital, if
#: any, then two lower-case letters or more) and its digits, at most four, end it; an id's
#: digits and capitals are scattered ("IxNKu8iS2G8", "UCklMTNnu5PO…"), so a random one
#: rarely reads as this. Kept, as names without digits are ("KenjiFan").
_NAME = re.compile(r"[A-Z]?[a-z]{2,}(?:[A-Z][a-z]{2,})*\d{1,4}")
_PUNCT = ".:-+"


#: A WSP rule's number names the rule ("WSP 22": the ModLog rule, "WSP 49": tests in
#: tests/); it is never masked, so findings of different rules stay different patterns and
#: an answer says which rule.
_WSP_RULE = re.compile(r"WSP[-_]?\d+", re.I)


#: A short duration ("backoff 10s", "in 2s") and a small fraction ("attempt 2/3") are the
#: host's settings, not measurements: a retry policy says the same thing each time, and the
#: answer to "how long did it wait?" is the number. Kept; longer durations and every other
#: number vary from line to line and are masked.
_SETTING = re.compile(r"\d{1,2}(?:\.\d)?(?:ms|s|m|h)")
_SMALL = re.compile(r"\d{1,2}")


def _in_fraction(m: re.Match[str]) -> bool:
    """``m`` is one side of an "N/M" of two small whole numbers."""
    text, start, end = m.string, m.start(), m.end()
    if not _SMALL.fullmatch(m.group(0)):
        return False
    after = re.match(r"/(\d+)\b", text[end:])
    before = re.search(r"\b(\d+)/$", text[:start])
    other = after or before
    return bool(other and _SMALL.fullmatch(other.group(1)))


def _classify(m: re.Match[str]) -> str:
    run = m.group(0)
    core = run.strip(_PUNCT)
    if not core:
        return run
    if _WSP_RULE.fullmatch(core) or m.string[max(0, m.start() - 4) : m.start()].upper() == "WSP ":
        return run
    if _SETTING.fullmatch(core) or _in_fraction(m):
        return run
    lead = run[: run.index(core)]
    tail = run[len(lead) + len(core) :]
    if _NUM.fullmatch(core):
        name = "<NUM>"
    elif _UUID.fullmatch(core):
        name = "<ID>"
    elif _HEX.fullmatch(core) and any(c.isalpha() for c in core):
        name = "<HEX>"
    elif _NAME.fullmatch(core):
        return run
    elif len(core) >= 6 and sum(c.isdigit() for c in core) >= 2 and any(c.isalpha() for c in core):
        # video/message/session ids -- but not names like "Move2Japan" with a single digit
        name = "<ID>"
    else:
        return run
    return f"{lead}{name}{tail}"


_EMOJI_TOKEN = re.compile(r"\[U\+[0-9A-F]{4,6}\]\s?")
_WS = re.compile(r"\s+")


def item_ids(message: str) -> frozenset[str]:
    """The ids ``message`` names (what :func:`mask` turns into ``<ID>`` or ``<HEX>``): the
    message, video or chat a line is about, so two lines of one template can be told apart
    by the item each names."""
    text = _EMOJI_TOKEN.sub("", message) if "[U+" in message else message
    out = set()
    for m in _DIGIT_RUN.finditer(text):
        masked = _classify(m)
        if "<ID>" in masked or "<HEX>" in masked:
            out.add(m.group(0).strip(_PUNCT))
    return frozenset(out)


#: Templates are cut to this many tokens: free text (chat messages) after a long common
#: prefix must not make every line its own template.
MAX_TOKENS = 24


#: Memo of recent masks: the same message recurs (retries, warnings, decisions) and masking
#: is the miner's costliest step. Cleared when full, so memory stays bounded.
_MEMO: dict[str, str] = {}
_MEMO_MAX = 8192


def mask(message: str) -> str:
    """The template of ``message``: variable parts replaced by ``<NUM>``, ``<PATH>``, …

    Emoji tokens are dropped (they decorate, they do not change meaning); whitespace is
    collapsed; the result is cut to :data:`MAX_TOKENS` tokens.
    """
    hit = _MEMO.get(message)
    if hit is not None:
        return hit
    if len(_MEMO) >= _MEMO_MAX:
        _MEMO.clear()
    result = _MEMO[message] = _mask(message)
    return result


def _mask(message: str) -> str:
    text = _EMOJI_TOKEN.sub("", message) if "[U+" in message else message
    if "'" in text or '"' in text:
        text = MASKS[0][1].sub("<STR>", text)
    if "://" in text:
        text = MASKS[1][1].sub("<URL>", text)
    if "/" in text or "\\" in text:
        text = MASKS[2][1].sub("<PATH>", text)
    text = _DIGIT_RUN.sub(_classify, text)
    tokens = text.split()
    if len(tokens) > MAX_TOKENS:
        tokens = [*tokens[:MAX_TOKENS], "<*>"]
    return " ".join(tokens)


@dataclass(frozen=True, slots=True)
class Template:
    """A masked message and the logger it came from: the unit of consolidation."""

    logger: str
    level: str
    text: str

    @property
    def key(self) -> str:
        """The string a pattern id is computed on."""
        return f"{self.logger}|{self.level}|{self.text}"


def template_of(logger: str, level: str, message: str) -> Template:
    """The :class:`Template` of one parsed line."""
    return Template(logger=logger, level=level, text=mask(message))
