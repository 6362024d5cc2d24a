"""A store this process cannot write: counted from a private copy, never a false 0.

chromadb writes whenever it opens a store (every ``PersistentClient`` inserts a row into the
SQLite file's ``acquire_write`` table), so in a read-only folder it fails with "(code: 8)
attempt to write a readonly database" and ``status`` showed 0 patterns. For real: the CLI
run as ``nobody`` on a tree made read-only (root ignores file modes), and run as root on a
read-only bind mount in its own mount namespace. Anywhere: chromadb's refusal simulated in
process, exactly as it is raised.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from foundups_training.config import Settings, load_settings
from foundups_training.memory import open_memory, readcopy

from .helpers import make

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534
#: chromadb 1.5.9's words when its open of a read-only store fails (measured as nobody).
REFUSAL = "error returned from database: (code: 8) attempt to write a readonly database"
KINDS = {"error_fix": 5, "priority": 3}

needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="a read-only folder root cannot write needs root (to drop to nobody, or to mount)",
)


def _fill(settings: Settings) -> None:
    i = 0
    with open_memory(settings) as memory:
        for kind, n in KINDS.items():
            memory.upsert([make(i + k, kind) for k in range(n)])
            i += n


def _hashes(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and its content's hash (the store, byte for byte)."""
    return {
        str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    }


@pytest.fixture
def filled(settings: Settings) -> Settings:
    _fill(settings)
    return settings


def _refuse_writes(
    monkeypatch: pytest.MonkeyPatch, store: Path, *, access_says_writable: bool = False
) -> list[str]:
    """Make ``store`` behave as a folder this process cannot write: chromadb's open fails
    exactly as it does for real, and (unless told otherwise) ``os.access`` says so.
    Returns the paths chromadb was asked to open."""
    import chromadb
    from chromadb.errors import InternalError

    real_client = chromadb.PersistentClient
    real_access = os.access
    opened: list[str] = []

    def client(path: str, **kwargs: Any) -> Any:
        opened.append(path)
        if Path(path) == store:
            raise InternalError(REFUSAL)
        return real_client(path=path, **kwargs)

    def access(path: Any, mode: int, **kwargs: Any) -> bool:
        inside = Path(path) == store or store in Path(path).parents
        if inside and mode & os.W_OK and not access_says_writable:
            return False
        return real_access(path, mode, **kwargs)

    monkeypatch.setattr(chromadb, "PersistentClient", client)
    monkeypatch.setattr(os, "access", access)
    return opened


@pytest.mark.parametrize("access_says_writable", [False, True], ids=["seen-first", "on-refusal"])
def test_a_store_chromadb_cannot_write_is_read_from_a_copy(
    filled: Settings, scratch: Path, monkeypatch: pytest.MonkeyPatch, access_says_writable: bool
) -> None:
    store = filled.chroma_dir
    before = _hashes(store)
    opened = _refuse_writes(monkeypatch, store, access_says_writable=access_says_writable)
    memory = open_memory(filled, read_only=True)
    try:
        stats = memory.stats()
        assert stats["total"] == sum(KINDS.values())
        assert stats["by_kind"] == KINDS
        assert stats["read_from_copy"] and memory.read_from_copy
        assert memory.recall("youtube api quota exceeded", n=1)  # the vector index came too
        (copy,) = scratch.iterdir()
        assert opened[-1] == str(copy)
        # chromadb was never asked to open the store itself unless it looked writable
        assert (str(store) in opened) is access_says_writable
    finally:
        memory.close()
    assert list(scratch.iterdir()) == [], "the copy outlived the memory"
    assert _hashes(store) == before, "the store changed"


