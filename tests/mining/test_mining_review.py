"""Review of the miner on odd-but-real input: each test fails without the fix it names."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from foundups_training.mining.checkpoint import (
    Checkpoint,
    fingerprint,
    resume_point,
    tail_hash,
)
from foundups_training.mining.extractors import ErrorEpisode, detect
from foundups_training.mining.host_index import collect_host_patterns
from foundups_training.mining.miner import extract_patterns, mine_log
from foundups_training.mining.parser import parse_text

LOGGER = "modules.communication.livechat.src.livechat_core"


@pytest.mark.parametrize("zone", ["+02:00", "-0500", " +0000", "Z", " UTC"])
def test_dotted_line_with_a_time_zone_keeps_logger_and_level(zone: str) -> None:
    """A host whose formatter writes ISO-8601 with a zone: the line is still the logger's
    ERROR (before, the zone made it a "dated" line without logger, level or module)."""
    sep = "T" if zone in ("Z", "+02:00") else " "
    line = f"2025-10-20{sep}15:07:04.541{zone} - {LOGGER} - ERROR - Connection lost"
    (rec,) = parse_text(line)
    assert rec.fmt == "dotted"
    assert (rec.logger, rec.level, rec.message) == (LOGGER, "ERROR", "Connection lost")
    assert rec.module == "modules/communication/livechat"
    assert rec.timestamp == "2025-10-20T15:07:04"
    assert rec.is_error


def test_daemon_line_with_a_time_zone_keeps_its_level() -> None:
    """The daemon format with a zone: its level tag is still read."""
    (rec,) = parse_text("2025-12-22 07:05:25,605+01:00 [ERROR] [DAEMON] FATAL ERROR: x")
    assert (rec.fmt, rec.level) == ("tagged", "ERROR")


@pytest.mark.parametrize("tail", ["", " -", " "])
def test_dotted_line_with_only_a_level_is_that_loggers_error(tail: str) -> None:
    """``log.error("")`` with its trailing blank stripped: still the logger's error, which
    anchors an error episode (before: a "dated" line, no level, no module, no episode)."""
    lines = f"2025-10-20 15:07:04,541 - {LOGGER} - ERROR{tail}"
    (rec,) = parse_text(lines)
    assert (rec.fmt, rec.logger, rec.level, rec.message) == ("dotted", LOGGER, "ERROR", "")
    assert isinstance(detect(rec, None, ()), ErrorEpisode)


def _line(second: int, level: str, n: int) -> str:
    return f"2025-10-20 15:07:{second:02d},000 - {LOGGER} - {level} - Cache miss for item {n}"


def test_warning_and_routine_line_of_one_template_stay_two_patterns() -> None:
    """A WARNING and an INFO line with the same template are a warning pattern and a
    routine one; keyed without the level, the first one seen took the other's count."""
    patterns = extract_patterns([_line(1, "WARNING", 12), _line(2, "INFO", 13)])
    templates = {p.decision: p.seen for p in patterns if p.kind == "log_template"}
    assert templates == {
        "warning: Cache miss for item <NUM>": 1,
        "logs: Cache miss for item <NUM>": 1,
    }


def test_chunked_mining_of_one_template_at_two_levels_equals_one_pass(
    tmp_path: Path, make_store
) -> None:  # type: ignore[no-untyped-def]
    """The same log mined in one pass and one line per run gives the same patterns."""
    log = tmp_path / "012.txt"
    levels = ["WARNING", "INFO", "DEBUG", "INFO", "WARNING"]
    log.write_text("".join(_line(i, lv, i) + "\n" for i, lv in enumerate(levels)))
    one = make_store()
    mine_log(log, one, checkpoint_path=tmp_path / "one" / "checkpoint.json")
    chunked = make_store()
    for _ in range(len(levels) + 2):
        mine_log(log, chunked, checkpoint_path=tmp_path / "c" / "checkpoint.json", max_lines=1)

    def seen(store) -> dict[str, tuple[str, int]]:  # type: ignore[no-untyped-def]
        return {pid: (p.decision, p.seen) for pid, p in store.items.items()}

    assert seen(chunked) == seen(one)
    assert sorted(d for d, _ in seen(one).values() if d.startswith(("logs", "warning"))) == [
        "logs: Cache miss for item <NUM>",
        "warning: Cache miss for item <NUM>",
    ]


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="needs bytes file names")
def test_index_skips_file_and_folder_names_that_are_not_utf8(tmp_path: Path) -> None:
    """A file or folder name that is not UTF-8 (lone surrogates in Python) would put text
    no store can encode into a pattern, failing the whole index: such names are skipped,
    the rest of the tree is indexed."""
    root = bytes(tmp_path / "host")
    good = os.path.join(root, b"modules", b"dom", b"good", b"src")
    bad_dir = os.path.join(root, b"modules", b"dom", b"b\xe9d", b"src")
    try:
        os.makedirs(good)
        os.makedirs(bad_dir)
        with open(os.path.join(good, b"caf\xe9.py"), "wb") as fh:
            fh.write(b'"""Cafe module."""\nclass Kiosk:\n    """Sells coffee."""\n')
    except OSError:
        pytest.skip("this filesystem refuses names that are not UTF-8")
    with open(os.path.join(good, b"ok.py"), "wb") as fh:
        fh.write(b'"""Fine module \xff."""\ndef serve():\n    pass\n')
    with open(os.path.join(bad_dir, b"a.py"), "wb") as fh:
        fh.write(b'"""A."""\n')
    patterns, report = collect_host_patterns(tmp_path / "host")
    assert report.modules == 1
    assert report.files == 1
    for p in patterns:
        for text in (p.context, p.decision, p.code_ref, p.module, p.outcome):
            text.encode("utf-8")  # raises on a lone surrogate
    assert any("ok.py" in p.context for p in patterns)


def test_checkpoint_with_a_negative_head_length_still_resumes(tmp_path: Path) -> None:
    """A corrupt head length (``sha256:<hash>:-5``) is unknown, like a missing one: the
    head is compared over the usual bytes. Before, ``read(-5)`` hashed the whole log, the
    hash never matched, and mining restarted from the beginning, counting every line twice."""
    log = tmp_path / "012.txt"
    log.write_text("".join(_line(i, "INFO", i) + "\n" for i in range(200)))
    fp = fingerprint(log)
    offset = log.stat().st_size // 2
    offset = log.read_bytes().rindex(b"\n", 0, offset) + 1
    cp = Checkpoint(
        path=str(log.resolve()),
        offset=offset,
        fingerprint=f"sha256:{fp.head}:-5",
        lines_processed=100,
        updated_at="2026-01-01T00:00:00+00:00",
        episode_offset=offset,
        replay_offset=offset,
        size=fp.size,
        inode=fp.inode,
        tail=tail_hash(log, offset),
    )
    assert cp.head_len == 0
    point = resume_point(log, cp)
    assert point.warning == ""
    assert point.offset == offset
