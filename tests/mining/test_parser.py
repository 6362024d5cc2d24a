"""The parser: every real line format, tracebacks joined, emoji normalised, never raises."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundups_training.mining.parser import LineParser, normalise_message, parse_text
from foundups_training.mining.reader import RawLine


def test_real_formats(real_lines: str) -> None:
    recs = parse_text(real_lines.rstrip("\n"))
    assert [r.fmt for r in recs] == ["dotted"] * 9 + ["tagged", "holo"]
    first = recs[0]
    assert first.timestamp == "2025-10-20T15:07:04"
    assert first.logger == "modules.communication.livechat.src.qwen_youtube_integration"
    assert first.module == "modules/communication/livechat"
    assert first.level == "INFO"
    assert first.tags == ("BOT", "AI", "QWEN-SCORE")
    # the stray variation selector after the emoji token is gone
    assert first.message == "[BOT][AI] [QWEN-SCORE] [U+2744] Move2Japan [JAPAN]: 1.00"
    daemon = recs[9]
    assert daemon.level == "ERROR" and daemon.tags == ("DAEMON", "DAE-ERROR")
    assert "[U+274C] FATAL ERROR" in daemon.message and daemon.is_error
    holo = recs[10]
    # the date of a [HH:MM:SS] line is carried from the line before it
    assert holo.timestamp == "2025-12-22T08:08:22" and holo.logger == "holo_index"
    # "[ERROR]" inside an INFO line is a stream result, not an error
    assert not recs[4].is_error
    assert recs[6].is_error


def test_traceback_joined_to_its_line() -> None:
    text = (
        "2025-10-20 15:00:00,000 - modules.communication.livechat.src.message_processor - ERROR"
        " - Unhandled exception\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 3, in f\n'
        "    a = b['c']\n"
        "KeyError: 'c'\n"
        "\n"
        "During handling of the above exception, another exception occurred:\n"
        "\n"
        "Traceback (most recent call last):\n"
        '  File "y.py", line 9, in g\n'
        "TypeError: 'NoneType' object is not subscriptable\n"
        "2025-10-20 15:00:01,000 - root - INFO - next"
    )
    recs = parse_text(text)
    assert len(recs) == 2
    err = recs[0]
    assert err.lines == 11 and err.traceback and err.is_error
    assert err.exception == "TypeError: 'NoneType' object is not subscriptable"
    assert err.crash_site == "y.py line 9, in g"  # the last frame; it shows no code line
    assert recs[1].message == "next" and recs[1].logger == "root"
    assert recs[1].crash_site == ""


def test_crash_site_is_the_innermost_frame_and_its_code() -> None:
    head = (
        "2025-10-20 15:00:14,693 - modules.communication.livechat.src.message_processor -"
        " ERROR - Unhandled exception while processing message j7FAc9QeWJK\n"
        "Traceback (most recent call last):\n"
        '  File "O:\\Foundups-Agent\\modules\\communication\\livechat\\src\\main.py",'
        " line 80, in run\n"
        "    self.process_message(message)\n"
        '  File "O:\\Foundups-Agent\\modules\\communication\\livechat\\src\\'
        'message_processor.py", line 412, in process_message\n'
        '    author = message["authorDetails"]["displayName"]\n'
    )
    site = 'message_processor.py line 412, in process_message: author = message["authorDetails"]'
    full = parse_text(head + "TypeError: 'NoneType' object is not subscriptable\n")[0]
    assert full.crash_site == site + '["displayName"]'  # the file's name, not the machine path
    # a traceback cut off by a restart still says where it was
    assert parse_text(head)[0].crash_site == site + '["displayName"]'
    cut = head.rsplit("    author", 1)[0]
    assert parse_text(cut)[0].crash_site == "message_processor.py line 412, in process_message"


def test_unknown_lines_kept_as_text() -> None:
    recs = parse_text("=== banner ===\nsomething odd: 42\n")
    assert [r.fmt for r in recs] == ["plain", "plain"]
    assert recs[0].message == "=== banner ==="


def test_headless_traceback_is_its_own_error_record() -> None:
    recs = parse_text('Traceback (most recent call last):\n  File "a.py"\nValueError: x')
    assert len(recs) == 1 and recs[0].is_error and recs[0].exception == "ValueError: x"


def test_emoji_normalisation() -> None:
    assert normalise_message("[u+1f511] key") == "[U+1F511] key"
    assert normalise_message("\\u274c fail") == "[U+274C] fail"
    assert normalise_message("\u2744\ufe0f snow") == "[U+2744] snow"
    assert normalise_message("[U+2744][U+FE0F] x") == "[U+2744] x"
    assert normalise_message("こんにちは") == "こんにちは"  # text is not emoji


def test_messages_are_redacted_by_the_parser() -> None:
    recs = parse_text(
        "2025-10-20 15:00:00,000 - modules.platform_integration.youtube_auth.src.youtube_auth"
        " - DEBUG - Token refreshed: ya29.a0AfH6SMBx1234567890abcdef"
    )
    assert "ya29." not in recs[0].message and "[REDACTED]" in recs[0].message


LC = "modules.communication.livechat.src.livechat_core"
YT = "modules.platform_integration.youtube_auth.src.youtube_auth"


@pytest.mark.parametrize(
    "prefix",
    ["\0" * 3000, "\0", "\ufeff", "\ufeff\0\0", "\0\0\ufeff"],
    ids=["nul run", "one nul", "bom", "bom then nuls", "nuls then bom"],
)
def test_line_after_a_power_loss_is_parsed(prefix: str) -> None:
    """NTFS leaves NULs where the last block was; the host's next line follows them."""
    text = (
        f"2025-10-20 15:00:00,000 - {LC} - INFO - before the crash\n"
        f"{prefix}2025-10-20 16:00:00,000 - {LC} - ERROR - Chat connection lost after restart\n"
        f"2025-10-20 16:00:01,000 - {LC} - INFO - Reconnecting in 2s (attempt 1/3)\n"
    )
    recs = parse_text(text)
    assert [r.fmt for r in recs] == ["dotted"] * 3
    crash = recs[1]
    assert crash.is_error and crash.level == "ERROR"
    assert crash.message == "Chat connection lost after restart"  # no NUL kept
    assert crash.timestamp == "2025-10-20T16:00:00"


