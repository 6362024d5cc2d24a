"""A line of its own right after a line that ends in a secret is not taken as its rest.

A wrapped secret's rest is joined back to its line (see test_parser_wrapped_secret.py). A
one-word line that is the log's own (``Done``, ``OK``, a ``-----`` separator) was taken as
such a rest too: it was merged into the redacted secret and lost.
"""

from __future__ import annotations

import pytest

from foundups_training.mining.parser import parse_text

HEAD = "2025-10-20 15:00:00,000 - modules.platform_integration.youtube_auth.src.auth - INFO - "
NEXT = "2025-10-20 15:00:01,000 - root - INFO - next"
SECRET_LINES = [
    "2025-10-10 10:00:01 INFO token=ya29.a0AfH6SMBabcdefghijklmnop",
    f"{HEAD}refresh_token=1//0gAbCdEfGhIjKlMnOpQrStUv",
    f"{HEAD}Authorization: Bearer abcdefgh12345678abcdefgh",
    f"{HEAD}password=Sup3rS3cretPassw0",
    '  "access_token": "ya29.AAAAAAAAAAAAAAAAAAAA',
]
FOLLOW_UPS = [
    "Done",
    "done.",
    "DONE",
    "Done!",
    "OK",
    "ok",
    "Finished",
    "Traceback",
    "Stopping",
    "-----",
    "=====",
    "*****",
    "~~~",
    "_____",
]


def _texts(text: str) -> list[str]:
    """Every line of text the parser stored, of every record."""
    return [line for r in parse_text(text) for line in (r.message, *(r.extra or ()))]


@pytest.mark.parametrize("line", SECRET_LINES)
@pytest.mark.parametrize("after", FOLLOW_UPS)
def test_a_status_word_or_separator_after_a_secret_is_a_line_of_its_own(
    line: str, after: str
) -> None:
    recs = parse_text(f"{line}\n{after}\n{NEXT}\n")
    assert recs[-2].message == after and recs[-1].message == "next"
    assert recs[0].message.endswith("[REDACTED]")
    assert recs[0].lines == 1 and recs[0].end == recs[1].start  # nothing merged into it


def test_the_briefs_example_keeps_its_done_line() -> None:
    text = "2025-10-10 10:00:01 INFO token=ya29.a0AfH6SMBabcdefghijklmnop\nDone\n"
    assert _texts(text) == ["INFO token=[REDACTED]", "Done"]


def test_a_status_word_after_a_wrapped_rest_is_a_line_of_its_own() -> None:
    rest = "XyZ123abcDEF456ghiJKL"  # long: the line after it may be wrapped too
    text = f"{HEAD}refresh_token=1//0gAbCdEfGhIjKlMnOpQrStUv\n{rest}\nFinished\n"
    assert _texts(text) == ["refresh_token=[REDACTED]", "Finished"]


@pytest.mark.parametrize(
    "rest",
    [
        "dOnE",  # a word's letters, not written as a word
        "Donezo1",  # not a status word
        "rd",  # a password's last letters ("Passw0" + "rd")
        "==",  # base64 padding: a token's own end
        "-_-",  # a url-safe token's characters, not one repeated
        "--",  # too short for a separator
        "Hunter2",
    ],
)
def test_a_rest_that_is_no_status_word_or_separator_still_goes(rest: str) -> None:
    text = f"{HEAD}password=Sup3rS3cretPassw0\n{rest}\n{NEXT}\n"
    assert _texts(text) == ["password=[REDACTED]", "next"]


@pytest.mark.parametrize("word", ["Done", "Finished", "ready", "-----"])
def test_a_value_wrapped_right_after_its_key_goes_even_if_it_reads_as_a_word(word: str) -> None:
    # nothing of the secret is on the line before: the line after would be the whole value
    text = f"{HEAD}login with password=\n{word}\n{NEXT}\n"
    assert word not in _texts(text)[0]
    assert _texts(text)[-1] == "next"
    assert [t for t in _texts(text) if t == word] == []
