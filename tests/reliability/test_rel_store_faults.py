"""Write errors, a corrupt or foreign checkpoint, and a second writer on the embedded store.

Real CLI processes on real files. Root ignores file modes, so "read-only" is made real by
running the child as the ``nobody`` user; "disk full" by RLIMIT_FSIZE in the child (the
kernel then fails the write with EFBIG, exactly where a full disk fails it with ENOSPC).
Every case ends the same way: a one-line error (never a traceback), the checkpoint not
advanced, and -- once the fault is gone -- a resumed run whose store equals one clean run.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rel_helpers import (
    REPO,
    Snapshot,
    checkpoint,
    child_env,
    cli_cmd,
    diff,
    mine_json,
    run_cli,
    sample_lines,
    settings_for,
    snapshot,
    write_log,
)

from foundups_training.mining.miner import pending_path

NOBODY = 65534
needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("setpriv"),
    reason="drops to 'nobody' with setpriv: needs root",
)


def _as_nobody(*args: str | Path) -> subprocess.CompletedProcess:
    """The CLI run as ``nobody`` (through setpriv, which execs the interpreter the way a
    login shell would; a bare setuid before exec loses the venv's path through /root)."""
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
         *cli_cmd(*args)],
        capture_output=True, text=True, timeout=300, env=child_env(), cwd=REPO,
    )  # fmt: skip


def _file_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        # SIGXFSZ would kill the process; ignored, the write fails with EFBIG instead.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode not in (0, None), done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("foundups-training")]
    assert lines, done.stderr
    return lines[0]


def _chown_tree(path: Path, uid: int) -> None:
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, uid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, uid)


