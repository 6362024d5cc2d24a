"""Text that every file, tokenizer and store here can take."""

from __future__ import annotations

import re

#: Lone UTF-16 surrogates: half an emoji from a JSON ``"\ud83d"`` escape, or a byte that was
#: not UTF-8 carried by Python as one. No UTF-8 file, tokenizer or SQLite store takes them.
_SURROGATES = re.compile("[\ud800-\udfff]")


def encodable(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (the rest unchanged)."""
    return text if text.isascii() else _SURROGATES.sub("\ufffd", text)
