"""Bad input: fuzzed lines, bytes, checkpoints, QA files and command lines; pathological logs.

Hypothesis drives the pure parts in-process (parser, redaction, extractors and
consolidation through ``extract_patterns``; the reader on raw bytes; the checkpoint loader
and resume decision; the QA reader; the CLI's ``main(argv)``). The pathological logs --
binary junk, a 10 MB line, an empty file, non-UTF-8 bytes -- are mined into the real store.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rel_helpers import child_env, mine_json, run_cli, sample_lines, settings_for, write_log

from foundups_training import cli
from foundups_training.engine import Trainer
from foundups_training.evaluation.qa import QAFileError, parse_lines
from foundups_training.mining.checkpoint import load_checkpoint, resume_point
from foundups_training.mining.miner import extract_patterns
from foundups_training.mining.reader import read_lines
from foundups_training.records import Pattern

FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# -- lines: real prefixes, tags and shapes mixed with anything --------------------------------

PREFIXES = [
    "2025-10-20 15:07:04,541 - modules.communication.livechat.src.qwen_youtube_integration"
    " - INFO - ",
    "2025-09-30 16:07:40,185 - modules.infrastructure.database.src.db_manager - ERROR - ",
    "2025-12-22 07:05:25,605 [ERROR] [DAEMON][DAE-ERROR] ",
    "[08:08:22] [BOT][AI] [QWEN-DECISION] ",
    "2025-10-20 15:07:04,541 - root - WARNING - ",
    "Traceback (most recent call last):",
    '  File "x.py", line 3, in <module>',
    "",
]
TAGS = ["[BOT][AI] [QWEN-SCORE] ", "[ERROR] ", "[U+1F511] ", "[QWEN-DECISION] ", "WSP 49 ",
        "broadcastContent='live' ", "No stream found on ", "Retrying ", "[OK] "]  # fmt: skip
noise = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)) | st.sampled_from("\r\t\x00\x1b["),
    max_size=120,
)
log_line = st.builds(
    lambda p, t, n: p + t + n, st.sampled_from(PREFIXES), st.sampled_from(["", *TAGS]), noise
)


@FUZZ
@given(st.lists(log_line | noise, max_size=60))
def test_parser_and_extractors_never_raise(lines: list[str]) -> None:
    lines = [ln.replace("\n", " ") for ln in lines]
    patterns = extract_patterns(lines)
    for p in patterns:
        assert isinstance(p, Pattern) and p.id and p.kind and p.seen >= 1


@FUZZ
@given(st.lists(st.sampled_from(sample_lines(400)), max_size=40), st.integers(0, 2**32))
def test_shuffled_real_lines_never_raise(lines: list[str], salt: int) -> None:
    extract_patterns([ln.rstrip("\n") + f" {salt}" for ln in lines])


@FUZZ
@given(st.binary(max_size=4096), st.integers(1, 64))
def test_reader_and_parser_on_raw_bytes(tmp_path: Path, data: bytes, max_line: int) -> None:
    path = tmp_path / "junk.log"
    path.write_bytes(data)
    lines = list(read_lines(path, max_line=max_line, block=97))
    ends = [ln.end for ln in lines]
    assert ends == sorted(ends) and all(e <= len(data) for e in ends)
    extract_patterns(ln.text for ln in lines)


# -- the checkpoint loader ----------------------------------------------------------------------

json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                  max_size=4),
    max_leaves=12,
)  # fmt: skip
checkpointish = st.fixed_dictionaries(
    {},
    optional={
        k: json_value | st.integers(-10, 10**6)
        for k in ("path", "offset", "fingerprint", "lines_processed", "updated_at",
                  "episode_offset", "replay_offset", "replay_date", "size", "inode", "tail",
                  "version", "extra")
    },
)  # fmt: skip


@FUZZ
@given(st.one_of(st.binary(max_size=300), checkpointish.map(lambda d: json.dumps(d).encode())))
def test_checkpoint_loader_never_raises(tmp_path: Path, raw: bytes) -> None:
    log = tmp_path / "012.txt"
    if not log.exists():
        write_log(log, 5)
    path = tmp_path / "checkpoint.json"
    path.write_bytes(raw)
    cp, warning = load_checkpoint(path)
    assert cp is not None or warning or raw == b""
    point = resume_point(log, cp)
    assert 0 <= point.replay_offset <= max(point.offset, 0) + 0
    assert point.offset <= log.stat().st_size or point.warning


# -- the QA reader ----------------------------------------------------------------------------

qa_line = st.one_of(
    noise,
    st.dictionaries(st.sampled_from(["query", "expected", "id", "kind", "x"]), json_value,
                    max_size=5).map(json.dumps),
)  # fmt: skip


@FUZZ
@given(st.lists(qa_line, max_size=12))
def test_qa_reader_gives_items_or_one_clear_error(lines: list[str]) -> None:
    try:
        items = parse_lines(lines, "fuzz.jsonl")
    except QAFileError as exc:
        assert "fuzz.jsonl" in str(exc) and "line" in str(exc)
        return
    for item in items:
        assert item.query.strip() and item.expected


# -- the command line ---------------------------------------------------------------------------

#: Verbs that run fast without models: the others (ask, index, menu, demo, run-host,
#: report) load models, walk trees, wait for a keyboard or start the host.
CHEAP_VERBS = ["plugins", "status", "clear", "eval", "mine"]
FLAGS = ["--json", "-q", "-v", "--yes", "--max-lines", "--max-seconds", "--limit", "--tiers",
         "--out", "--host-root", "--config", "--data-dir", "--calibrate", "-n", "--tier",
         "--bogus", "-x", "--", "-1", "0", "nan", "1e309", "", " ", "memory,qwen",
         "\x00"]  # fmt: skip
token = st.sampled_from(FLAGS) | st.text(string.printable, max_size=12)


@FUZZ
@given(verb=st.sampled_from(CHEAP_VERBS), rest=st.lists(token, max_size=6))
def test_cli_main_returns_a_status_or_exits_from_argparse(
    verb: str, rest: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [verb, *rest]
    if "--data-dir" not in argv:
        argv += ["--data-dir", str(tmp_path / "data")]
    try:
        status = cli.main(argv)
    except SystemExit as exc:  # argparse: usage error (2) or --help (0)
        assert exc.code in (0, 2), argv
    else:
        assert isinstance(status, int), argv
    err = capsys.readouterr().err
    assert "Traceback" not in err, (argv, err)


# -- pathological logs, mined into the real store ---------------------------------------------


@pytest.fixture
def trainer(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Trainer(settings_for(tmp_path / "data")) as t:
        yield t


def test_empty_log(trainer: Trainer, tmp_path: Path) -> None:
    log = tmp_path / "012.txt"
    log.write_bytes(b"")
    report = trainer.mine(log)
    assert report.lines_processed == 0 and report.progress == 1.0 and not report.warnings


def test_ten_megabyte_line_is_cut_and_the_next_lines_still_read(
    trainer: Trainer, tmp_path: Path
) -> None:
    log = tmp_path / "012.txt"
    with log.open("wb") as fh:
        fh.write("".join(sample_lines(20)).encode())
        fh.write(b"2025-10-20 15:07:04,541 - root - INFO - " + b"A" * (10 * 1024 * 1024) + b"\n")
        fh.write("".join(sample_lines(20, start=20)).encode())
    report = trainer.mine(log)
    assert report.truncated_lines == 1 and report.lines_processed == 41
    assert report.progress == 1.0
    longest = max(len(p.context) for p in trainer.memory.all_patterns())
    assert longest < 64 * 1024  # the runaway line never reached the store whole


def test_non_utf8_bytes_are_replaced_not_fatal(trainer: Trainer, tmp_path: Path) -> None:
    log = tmp_path / "012.txt"
    lines = [ln.encode() for ln in sample_lines(30)]
    lines[5] = lines[5].rstrip(b"\n") + b" caf\xe9 \xff\xfe \xed\xa0\x80\n"  # latin-1, junk, CESU
    log.write_bytes(b"".join(lines))
    report = trainer.mine(log)
    assert report.lines_processed == 30
    for p in trainer.memory.all_patterns():
        p.context.encode("utf-8")  # storable text only: no lone surrogates


def test_binary_junk_log(trainer: Trainer, tmp_path: Path) -> None:
    import random

    rng = random.Random(8)
    log = tmp_path / "012.txt"
    log.write_bytes(bytes(rng.getrandbits(8) for _ in range(300_000)) + b"\n")
    report = trainer.mine(log)
    assert report.progress == 1.0 and report.lines_processed > 0


def test_log_path_that_is_a_directory_or_missing_is_a_clear_cli_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["mine", str(tmp_path), "--data-dir", str(tmp_path / "d")]) == 2
    assert "directory" in capsys.readouterr().err
    assert cli.main(["mine", str(tmp_path / "nope.txt"), "--data-dir", str(tmp_path / "d")]) == 2
    assert "not found" in capsys.readouterr().err


# -- queries ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("queries")
    mine_json(write_log(root / "012.txt", 60), root / "data")
    return root / "data"


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_query_is_a_clear_message(small_store: Path, query: str) -> None:
    done = run_cli("ask", query, "--data-dir", small_store, "--json", env=child_env())
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert json.loads(done.stdout)["error"] == "empty question"


def test_very_long_query_is_answered_or_refused_clearly(small_store: Path) -> None:
    query = "which module handles youtube authentication " * 2200  # ~100 KB: argv's limit
    done = run_cli("ask", query, "--tier", "memory", "--data-dir", small_store, "--json")
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
    answer = json.loads(done.stdout)
    assert answer["tier"] in ("memory", "none") and (answer["answer"] or answer["error"])
