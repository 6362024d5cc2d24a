"""A secret cut by a line wrap: its second half, on the next physical line, goes too.

The log is sometimes wrapped (a terminal or an editor cut a long line): the rest of a token
then stands alone on the next line, with no timestamp. Redacted line by line, only its
first half was known as a secret; the rest was kept as a plain record.
"""

from __future__ import annotations

import pytest

from foundups_training.mining.parser import MAX_CONTINUATION, MAX_MESSAGE, parse_text

HEAD = "2025-10-20 15:00:00,000 - modules.platform_integration.youtube_auth.src.auth - INFO - "
NEXT = "2025-10-20 15:00:01,000 - root - INFO - next"
REST = "XyZ123abcDEF456ghiJKL"


def _texts(text: str) -> list[str]:
    """Every line of text the parser stored, of every record."""
    return [line for r in parse_text(text) for line in (r.message, *(r.extra or ()))]


def _kept(text: str, *parts: str) -> list[str]:
    """The stored lines that still hold one of ``parts``."""
    return [line for line in _texts(text) if any(p in line for p in parts)]


def test_a_token_wrapped_once_loses_its_rest() -> None:
    text = f"{HEAD}refresh_token=1//0gAbCdEfGhIjKlMnOpQrStUv\n{REST}\n{NEXT}\n"
    recs = parse_text(text)
    assert not _kept(text, "XyZ123")
    assert [r.message for r in recs] == ["refresh_token=[REDACTED]", "next"]
    assert recs[0].lines == 2 and recs[0].end == recs[1].start  # the wrap is its record's


def test_a_dated_line_wrapped_once() -> None:
    text = f"2025-10-20 15:00:00 INFO auth: refresh_token=1//0gAbCdEfGhIjKlMnOpQrStUv\n{REST}\n"
    assert _texts(text) == ["INFO auth: refresh_token=[REDACTED]"]
    # cut before it is long enough for its shape ("auth: <value>" took it alone): joined,
    # the line reads as it would have unwrapped
    text = f"2025-10-20 15:00:00 INFO auth: refresh_token=1//0gAbCdEfGh\n{REST}\n"
    assert _texts(text) == ["INFO auth: refresh_token=[REDACTED]"]


def test_a_key_cut_before_its_shape_is_whole_goes_with_its_rest() -> None:
    # "AIzaSyDaGmWKa4JsXZ" alone is too short to be a Google key, and so is its rest
    text = f"{HEAD}Using key AIzaSyDaGmWKa4JsXZ\n-HjGw7ISLn_3namBGewQe for set 1\n{NEXT}\n"
    assert _texts(text) == ["Using key [REDACTED] for set 1", "next"]


def test_a_password_rest_of_letters_before_more_words() -> None:
    text = f"{HEAD}password=Sup3rS3cretPassw0\nrdThatIsLong!! user=bob\n"
    assert _texts(text) == ["password=[REDACTED] user=bob"]


def test_a_token_wrapped_twice_loses_both_rests() -> None:
    text = f"{HEAD}refresh_token=1//0gAbCdEfGhIjKlMnOpQrStUv\n{REST}\nQqRr789sStTuU0\n{NEXT}\n"
    assert not _kept(text, "XyZ123", "Qq")
    recs = parse_text(text)
    assert [r.message for r in recs] == ["refresh_token=[REDACTED]", "next"]
    assert recs[0].lines == 3


def test_a_wrapped_json_value_keeps_what_follows_it() -> None:
    line = '  "access_token": "ya29.AAAAAAAAAAAAAAAAAAAA\nBBBBBBBBBBB",\n  "expires_in": 3599\n'
    text = f"{HEAD}token response: {{\n{line}}}\n"
    assert not _kept(text, "AAAA", "BBBB")
    rec = parse_text(text)[0]
    assert rec.extra == ['  "access_token": "[REDACTED]",', '  "expires_in": 3599']
    # the same on the record's own line, and with the rest of the line after the wrap
    text = f'{HEAD}got {{"access_token": "ya29.AAAAAAAAAAAAAAA\nBBBBBBB", "expires_in": 3599}}\n'
    assert _texts(text) == ['got {"access_token": "[REDACTED]", "expires_in": 3599}']


def test_a_wrap_with_more_words_after_the_token() -> None:
    text = f"{HEAD}refresh_token=1//0gAbCdEfGhIjKlMnOpQrStUv\n{REST} expires_in=3599\n"
    assert _texts(text) == ["refresh_token=[REDACTED] expires_in=3599"]


def test_a_traceback_after_a_redacted_line_is_still_a_traceback() -> None:
    text = (
        f"{HEAD}refresh failed for token=1//0gAbCdEfGhIjKlMnOpQrStUv\n"
        "Traceback (most recent call last):\n"
        '  File "auth.py", line 3, in refresh\n'
        "    creds.refresh(request)\n"
        "RefreshError: invalid_grant\n"
        f"{NEXT}\n"
    )
    recs = parse_text(text)
    assert len(recs) == 2 and recs[0].traceback
    assert recs[0].message == "refresh failed for token=[REDACTED]"
    assert recs[0].exception == "RefreshError: invalid_grant"
    assert recs[0].crash_site == "auth.py line 3, in refresh: creds.refresh(request)"


