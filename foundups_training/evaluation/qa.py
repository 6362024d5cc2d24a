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


_MODULE_PATH = re.compile(r"modules/[a-z0-9_\-]+/[a-z0-9_\-]+")


def canonical(text: str) -> str:
    """Lower case, with ``\\`` and ``.`` read as ``/``."""
    return text.lower().replace("\\", "/").replace(".", "/")


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
    items: list[QAItem] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not JSON ({exc.msg})")
            continue
        if not isinstance(data, dict):
            problems.append(f"line {number}: expected an object, got {type(data).__name__}")
            continue
        query = data.get("query")
        expected = data.get("expected")
        if not isinstance(query, str) or not query.strip():
            problems.append(f"line {number}: 'query' must be a non-empty string")
            continue
        if isinstance(expected, str):
            expected = [expected]
        if (
            not isinstance(expected, list)
            or not expected
            or not all(isinstance(e, str) and e.strip() for e in expected)
        ):
            problems.append(f"line {number}: 'expected' must be a non-empty list of strings")
            continue
        item_id = str(data.get("id") or f"line-{number}")
        if item_id in seen:
            problems.append(f"line {number}: duplicate id {item_id!r}")
            continue
        seen.add(item_id)
        kind = data.get("kind") or ""
        if not isinstance(kind, str):
            problems.append(f"line {number}: 'kind' must be a string")
            continue
        items.append(QAItem(item_id, query.strip(), tuple(expected), kind, number))
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise QAFileError(f"{source}: {len(problems)} bad line(s):\n  {shown}{more}")
    return items


def load_qa(path: Path | str) -> list[QAItem]:
    """Read a QA JSONL file (:class:`QAFileError` for a missing file or bad lines)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")  # a BOM, as Windows Notepad writes one
    except OSError as exc:
        raise QAFileError(f"{p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise QAFileError(f"{p}: not UTF-8 text ({exc.reason})") from None
    # JSONL lines end at "\n" only: str.splitlines() would also split inside a JSON string
    # at U+2028, U+2029 or NEL (legal there), and shift every later line number
    items = parse_lines(text.replace("\r\n", "\n").split("\n"), str(p))
    if not items:
        raise QAFileError(f"{p}: no questions in the file")
    return items
