"""QA files and the rule for "right": one JSON object per line, judged by containment.

A line is ``{"id", "query", "expected": [...], "kind"}``. An answer is right when it contains
any expected string, compared case-insensitively with ``\\`` and ``.`` read as ``/`` (so
``modules.communication.livechat`` and ``modules\\communication\\livechat`` both match
``modules/communication/livechat``). For ``module_location`` questions the FIRST module
path the answer names must be the expected one: listing several modules is not an answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


class QAFileError(ValueError):
    """A QA file cannot be used; the message lists each bad line with its number."""


@dataclass(frozen=True)
class QAItem:
    """One evaluation question."""

    id: str
    query: str
    expected: tuple[str, ...]
    kind: str = ""
    line: int = 0


#: ``modules/<domain>/<module>``, not the tail of a longer word (``submodules/a/b`` names no
#: module); a part is any run of word characters or ``-``, so a module named with a letter
#: outside ASCII is compared whole rather than cut at that letter (``modules/x/livé`` and
#: ``modules/x/livo`` both read as ``modules/x/liv`` before, and matched each other).
_MODULE_PATH = re.compile(r"(?<![\w\-])modules/[\w\-]+/[\w\-]+")


def canonical(text: str) -> str:
    """Case-folded, with ``\\`` and ``.`` read as ``/``.

    ``casefold`` rather than ``lower``: case-insensitive means ``STRASSE`` matches
    ``straße``, which ``lower`` does not give.
    """
    return text.casefold().replace("\\", "/").replace(".", "/")


def first_module(text: str) -> str:
    """The first ``modules/<domain>/<module>`` the text names ('' if none)."""
    found = _MODULE_PATH.search(canonical(text))
    return found.group(0) if found else ""


def is_right(answer: str, expected: Sequence[str], kind: str = "") -> bool:
    """The project's one rule for judging an answer (see the module docstring)."""
    if not answer or not expected:
        return False
    said = canonical(answer)
    if kind == "module_location":
        named = first_module(answer)
        if not named:
            return False
        for exp in expected:
            want = first_module(exp) or canonical(exp).strip("/")
            if named == want:
                return True
        return False
    return any(canonical(exp).strip() and canonical(exp).strip() in said for exp in expected)


def parse_lines(lines: Iterable[str], source: str = "<qa>") -> list[QAItem]:
    """Parse QA lines; every problem is collected and raised together with line numbers."""
    items, problems = _parse(enumerate(lines, start=1))
    _raise_problems(problems, source)
    return items


def _parse(numbered: Iterable[tuple[int, str]]) -> tuple[list[QAItem], list[tuple[int, str]]]:
    """The items of ``(line number, text)`` pairs, and ``(line number, problem)`` for each
    line that is not one."""
    items: list[QAItem] = []
    problems: list[tuple[int, str]] = []
    seen: set[str] = set()
    for number, raw in numbered:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            data = json.loads(line)
        except (ValueError, RecursionError) as exc:
            # ValueError, not only JSONDecodeError: an integer of over 4,300 digits is one;
            # RecursionError: thousands of nested brackets. Either is this line's fault.
            why = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            problems.append((number, f"not JSON ({why[:200]})"))
            continue
        if not isinstance(data, dict):
            problems.append((number, f"expected an object, got {type(data).__name__}"))
            continue
        query = data.get("query")
        expected = data.get("expected")
        if not isinstance(query, str) or not query.strip():
            problems.append((number, "'query' must be a non-empty string"))
            continue
        if isinstance(expected, str):
            expected = [expected]
        if (
            not isinstance(expected, list)
            or not expected
            or not all(isinstance(e, str) and e.strip() for e in expected)
        ):
            problems.append((number, "'expected' must be a non-empty list of strings"))
            continue
        kind = data.get("kind")
        if kind is None:
            kind = ""
        if not isinstance(kind, str):
            problems.append((number, "'kind' must be a string"))
            continue
        raw_id = data.get("id")
        if raw_id is not None and (isinstance(raw_id, bool) or not isinstance(raw_id, str | int)):
            problems.append((number, "'id' must be a string or an integer"))
            continue
        # Only a missing or empty id is numbered by its line: ``0`` is an id like any other.
        item_id = f"line-{number}" if raw_id is None or raw_id == "" else str(raw_id)
        # Checked last, so a line refused for another reason claims no id: the next line
        # with that id is then the first, not a "duplicate" of a question that is not there.
        if item_id in seen:
            problems.append((number, f"duplicate id {_shown(item_id)}"))
            continue
        seen.add(item_id)
        # The kind chooses the rule ("module_location" is judged by its first module): a
        # "Module_Location " written by hand must not quietly get the lenient one.
        kind = kind.strip().lower()
        items.append(QAItem(item_id, query.strip(), tuple(expected), kind, number))
    return items, problems


def _shown(text: str, limit: int = 80) -> str:
    """``text`` quoted for a message, cut to ``limit`` characters: an id can be as long as
    its line, and the message quoted it whole (a megabyte on one line)."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"


def _raise_problems(problems: Sequence[tuple[int, str]], source: str) -> None:
    """One :class:`QAFileError` listing the problems in line order (nothing if none)."""
    if not problems:
        return
    ordered = [f"line {n}: {why}" for n, why in sorted(problems, key=lambda p: p[0])]
    shown = "\n  ".join(ordered[:20])
    more = f"\n  … and {len(ordered) - 20} more" if len(ordered) > 20 else ""
    raise QAFileError(f"{source}: {len(ordered)} bad line(s):\n  {shown}{more}")


#: Byte order marks of encodings that are not UTF-8 (PowerShell's ``>`` writes UTF-16).
_OTHER_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}


def load_qa(path: Path | str) -> list[QAItem]:
    """Read a QA JSONL file (:class:`QAFileError` for a missing file or bad lines).

    Each line is decoded on its own, so a line that is not UTF-8 is reported with its
    number like any other bad line instead of refusing the file without saying where.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise QAFileError(f"{p}: {exc.strerror or exc}") from None
    for bom, name in _OTHER_BOMS.items():
        if data.startswith(bom):
            raise QAFileError(f"{p}: {name} text, not UTF-8; save it as UTF-8") from None
    data = data.removeprefix(b"\xef\xbb\xbf")  # a BOM, as Windows Notepad writes one
    # JSONL lines end at "\n" only: str.splitlines() would also split inside a JSON string
    # at U+2028, U+2029 or NEL (legal there), and shift every later line number. A "\r"
    # before it (CRLF) is whitespace to the parser. In UTF-8 the byte 0x0A is never part of
    # another character, so splitting the bytes splits the text at the same places.
    numbered: list[tuple[int, str]] = []
    problems: list[tuple[int, str]] = []
    for number, chunk in enumerate(data.split(b"\n"), start=1):
        try:
            numbered.append((number, chunk.decode("utf-8")))
        except UnicodeDecodeError as exc:
            problems.append((number, f"not UTF-8 text ({exc.reason} at byte {exc.start + 1})"))
    items, more = _parse(numbered)
    _raise_problems([*problems, *more], str(p))
    if not items:
        raise QAFileError(f"{p}: no questions in the file")
    return items