def test_status_counts_a_store_it_cannot_write(
    filled: Settings, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from foundups_training.cli.status import _text
    from foundups_training.engine import Trainer

    _refuse_writes(monkeypatch, filled.chroma_dir)
    with Trainer(filled, read_only=True) as trainer:
        status = trainer.status()
    assert status["patterns_total"] == sum(KINDS.values()) and status["by_kind"] == KINDS
    assert "memory_error" not in status and "patterns_unknown" not in status
    assert status["store_read_from_copy"] is True
    text = _text(status)
    assert f"patterns       : {sum(KINDS.values())} (" in text
    assert "read from a temporary copy" in text
    assert list(scratch.iterdir()) == []


def test_a_store_too_big_to_copy_is_unknown_never_zero(
    filled: Settings, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from foundups_training.cli.status import _text
    from foundups_training.engine import Trainer

    _refuse_writes(monkeypatch, filled.chroma_dir)
    monkeypatch.setattr(readcopy, "COPY_LIMIT", 1024)
    with Trainer(filled, read_only=True) as trainer:
        status = trainer.status()
    assert "too big" in status["patterns_unknown"]
    text = _text(status)
    assert "patterns       : unknown (StoreNotCopied: the store" in text
    assert "patterns       : 0" not in text and "too big" in text
    assert list(scratch.iterdir()) == []


def test_a_failed_copy_leaves_nothing_behind(
    filled: Settings, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    _refuse_writes(monkeypatch, filled.chroma_dir)
    monkeypatch.setattr(shutil, "copyfile", full)
    with pytest.raises(readcopy.StoreNotCopied, match="No space left on device"):
        open_memory(filled, read_only=True)
    assert list(scratch.iterdir()) == []


def test_sqlite_files_sqlite_cannot_read_read_only_are_copied_as_they_are(
    filled: Settings, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hot journal or a dead writer's WAL: a read-only connection cannot recover it, so
    the files are copied as they are and the copy recovers."""
    real_connect = sqlite3.connect

    def connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        if str(database).endswith("?mode=ro"):
            raise sqlite3.OperationalError("unable to open database file")
        return real_connect(database, *args, **kwargs)

    _refuse_writes(monkeypatch, filled.chroma_dir)
    monkeypatch.setattr(sqlite3, "connect", connect)
    with open_memory(filled, read_only=True) as memory:
        assert memory.count() == sum(KINDS.values()) and memory.read_from_copy
    assert list(scratch.iterdir()) == []


def test_a_writable_store_is_read_in_place(filled: Settings, scratch: Path) -> None:
    with open_memory(filled, read_only=True) as memory:
        assert memory.count() == sum(KINDS.values())
        assert not memory.read_from_copy and "read_from_copy" not in memory.stats()
    assert list(scratch.iterdir()) == []


# -- for real -------------------------------------------------------------------------------


@pytest.fixture
def world_readable() -> Iterator[tuple[Path, Settings]]:
    """A data directory ``nobody`` can reach (pytest's own folders are root's alone), with
    a filled store; made writable again and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="foundups-training-ro-test-"))
    root.chmod(0o755)
    settings = load_settings({"data_dir": root / "data"}, env={})
    try:
        _fill(settings)
        yield root, settings
    finally:
        for f in [root, *root.rglob("*")]:
            if not f.is_symlink():
                f.chmod(0o755 if f.is_dir() else 0o644)
        shutil.rmtree(root, ignore_errors=True)


def _status_json(run: Callable[[list[str]], subprocess.CompletedProcess[str]], data: Path) -> Any:
    cmd = [sys.executable, "-m", "foundups_training", "--json", "--data-dir", str(data), "status"]
    done = run(cmd)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def _child_env(root: Path) -> dict[str, str]:
    """A child's environment: its own home, and ``<root>/scratch`` as its temporary folder
    (both writable by anyone), so the test sees what a copy leaves behind."""
    for name in ("home", "scratch"):
        (root / name).mkdir(exist_ok=True)
        (root / name).chmod(0o777)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOUNDUPS_TRAINING_")}
    env.update(HOME=str(root / "home"), TMPDIR=str(root / "scratch"))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _assert_counted(status: dict[str, Any]) -> None:
    assert "memory_error" not in status and "patterns_unknown" not in status, status
    assert status["patterns_total"] == sum(KINDS.values())
    assert status["by_kind"] == KINDS
    assert status["store_read_from_copy"] is True


@needs_root
@pytest.mark.skipif(not shutil.which("setpriv"), reason="drops to nobody with setpriv")
def test_status_as_another_user_on_a_read_only_tree(
    world_readable: tuple[Path, Settings],
) -> None:
    root, settings = world_readable
    env = _child_env(root)
    data = settings.data_dir
    for f in [data, *data.rglob("*")]:
        f.chmod(0o555 if f.is_dir() else 0o444)
    before = _hashes(data)

    def as_nobody(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        return subprocess.run(
            drop + cmd, capture_output=True, text=True, timeout=300, env=env, cwd=REPO,
        )  # fmt: skip

    _assert_counted(_status_json(as_nobody, data))
    assert _hashes(data) == before, "status changed the store"
    assert list((root / "scratch").iterdir()) == [], "the copy was left behind"


@needs_root
@pytest.mark.skipif(not shutil.which("unshare"), reason="mounts in a namespace with unshare")
def test_status_on_a_read_only_mount(world_readable: tuple[Path, Settings]) -> None:
    root, settings = world_readable
    env = _child_env(root)
    mount = root / "mount"
    mount.mkdir()
    data = settings.data_dir
    before = _hashes(data)

    def on_ro_mount(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        script = (
            'mount --bind "$1" "$2" && mount -o remount,ro,bind "$2" || exit 99\nshift 2\nexec "$@"'
        )
        return subprocess.run(
            ["unshare", "-m", "sh", "-c", script, "sh", str(data), str(mount), *cmd],
            capture_output=True, text=True, timeout=300, env=env, cwd=REPO,
        )  # fmt: skip

    probe = on_ro_mount(["true"])
    if probe.returncode != 0:
        pytest.skip(f"no read-only bind mount here: {probe.stderr.strip()[-300:]}")
    _assert_counted(_status_json(on_ro_mount, mount))
    assert _hashes(data) == before, "status changed the store"
    assert list((root / "scratch").iterdir()) == [], "the copy was left behind"
