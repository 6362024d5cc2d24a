"""Text every file, tokenizer and store takes: lone surrogates become U+FFFD, once, here."""

from __future__ import annotations

import json

from foundups_training.text import encodable


def test_lone_surrogates_become_the_replacement_character() -> None:
    half = json.loads('"gg \\ud83d"')  # half an emoji, as a JSON escape decodes alone
    assert encodable(half) == "gg \ufffd"
    assert encodable("\udcff\udcfe which") == "\ufffd\ufffd which"  # undecodable bytes
    encodable(half).encode("utf-8")  # now storable


def test_text_without_them_is_returned_as_it_is() -> None:
    for text in ("ascii", "caf\u00e9 \U0001f4ac", ""):
        assert encodable(text) == text