def test_an_exception_line_right_after_a_frame_that_ends_in_a_secret() -> None:
    text = (
        "Traceback (most recent call last):\n"
        '  File "auth.py", line 3, in refresh\n'
        "    call(token='ya29.AAAAAAAAAAAAAAAAAAAA')  # key=ya29.BBBBBBBBBBBBBBBBBB\n"
        "StopIteration\n"
    )
    rec = parse_text(text)[0]
    assert rec.exception == "StopIteration"


@pytest.mark.parametrize(
    ("end", "after"),
    [
        ("", "    at refresh (auth.js:12)"),  # indented: a continuation of its own
        ("", "Retrying in 5 seconds"),  # prose
        ("", "It's done, see auth.log"),  # prose, a quote inside its first word
        (" ", "Done"),  # the line ended in a space: so did the secret
        (" ", "XyZ123"),
        (" Bearer abcdefgh12345678", "(retry)"),  # not a token's characters: not its rest
    ],
)
def test_ordinary_lines_after_a_redacted_line_stay(end: str, after: str) -> None:
    text = f"{HEAD}refresh_token=1//0gAbCdEfGhIjKlMnOpQrStUv{end}\n{after}\n"
    assert _texts(text)[1:] == [after]


def test_a_wrapped_line_inside_a_traceback() -> None:
    text = (
        "Traceback (most recent call last):\n"
        '  File "auth.py", line 3, in refresh\n'
        '    creds = Credentials(token="ya29.AAAAAAAAAAAAAAAAAAAAAAAAAAAA\n'
        'BBBBBBBBBBBBBBBB")\n'
        "ValueError: bad token\n"
    )
    rec = parse_text(text)[0]
    assert rec.extra == [
        '  File "auth.py", line 3, in refresh',
        '    creds = Credentials(token="[REDACTED]")',
        "ValueError: bad token",
    ]
    assert rec.exception == "ValueError: bad token"


def test_a_token_after_a_line_with_no_secret_at_its_end_stays() -> None:
    text = f"{HEAD}refresh_token=1//0gAbCdEfGhIjKlMnOpQrStUv done\n{REST}\n"
    assert _texts(text) == ["refresh_token=[REDACTED] done", REST]


def test_a_huge_wrap_is_bounded_and_removed() -> None:
    text = f"{HEAD}refresh_token=1//0gAbCdEfGhIjKlMnOpQrStUv\n{'Ab1' * 5000}\n{REST}\n{NEXT}\n"
    texts = _texts(text)
    assert not [t for t in texts if "Ab1" in t or "XyZ" in t]
    assert all(len(t) <= MAX_MESSAGE for t in texts)


def test_a_long_run_of_wraps_is_split_at_the_cap_and_removed() -> None:
    lines = [f"{HEAD}refresh_token=1//0gAbCdEfGhIjKlMnOpQrStUv"]
    lines += [f"Zz{n:04d}QqWwEeRrTtYyUuIi" for n in range(MAX_CONTINUATION * 2 + 10)]
    recs = parse_text("\n".join(lines) + f"\n{NEXT}\n")
    assert all(r.lines <= MAX_CONTINUATION + 1 for r in recs)
    assert not [t for r in recs for t in (r.message, *(r.extra or ())) if "Zz" in t]
    assert recs[-1].message == "next"


def test_a_short_wrapped_line_ends_the_wrap() -> None:
    # a line is wrapped at one width: a short rest is the last; the lines after are the log's
    text = f"{HEAD}refresh_token=1//0gAbCdEfGhIjKlMnOpQrStUv\nXyZ1\nok\n"
    assert _texts(text) == ["refresh_token=[REDACTED]", "ok"]


def test_a_word_after_a_private_key_block_is_no_wrap() -> None:
    text = (
        f"{HEAD}-----BEGIN RSA PRIVATE KEY-----\n"
        "MIIEowIBAAKCAQEAxyzxyzxyzxyzxyzxyzxyzxyzxyz\n"
        "-----END RSA PRIVATE KEY-----\n"
        "done123\n"
    )
    assert _texts(text) == ["[REDACTED]", "[REDACTED]", "done123"]


def test_a_value_wrapped_right_after_its_key() -> None:
    text = f"{HEAD}login with password=\nHunter2Hunter2\n{NEXT}\n"
    assert _texts(text) == ["login with password=[REDACTED]", "next"]


@pytest.mark.parametrize("after", ["OK", "=====", "done.", "Xy12 retries left"])
def test_a_plain_line_after_a_line_with_no_secret_stays(after: str) -> None:
    text = f"{HEAD}Loaded 3 modules from config\n{after}\n"
    assert _texts(text) == ["Loaded 3 modules from config", after]