BODY = ["MIIEpAIBAAKCAQEAPEMBODYSECRETLINEONEabcdefghijklmnopqrstuvwxyz0123", "q83kPEMTWO+/=="]


@pytest.mark.parametrize(
    ("opening", "indent"),
    [
        ("-----BEGIN RSA PRIVATE KEY-----", ""),  # printed whole: every line a plain line
        (f"2025-10-20 15:00:00,000 - {YT} - DEBUG - key: -----BEGIN PRIVATE KEY-----", ""),
        (f"2025-10-20 15:00:00,000 - {YT} - DEBUG - loaded key", "    "),  # indented dump
        ("2025-10-20 15:00:00,000 [INFO] [AUTH] -----BEGIN OPENSSH PRIVATE KEY-----", ""),
    ],
    ids=["plain", "in a message", "indented", "tagged"],
)
def test_a_private_key_over_several_lines_is_removed_whole(opening: str, indent: str) -> None:
    """Each body line alone looks like nothing; the block is known from its BEGIN line."""
    lines = [opening]
    if indent:
        lines.append(indent + "-----BEGIN EC PRIVATE KEY-----")
    lines += [indent + b for b in BODY] + [indent + "-----END RSA PRIVATE KEY-----"]
    lines.append(f"2025-10-20 15:00:01,000 - {YT} - ERROR - Failed to load credential set 2")
    recs = parse_text("\n".join(lines))
    blob = " ".join(r.message + " ".join(r.extra or ()) for r in recs)
    assert "PEMBODYSECRET" not in blob and "q83kPEMTWO" not in blob, blob
    assert "BEGIN" not in blob and "END RSA" not in blob
    assert len(recs) == 2  # the block is one record: the next error's context holds no key
    assert recs[0].lines == len(lines) - 1
    assert [x.strip() for x in recs[0].extra or ()] == ["[REDACTED]"]  # one line for a block
    assert recs[1].is_error and recs[1].message == "Failed to load credential set 2"


def test_a_cut_private_key_ends_at_the_next_log_line() -> None:
    text = (
        "-----BEGIN PRIVATE KEY-----\n"
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjPRIVKEYSECRET\n"
        f"2025-10-20 15:00:01,000 - {YT} - INFO - [OK] authenticated with credential set 3\n"
        "q83kNotAKeyAnyMore\n"
    )
    recs = parse_text(text)
    assert [r.message for r in recs] == [
        "[REDACTED]",
        "[OK] authenticated with credential set 3",
        "q83kNotAKeyAnyMore",  # the block was over: a plain line again
    ]


def test_a_key_block_ended_on_its_line_leaves_the_next_lines_alone() -> None:
    line = '{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQ\\n-----END PRIVATE KEY-----\\n"}'
    recs = parse_text(f"{line}\nABCDEF0123\n")
    assert recs[0].message == '{"private_key": "[REDACTED]\\n"}'
    assert recs[1].message == "ABCDEF0123"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(max_size=200), max_size=30))
def test_parser_never_raises_on_text(lines: list[str]) -> None:
    parser = LineParser()
    pos = 0
    out = []
    for line in lines:
        raw = RawLine(pos, pos + len(line) + 1, line)
        pos = raw.end
        rec = parser.feed(raw)
        if rec is not None:
            out.append(rec)
    last = parser.flush()
    if last is not None:
        out.append(last)
    assert sum(r.lines for r in out) == len(lines)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=4000))
def test_reader_and_parser_never_raise_on_bytes(tmp_path_factory, data: bytes) -> None:  # type: ignore[no-untyped-def]
    from foundups_training.mining.reader import read_lines

    path = tmp_path_factory.mktemp("bytes") / "log.txt"
    path.write_bytes(data)
    parser = LineParser()
    n = 0
    for raw in read_lines(path, max_line=256, block=64):
        parser.feed(raw)
        n += 1
    parser.flush()
    assert n == data.count(b"\n")


def test_a_secret_across_a_cut_keeps_none_of_its_characters() -> None:
    """Messages are cut at MAX_MESSAGE and lines at the reader's byte limit: a key across
    either cut would keep its first characters, which no rule knows by their shape."""
    from foundups_training.mining.parser import MAX_MESSAGE, LineParser, normalise_message
    from foundups_training.mining.reader import RawLine

    key = "AIzaSyD3adBeefC0ffee1234567890abcdefgh"
    message = "x" * (MAX_MESSAGE - 12) + " key=" + key + " tail"
    assert "AIzaSy" not in normalise_message(message)
    line = "2025-10-20 15:07:04,541 - modules.a.b - INFO - calling with " + key[:9]
    parser = LineParser()
    parser.feed(RawLine(0, 20_000, line, truncated=True))  # the reader cut it after 9 chars
    record = parser.flush()
    assert record is not None and "AIzaSyD3a" not in record.message
    assert record.message.endswith("calling with")
