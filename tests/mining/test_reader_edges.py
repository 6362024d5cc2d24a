"""Reader edges: a CR right before a crash's run of NULs (the text and the byte cuts
disagreed), and a UTF-16-BE log without a byte order mark (read as UTF-8 before)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from foundups_training.mining.miner import extract_patterns, mine_log
from foundups_training.mining.parser import LineParser, parse_text, with_followers
from foundups_training.mining.reader import encoding_of, read_open, text_pieces
from foundups_training.samples import sample_log

LC = "modules.communication.livechat.src.livechat_core"
NEW_BOOT = f"2025-10-20 16:00:00,000 - {LC} - ERROR - Chat connection lost after restart"
SAMPLE = sample_log().read_text(encoding="utf-8")


# -- 1. a CR right before a run of NULs ------------------------------------------------------
def test_text_pieces_cut_every_line_as_the_reader_does(tmp_path: Path) -> None:
    """Every line of up to six characters among text, NUL, CR and a byte order mark: the
    reader's pieces of the file and :func:`text_pieces` of each line are the same texts.
    Before, ``"\\r\\0\\0a"`` was one line to the reader and two to ``text_pieces``."""
    lines = ["start"] + [
        "".join(chars) for n in range(1, 7) for chars in itertools.product("a\0\r\ufeff", repeat=n)
    ]
    path = tmp_path / "012.txt"
    path.write_bytes("".join(f"{line}\n" for line in lines).encode("utf-8"))
    expected = []
    for line in lines:
        *cut, last = text_pieces(line)
        expected += [*cut, last.removesuffix("\r")]  # the line's own CR: a CRLF's
    with path.open("rb") as fh:
        read = [raw.text for raw in read_open(fh, nul_breaks=True)]
    assert len(read) == len(expected)
    for n, (a, b) in enumerate(zip(read, expected, strict=True)):
        assert a == b, (n, a, b)


def _progress_crash(end: str) -> str:
    """A progress bar's redraw had written its CR when the host died: the CR, the NULs
    where the lost bytes were, then the new boot's lines (``end``: their line end)."""
    return (
        f"2025-10-20 15:59:59,000 - {LC} - INFO - before the crash{end}"
        + "\r"
        + "\0" * 600
        + f"{NEW_BOOT}{end}"
        f"2025-10-20 16:00:01,000 - {LC} - WARNING - Reconnecting in 2s (attempt 1/3){end}"
        f"2025-10-20 16:00:03,000 - {LC} - INFO - [OK] Reconnected to live chat{end}"
    )


@pytest.mark.parametrize("end", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_a_crash_after_a_cr_keeps_the_new_boots_first_line(
    tmp_path: Path, make_store: Any, end: str
) -> None:
    """The run ends the CR's (empty) line, as a newline after a CR does, so the new boot's
    error is a record of its own, in the mining and in ``parse_text`` alike. Before, the
    mining read ``"\\r\\0\\0…2025-10-20 16:00:00 … ERROR …"`` as one line with no timestamp,
    and its error was never learned."""
    text = _progress_crash(end)
    log = tmp_path / "012.txt"
    log.write_bytes(text.encode("utf-8"))
    parser, mined = LineParser(), []
    with log.open("rb") as fh:
        for raw in read_open(fh, nul_breaks=True):
            done = parser.feed(raw)
            mined += with_followers(done) if done is not None else []
    last = parser.flush()
    mined += with_followers(last) if last is not None else []
    records = [(r.level, r.message) for r in parse_text(text)]
    assert [(r.level, r.message) for r in mined] == records
    assert ("ERROR", "Chat connection lost after restart") in records
    store = make_store()
    mine_log(log, store, checkpoint_path=tmp_path / "cp.json")
    errors = [p for p in store.items.values() if p.kind == "error_fix"]
    assert len(errors) == 1 and "Chat connection lost after restart" in errors[0].context
    lines = text.split("\n")[:-1]
    assert sorted(store.items) == sorted(p.id for p in extract_patterns(lines))


# -- 2. UTF-16-BE without a byte order mark --------------------------------------------------
def test_encoding_of_tells_utf16be_without_a_bom() -> None:
    text = "2025-10-20 15:00:00,000 - root - INFO - x\r\n"
    assert encoding_of(text.encode("utf-16-be")) == "utf-16be"
    assert encoding_of(b"\0" * 512 + text.encode("utf-16-be")) == "utf-16be"  # a crash
    assert encoding_of(b"\xfe\xff" + text.encode("utf-16-be")) == "utf-16-be"
    assert encoding_of("[08:08:22]\n0\0\0\0x".encode("utf-16-be")) == "utf-16be"
    # little-endian stays little-endian, with or without a crash's NULs before it
    assert encoding_of(text.encode("utf-16-le")) == "utf-16le"
    assert encoding_of(b"\0" * 512 + text.encode("utf-16-le")) == "utf-16le"


def test_a_utf8_log_is_never_taken_for_utf16() -> None:
    """Whatever NULs a crash left before it (any count, odd or even), a UTF-8 log's first
    line, ASCII or not, and short heads, are UTF-8."""
    firsts = [line for line in SAMPLE.splitlines(keepends=True)[:40] if line.strip()]
    firsts += ["é 2025-10-20\n", "ab\n", "a\n", "\r\n", "[08:08:22]\n0\0\0\0x"]
    for first, nuls in itertools.product(firsts, [*range(70), 511, 512, 4095]):
        head = (b"\0" * nuls + first.encode("utf-8") + SAMPLE.encode("utf-8"))[:4096]
        assert encoding_of(head) == "utf-8", (nuls, first)
    for head in (b"", b"\0", b"\0a", b"\0a\0", b"a\0", b"\0" * 4096, b"\0\xc3\xa9\0a"):
        assert encoding_of(head) == "utf-8", head
