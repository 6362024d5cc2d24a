# ruff: noqa: E501  (a real exception group is quoted whole)
"""Second review of the log reader, parser, checkpoint and write-ahead journal: bad input,
and nothing lost or counted twice.

Each test failed before its fix: a traceback whose exception is not named ``…Error`` (a
``requests`` read timeout, ``StopIteration``, an exception group) lost what was raised; a
log that was empty when first mined was called "replaced" once it grew; a pending-write
journal whose ``before`` was not a mapping stopped every later run; a checkpoint that could
not be written left its temporary file behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from foundups_training.mining.checkpoint import load_checkpoint
from foundups_training.mining.miner import extract_patterns, mine_log
from foundups_training.mining.parser import parse_text
from foundups_training.mining.writeahead import pending_path

SR = "modules.platform_integration.stream_resolver.src.stream_resolver"
LC = "modules.communication.livechat.src.livechat_core"
HEAD = f"2025-10-20 15:07:04,541 - {SR} - ERROR - Stream check failed for Move2Japan"
FRAMES = [
    "Traceback (most recent call last):",
    '  File "O:\\Foundups-Agent\\modules\\platform_integration\\stream_resolver\\src\\'
    'stream_resolver.py", line 88, in check_channel',
    "    response = session.get(url, timeout=10)",
    '  File "C:\\Python312\\Lib\\site-packages\\requests\\adapters.py", line 713, in send',
    "    raise ReadTimeout(e, request=request)",
]
SITE = "adapters.py line 713, in send: raise ReadTimeout(e, request=request)"
NEXT = f"2025-10-20 15:07:05,000 - {SR} - INFO - Retrying Move2Japan in 2s"
OTHER = f"2025-10-20 15:07:04,900 - {LC} - INFO - Polling chat (interval 5.0s)"


# -- 1. an exception line whose class is not named ...Error -----------------------------------
RAISED = [
    "requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='www.youtube.com', port=443):"
    " Read timed out. (read timeout=10)",
    "requests.exceptions.Timeout",
    "httpx.ConnectTimeout: timed out",
    "websockets.exceptions.ConnectionClosedOK: received 1000 (OK); then sent 1000 (OK)",
    "pywintypes.error: (5, 'OpenClipboard', 'Access is denied.')",
    "StopIteration",
    "check.<locals>.QuotaExhausted: all 3 credential sets",
]


@pytest.mark.parametrize("raised", RAISED)
def test_a_traceback_keeps_its_exception_line_whatever_the_class_is_named(raised: str) -> None:
    """Python ends every traceback with the exception's line: ``module.Class: message``.
    Before, only classes named ``…Error``/``…Exception`` (and a few more) were known: the
    line of a ``requests`` timeout became a plain record of its own after the error, whose
    situation did not say what was raised."""
    recs = parse_text("\n".join([HEAD, *FRAMES, raised, NEXT]) + "\n")
    assert [r.message for r in recs] == [
        "Stream check failed for Move2Japan",
        "Retrying Move2Japan in 2s",
    ]
    err = recs[0]
    assert err.traceback and err.lines == len(FRAMES) + 2
    assert err.exception == raised
    assert err.crash_site == SITE
    assert err.text.endswith(f"| {raised}")


@pytest.mark.parametrize("raised", RAISED[:3])
def test_the_exception_line_after_another_threads_line_stays_with_its_traceback(
    raised: str,
) -> None:
    """The same exception line after a line another thread wrote inside the traceback."""
    recs = parse_text("\n".join([HEAD, *FRAMES, OTHER, raised, NEXT]) + "\n")
    assert [r.logger for r in recs] == [SR, LC, SR]
    assert recs[0].exception == raised and recs[0].crash_site == SITE
    assert recs[1].message.startswith("Polling chat") and recs[1].extra is None


@pytest.mark.parametrize(
    "after",
    [
        "Loading configuration...",
        "Stacktrace:",
        "Done",
        "INFO:     Started server process [1234]",
        "Note: the agent restarted",
    ],
)
def test_a_traceback_cut_off_keeps_the_next_plain_line_out(after: str) -> None:
    """A traceback cut off by a restart (no exception line) is followed by the new boot's
    lines: plain text that is not a qualified class name stays a record of its own."""
    recs = parse_text("\n".join([HEAD, *FRAMES, after]) + "\n")
    assert len(recs) == 2 and recs[0].exception == "" and recs[0].crash_site == SITE
    assert recs[1].message == after and recs[1].fmt == "plain"


def test_after_its_exception_line_a_dotted_line_is_no_second_exception() -> None:
    """Once the exception line is in, the traceback has ended: a later line that looks like
    a class name (Selenium's ``Stacktrace:`` block ends in such lines) is not joined."""
    selenium = [
        HEAD,
        *FRAMES,
        "selenium.common.exceptions.TimeoutException: Message: ",
        "  (Session info: chrome=120.0.6099.71)",
        "chromedriver.exe: not answering",
    ]
    recs = parse_text("\n".join(selenium) + "\n")
    assert len(recs) == 2
    assert recs[0].exception == "selenium.common.exceptions.TimeoutException: Message:"
    assert recs[1].message == "chromedriver.exe: not answering"


def test_the_error_pattern_says_what_a_timeout_raised() -> None:
    """Mined, the error's situation ends with the exception, as it does for a KeyError."""
    raised = RAISED[0]
    lines = [HEAD, *FRAMES, raised, NEXT]
    situations = [p.context.split("\n")[0] for p in extract_patterns([*lines, *[NEXT] * 30])]
    assert any(
        "ERROR stream_resolver: Stream check failed" in s and s.endswith(f"{SITE} | {raised}")
        for s in situations
    ), situations


@pytest.mark.parametrize("max_lines", [None, 1, 2, 3])
def test_mining_such_a_traceback_in_chunks_equals_one_pass(
    tmp_path: Path, make_store: Any, max_lines: int | None
) -> None:
    """Chained (a timeout, then a KeyError while handling it) and mined a few lines a run:
    every line counted once, the same patterns as one pass."""
    chained = [HEAD, *FRAMES, RAISED[0], "", "During handling of the above exception,"
               " another exception occurred:", "", *FRAMES[:3], "KeyError: 'items'"]  # fmt: skip
    lines = [*(_line(i).rstrip("\n") for i in range(5)), *chained, NEXT, *[OTHER] * 25]
    assert parse_text("\n".join(chained))[0].exception == "KeyError: 'items'"
    log, cp = tmp_path / "012.txt", tmp_path / "cp.json"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = make_store()
    counted = 0
    for _ in range(200):
        report = mine_log(log, store, checkpoint_path=cp, max_lines=max_lines)
        counted += report.lines_processed
        if report.lines_processed == 0 or max_lines is None:
            break
    assert counted == len(lines)
    one = {p.id: (p.seen, p.context, p.outcome) for p in extract_patterns(lines)}
    assert {p.id: (p.seen, p.context, p.outcome) for p in store.items.values()} == one


GROUP = """\
2025-10-20 15:07:04,541 - modules.communication.livechat.src.livechat_core - ERROR - Task group failed
  + Exception Group Traceback (most recent call last):
  |   File "O:\\Foundups-Agent\\modules\\communication\\livechat\\src\\livechat_core.py", line 210, in run
  |     async with asyncio.TaskGroup() as tg:
  |   File "C:\\Python312\\Lib\\asyncio\\taskgroups.py", line 145, in __aexit__
  |     raise me from None
  | ExceptionGroup: unhandled errors in a TaskGroup (1 sub-exception)
  +-+---------------- 1 ----------------
    | Traceback (most recent call last):
    |   File "O:\\Foundups-Agent\\modules\\communication\\livechat\\src\\chat_poller.py", line 77, in poll
    |     items = response["items"]
    |             ~~~~~~~~^^^^^^^^^
    | KeyError: 'items'
    +------------------------------------
2025-10-20 15:07:05,000 - modules.communication.livechat.src.livechat_core - INFO - Reconnecting
"""


def test_an_exception_group_is_a_traceback_that_says_what_was_raised() -> None:
    """``asyncio.TaskGroup`` (Python 3.11+) raises an exception group, logged with its
    sub-exceptions behind ``|`` bars. Before, it was a record of indented lines, not a
    traceback: no exception, no crash site."""
    recs = parse_text(GROUP)
    assert len(recs) == 2 and recs[1].message == "Reconnecting"
    err = recs[0]
    assert err.traceback and err.is_error and err.lines == 14
    assert err.exception == "KeyError: 'items'"
    assert err.crash_site == 'chat_poller.py line 77, in poll: items = response["items"]'


# -- 2. a log that was empty when it was first mined ------------------------------------------
def _line(i: int, level: str = "INFO") -> str:
    return f"2025-10-20 15:{i // 60:02d}:{i % 60:02d},000 - {SR} - {level} - Polling tick {i}\n"


def test_a_log_empty_when_first_mined_is_resumed_not_called_replaced(
    tmp_path: Path, store: Any
) -> None:
    """A log rotated a moment ago is empty when the idle cycle mines it: its checkpoint
    hashed 0 bytes. Before, that hash was compared with the first 4 KiB the log has once it
    grew, and every such log was "replaced (fingerprint changed)" at its next run."""
    log, cp = tmp_path / "012.txt", tmp_path / "cp.json"
    log.write_bytes(b"")
    first = mine_log(log, store, checkpoint_path=cp)
    assert first.warnings == () and first.lines_processed == 0
    with log.open("a", encoding="utf-8") as fh:
        fh.writelines(_line(i) for i in range(50))
    second = mine_log(log, store, checkpoint_path=cp)
    assert second.warnings == ()
    assert second.lines_processed == 50 and second.lines_total == 50
    third = mine_log(log, store, checkpoint_path=cp)
    assert third.warnings == () and third.lines_processed == 0


def test_an_empty_log_replaced_by_another_file_is_still_told(tmp_path: Path, store: Any) -> None:
    """The same empty checkpoint, but another file (another inode) at the log's path now:
    the warning says it was rotated, as for any log."""
    log, cp = tmp_path / "012.txt", tmp_path / "cp.json"
    log.write_bytes(b"")
    mine_log(log, store, checkpoint_path=cp)
    keep = tmp_path / "012.txt.1"
    log.rename(keep)
    log.write_text("".join(_line(i) for i in range(5)), encoding="utf-8")
    report = mine_log(log, store, checkpoint_path=cp)
    assert report.lines_processed == 5
    assert any("rotated" in w for w in report.warnings), report.warnings


# -- 3. a pending-write journal whose fields have the wrong types -----------------------------
class _SeenStore:
    """The dict store with the ``seen_counts`` the journal reads."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def seen_counts(self, ids: list[str]) -> dict[str, int]:
        return {i: self.inner.items[i].seen for i in ids if i in self.inner.items}


@pytest.mark.parametrize(
    "before", [None, [], "corrupt", 7, {"x": "3"}], ids=["null", "list", "str", "int", "str-count"]
)
def test_a_journal_with_a_mistyped_before_is_dropped_not_raised_at_every_run(
    tmp_path: Path, store: Any, before: Any
) -> None:
    """Before, ``before`` that was not a mapping of counts raised ``AttributeError`` (or a
    ``TypeError``) outside the journal's own checks: the journal stayed, and every later
    run (each idle cycle) failed the same way."""
    log, cp = tmp_path / "012.txt", tmp_path / "cp.json"
    log.write_text("".join(_line(i, "WARNING") for i in range(20)), encoding="utf-8")
    memory = _SeenStore(store)
    mine_log(log, memory, checkpoint_path=cp)
    target = json.loads(cp.read_text(encoding="utf-8"))
    target["updated_at"] = "2026-01-01T00:00:00+00:00"  # a flush that did not land
    patterns = [asdict(p) for p in store.items.values()]
    if isinstance(before, dict):
        before = {patterns[0]["id"]: before["x"]}
    journal = pending_path(cp)
    journal.write_text(
        json.dumps({"target": target, "before": before, "patterns": patterns}), encoding="utf-8"
    )
    seen = {pid: p.seen for pid, p in store.items.items()}
    report = mine_log(log, memory, checkpoint_path=cp)
    assert any("pending write journal" in w for w in report.warnings), report.warnings
    assert not journal.exists()
    assert {pid: p.seen for pid, p in store.items.items()} == seen  # nothing counted twice
    assert mine_log(log, memory, checkpoint_path=cp).warnings == ()


# -- 4. a checkpoint that cannot be written ---------------------------------------------------
def test_a_checkpoint_that_cannot_be_written_leaves_no_temporary_file(tmp_path: Path) -> None:
    """A full disk (the file-size limit, which fails the write as ENOSPC would) while the
    checkpoint is written: the old checkpoint stays and no half-written temporary file is
    left beside it (before, one ``.checkpoint.json.<pid>.tmp`` per failed run)."""
    pytest.importorskip("resource")
    data = tmp_path / "data"
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        from pathlib import Path
        from foundups_training.mining.checkpoint import Checkpoint, save_checkpoint
        path = Path({str(data / "checkpoint.json")!r})
        small = Checkpoint(path="log", offset=1, fingerprint="", lines_processed=1,
                           updated_at="t")
        save_checkpoint(path, small)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        big = Checkpoint(path="log", offset=2, fingerprint="", lines_processed=2,
                         updated_at="t", extra={{"pad": "x" * 100_000}})
        try:
            save_checkpoint(path, big)
        except OSError as exc:
            print("failed:", exc.strerror)
            sys.exit(0)
        sys.exit(3)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "failed:" in done.stdout, done.stdout + done.stderr
    assert sorted(p.name for p in data.iterdir()) == ["checkpoint.json", "checkpoint.json.bak"]
    cp, warning = load_checkpoint(data / "checkpoint.json")
    assert cp is not None and cp.offset == 1 and not warning