@pytest.fixture
def reachable() -> Iterator[Path]:
    """A folder ``nobody`` can reach: pytest's own (``/tmp/pytest-of-root``, mode 700) would
    refuse it before the fault a test sets up, and the test would pass for that reason."""
    root = Path(tempfile.mkdtemp(prefix="foundups-training-rel-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        for f in [root, *root.rglob("*")]:
            if not f.is_symlink():
                f.chmod(0o755 if f.is_dir() else 0o644)
        shutil.rmtree(root, ignore_errors=True)


def _half_log(tmp_path: Path) -> Path:
    """A world-readable copy of the first 200 lines (the rest is appended later)."""
    tmp_path.chmod(0o755)
    log = write_log(tmp_path / "012.txt", 200)
    log.chmod(0o644)
    return log


def _append_rest(log: Path) -> None:
    with log.open("a", encoding="utf-8") as fh:
        fh.write("".join(sample_lines(200, start=200)))


# -- write errors ---------------------------------------------------------------------------


@needs_root
def test_read_only_data_dir_is_a_clear_error(reachable: Path) -> None:
    log = _half_log(reachable)
    data = reachable / "data"
    data.mkdir(mode=0o555)
    done = _as_nobody("mine", log, "--data-dir", data)
    message = _one_line_error(done)
    assert "Permission denied" in message and str(data / "chroma.lock") in message
    assert list(data.iterdir()) == []  # nothing written, not even a half checkpoint


@pytest.mark.slow
@needs_root
def test_read_only_store_midway_keeps_the_checkpoint_then_resumes_exactly(
    reachable: Path, baseline: Snapshot
) -> None:
    log = _half_log(reachable)
    data = reachable / "data"
    data.mkdir()
    mine_json(log, data)
    _append_rest(log)
    before = (data / "checkpoint.json").read_bytes()
    _chown_tree(data, NOBODY)
    (data / "chroma").chmod(0o555)  # the store cannot change; the data dir still can
    for f in (data / "chroma").rglob("*"):
        f.chmod(0o555 if f.is_dir() else 0o444)
    done = _as_nobody("mine", log, "--data-dir", data)
    _one_line_error(done)
    assert (data / "checkpoint.json").read_bytes() == before, "checkpoint advanced"
    for f in [data / "chroma", *(data / "chroma").rglob("*")]:
        f.chmod(0o755 if f.is_dir() else 0o644)
    mine_json(log, data)  # the fault is gone: resume
    assert not pending_path(data / "checkpoint.json").exists()
    assert checkpoint(data)["lines_processed"] == 400
    assert not diff(baseline, snapshot(data))


@pytest.mark.slow
@pytest.mark.parametrize("headroom", [0, 4096, 65536])
def test_disk_full_midway_keeps_the_checkpoint_then_resumes_exactly(
    tmp_path: Path, baseline: Snapshot, headroom: int
) -> None:
    """RLIMIT_FSIZE just above the biggest file: the second run's writes hit 'disk full'
    at different places (journal, Chroma's SQLite, the checkpoint) by the headroom."""
    log = _half_log(tmp_path)
    data = tmp_path / "data"
    mine_json(log, data)
    _append_rest(log)
    before = (data / "checkpoint.json").read_bytes()
    biggest = max(f.stat().st_size for f in data.rglob("*") if f.is_file())
    done = run_cli("mine", log, "--data-dir", data, preexec_fn=_file_limit(biggest + headroom))
    if done.returncode == 0:
        pytest.skip(f"headroom {headroom} was enough for the whole run")  # nothing to prove
    message = _one_line_error(done)
    # the OS's own words, or (when Chroma's error names no cause) the limit that was hit
    assert any(w in message.lower() for w in ("too large", "disk", "full", "ulimit -f")), message
    assert (data / "checkpoint.json").read_bytes() == before, "checkpoint advanced"
    assert not [f for f in data.iterdir() if f.name.endswith(".tmp")], "half-written temp file"
    mine_json(log, data)
    assert checkpoint(data)["lines_processed"] == 400
    assert not diff(baseline, snapshot(data))


# -- the checkpoint ---------------------------------------------------------------------------

CORRUPT = {
    "garbage": b"\x00\xff{not json",
    "empty": b"",
    "a list": b"[1, 2, 3]",
    "foreign json": json.dumps({"name": "some other tool", "version": 7}).encode(),
    "offset not a number": json.dumps({"path": "", "offset": "12", "fingerprint": "x",
                                       "lines_processed": 0, "updated_at": ""}).encode(),
    "negative offset": json.dumps({"path": "", "offset": -5, "fingerprint": "x",
                                   "lines_processed": 0, "updated_at": ""}).encode(),
    "offset past the end": json.dumps({"path": "", "offset": 10**12, "fingerprint": "",
                                       "lines_processed": 3, "updated_at": ""}).encode(),
    "another log": json.dumps({"path": "/elsewhere/012.txt", "offset": 100,
                               "fingerprint": "sha256:00:4", "lines_processed": 3,
                               "updated_at": ""}).encode(),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_or_foreign_checkpoint_restarts_safely(case: str, tmp_path: Path) -> None:
    """Checked in-process on the checkpoint loader and the miner (the CLI prints the
    same warnings, see the next test): detected, reported, mined from line 1."""
    from foundups_training.mining.checkpoint import load_checkpoint, resume_point

    log = write_log(tmp_path / "012.txt", 50)
    path = tmp_path / "checkpoint.json"
    path.write_bytes(CORRUPT[case])
    cp, warning = load_checkpoint(path)
    point = resume_point(log, cp)
    assert warning or point.warning or cp is None, case
    assert point.offset == 0 and point.replay_offset == 0 and point.episode_offset == 0


def test_corrupt_checkpoint_through_the_cli(tmp_path: Path) -> None:
    log = write_log(tmp_path / "012.txt", 60)
    data = tmp_path / "data"
    data.mkdir()
    (data / "checkpoint.json").write_bytes(CORRUPT["garbage"])
    done = run_cli("mine", log, "--data-dir", data)
    assert done.returncode == 0, done.stderr
    assert "checkpoint" in done.stdout and "corrupt" in done.stdout
    assert checkpoint(data)["lines_processed"] == 60  # rewritten, whole and valid


def test_checkpoint_that_is_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    log = write_log(tmp_path / "012.txt", 30)
    data = tmp_path / "data"
    (data / "checkpoint.json").mkdir(parents=True)
    _one_line_error(run_cli("mine", log, "--data-dir", data))


def test_corrupt_write_journal_is_dropped_with_a_warning(tmp_path: Path) -> None:
    log = write_log(tmp_path / "012.txt", 40)
    data = tmp_path / "data"
    data.mkdir()
    pending_path(data / "checkpoint.json").write_bytes(b'{"target": 3')
    report = mine_json(log, data)
    assert any("journal" in w for w in report["warnings"]), report["warnings"]
    assert report["lines_total"] == 40


# -- a second writer ----------------------------------------------------------------------------

HOLDER = """
import sys, time
from foundups_training.config import load_settings
from foundups_training.memory import open_memory
m = open_memory(load_settings({"data_dir": sys.argv[1]}, env={}))
m.upsert([])
print("holding", flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_second_writer_gets_a_clear_message_and_no_corruption(
    tmp_path: Path, rel_log: Path
) -> None:
    data = tmp_path / "data"
    first = mine_json(rel_log, data, "--max-lines", "150")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data)],
        stdout=subprocess.PIPE, text=True, env=child_env(), cwd=REPO,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        message = _one_line_error(run_cli("mine", rel_log, "--data-dir", data))
        assert "open for writing" in message and str(holder.pid) in message
        assert "CHROMA_URL" in message  # says how to share a store instead
        status = run_cli("status", "--data-dir", data, "--json")  # readers still work
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["patterns_total"] == first["patterns_total"]
    finally:
        holder.kill()  # SIGKILL: the OS drops the lock, there is no stale lock to clean
        holder.wait(timeout=30)
    time.sleep(0.1)
    after = mine_json(rel_log, data)
    assert after["lines_total"] == 400 and after["progress"] == 1.0


def test_store_opened_twice_in_one_process_for_writing(tmp_path: Path) -> None:
    """A second writer inside the same process is refused the same way (flock per open)."""
    from foundups_training.memory import StoreLocked, open_memory

    settings = settings_for(tmp_path / "data")
    with open_memory(settings):
        with pytest.raises(StoreLocked, match="open for writing"):
            open_memory(settings)
    with open_memory(settings) as again:  # released on close
        assert again.count() == 0


def test_cli_argv_of_second_writer_test_is_runnable() -> None:
    """Guard: the helper command line is the real console entry point."""
    assert cli_cmd("plugins")[1:3] == ["-m", "foundups_training"]
