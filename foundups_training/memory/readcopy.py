"""Reading an embedded store this process cannot write, from a private copy.

chromadb writes whenever it opens a store (see :class:`StoreCopy`), so ``status``, ``eval``
and ``report`` on another account's data folder, a backup or a read-only mount would fail
to open it. :func:`~foundups_training.memory.store.open_memory` then opens a temporary copy
instead; the store itself is only ever read.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
import time
import weakref
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: The store's SQLite file inside ``chroma_dir`` (chromadb's name for it).
SQLITE_FILE = "chroma.sqlite3"
#: The largest embedded store a reader copies when it cannot write the store (see
#: :class:`StoreCopy`): about 580,000 patterns at the 368 MB measured for 100,000
#: (docs/memory.md). A bigger one is reported as unreadable rather than copied.
COPY_LIMIT = 2 << 30
#: Free space left in the temporary folder after a copy.
COPY_HEADROOM = 64 << 20


class StoreNotCopied(RuntimeError):
    """A store this process cannot write could not be copied to be read either."""


def _tree_size(path: Path) -> int:
    return sum(
        (Path(root) / name).stat().st_size for root, _, files in os.walk(path) for name in files
    )


def _stamps(paths: Iterable[Path]) -> list[tuple[int, int] | None]:
    stamps: list[tuple[int, int] | None] = []
    for p in paths:
        try:
            st = p.stat()
        except FileNotFoundError:
            stamps.append(None)
        else:
            stamps.append((st.st_size, st.st_mtime_ns))
    return stamps


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy the store's SQLite file without writing to it or beside it.

    SQLite's backup API on a ``mode=ro`` connection: a consistent snapshot even while the
    store's owner writes it. When SQLite cannot read it that way (a hot journal or a WAL
    left by a process that died, which a read-only connection may not recover) the files
    are copied as they are, their journal with them, and the copy recovers when chromadb
    opens it; copied again if they change meanwhile.
    """
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        with closing(src), closing(sqlite3.connect(target)) as dst:
            src.backup(dst)
        return
    except sqlite3.Error as exc:
        log.info("copying %s file by file: SQLite could not read it read-only: %s", source, exc)
    files = [source, *(source.with_name(source.name + s) for s in ("-journal", "-wal"))]
    for _ in range(3):
        before = _stamps(files)
        for f, stamp in zip(files, before, strict=True):
            copy = target.with_name(f.name)
            if stamp is not None:
                shutil.copyfile(f, copy)
            else:  # a journal left from an earlier try would be rolled back into the copy
                copy.unlink(missing_ok=True)
        if _stamps(files) == before:
            return
    raise StoreNotCopied(f"{source} kept changing while it was copied (another process writes it)")


class StoreCopy:
    """A private, writable copy of an embedded store this process may only read.

    chromadb writes whenever it opens a store: every ``PersistentClient`` inserts a row into
    the SQLite file's ``acquire_write`` table, and the first read of a collection purges its
    applied log. In a folder this process cannot write (another account's, a backup, a
    read-only mount) opening fails with "(code: 8) attempt to write a readonly database",
    and chromadb has no read-only mode. A reader copies the store to a temporary folder and
    opens the copy instead, so the store itself is only ever read: the SQLite file through
    :func:`copy_sqlite` first, then the segment folders (the vector index) file by file.
    Bounded by :data:`COPY_LIMIT` and the temporary folder's free space; removed on
    :meth:`remove` (the memory's close), else when the process exits.
    """

    def __init__(self, source: Path, limit: int | None = None) -> None:
        self.source = source
        self.limit = COPY_LIMIT if limit is None else limit
        self.path: Path | None = None
        self._remover: weakref.finalize[Any, StoreCopy] | None = None

    def make(self) -> Path:
        """The copy's folder, copied on the first call; :class:`StoreNotCopied` when the store
        is too big to copy or the copy fails (nothing is left behind)."""
        if self.path is not None:
            return self.path
        start = time.perf_counter()
        size = _tree_size(self.source)
        if size > self.limit:
            raise StoreNotCopied(
                f"the store {self.source} cannot be written by this process and is too big to "
                f"read from a copy ({size / 2**20:,.0f} MiB, more than {self.limit / 2**20:,.0f}"
                " MiB): read it as its owner, or copy the data directory somewhere writable"
            )
        scratch = Path(tempfile.gettempdir())
        free = shutil.disk_usage(scratch).free
        if free < size + COPY_HEADROOM:
            raise StoreNotCopied(
                f"the store {self.source} cannot be written by this process and {scratch} has "
                f"too little free space to read it from a copy ({free / 2**20:,.0f} MiB free, "
                f"{size / 2**20:,.0f} MiB needed): set TMPDIR to a roomier folder"
            )
        folder = Path(tempfile.mkdtemp(prefix="foundups-training-store-"))
        self._remover = weakref.finalize(self, shutil.rmtree, folder, True)
        try:
            copy_sqlite(self.source / SQLITE_FILE, folder / SQLITE_FILE)
            for root, _, files in os.walk(self.source):
                here = Path(root)
                rel = here.relative_to(self.source)
                (folder / rel).mkdir(exist_ok=True)  # writable, whatever the source's mode
                for name in files:
                    if rel.parts or not name.startswith(SQLITE_FILE):
                        shutil.copyfile(here / name, folder / rel / name)
        except Exception as exc:
            self.remove()
            if isinstance(exc, StoreNotCopied):
                raise
            raise StoreNotCopied(
                f"the store {self.source} cannot be written by this process and copying it to "
                f"read it failed: {type(exc).__name__}: {exc}"
            ) from exc
        self.path = folder
        log.info(
            "the store %s cannot be written by this process: reading a copy (%.1f MiB in "
            "%.2f s) in %s",
            self.source, size / 2**20, time.perf_counter() - start, folder,
        )  # fmt: skip
        return folder

    def remove(self) -> None:
        """Delete the copy (if any)."""
        remover, self._remover = self._remover, None
        self.path = None
        if remover is not None:
            remover()


def writable_store(path: Path) -> bool:
    """Whether this process may write the embedded store at ``path``: not on a read-only
    file system, and its folder, its files and its segment folders' files writable by this
    process's effective user (root passes unless the file system is read-only)."""
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return False
    except (AttributeError, OSError):  # Windows has no statvfs
        pass
    try:
        entries = [path, *path.iterdir()]
        for entry in entries[1:]:
            if entry.is_dir():
                entries.extend(entry.iterdir())
    except OSError:
        return False
    effective = os.access in os.supports_effective_ids
    return all(os.access(e, os.W_OK, effective_ids=effective) for e in entries)


def refused_write(exc: BaseException) -> bool:
    """Whether opening a store failed because it could not be written."""
    text = str(exc).lower()
    return isinstance(exc, PermissionError) or any(
        words in text
        for words in (
            "readonly database",
            "read-only file system",
            "permission denied",
            "unable to open database file",
        )
    )
