"""``FOUNDUPS_TRAINING_THREADS`` limits the embedding encoder as well as llama.cpp.

Read from the options the encoder hands onnxruntime (a recording stand-in for
``InferenceSession``), never from timings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import onnxruntime as ort
import pytest

from foundups_training.config import load_settings
from foundups_training.memory import embedding as emb
from foundups_training.memory import open_memory


class _Session:
    """Records the options it was built with; runs nothing."""

    built: ClassVar[list[Any]] = []

    def __init__(self, path: str, sess_options: Any = None, providers: Any = None) -> None:
        del path, providers
        _Session.built.append(sess_options)

    def get_inputs(self) -> list[Any]:
        return []


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Any]:
    """No encoder loaded yet in this process; each new session's options land in the list."""
    _Session.built = []
    monkeypatch.setattr(ort, "InferenceSession", _Session)
    monkeypatch.setattr(emb, "_shared", None)
    # the int8 graph is read by nobody here: no need to build it
    monkeypatch.setattr(emb, "int8_model", lambda model, tokenizer: tmp_path / "int8.onnx")
    return _Session.built


def _encoder(tmp_path: Path, threads: str | None) -> emb.MiniLMEncoder:
    env = {"FOUNDUPS_TRAINING_THREADS": threads} if threads is not None else {}
    settings = load_settings({"data_dir": tmp_path / "data"}, env=env)
    with open_memory(settings, read_only=True) as memory:
        return memory.encoder


def test_the_float_graph_runs_on_the_threads_set(
    sessions: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a 2-core host running DAEs, ``FOUNDUPS_TRAINING_THREADS=1`` held llama.cpp to one
    thread while the encoder's session took every core."""
    monkeypatch.setenv(emb.ENV_RUNTIME, "float")
    _encoder(tmp_path, "1")
    assert len(sessions) == 1 and sessions[0].intra_op_num_threads == 1


def test_the_int8_graph_encodes_on_that_many_threads(
    sessions: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The int8 graph runs one onnxruntime thread per call and spreads texts over worker
    threads: the setting is their number."""
    monkeypatch.setenv(emb.ENV_RUNTIME, "int8")
    monkeypatch.setattr(emb.os, "cpu_count", lambda: 8)
    encoder = _encoder(tmp_path, "2")
    assert encoder.runtime == "int8" and encoder._workers == 2
    assert sessions[0].intra_op_num_threads == 1


def test_unset_keeps_what_the_cores_decide(
    sessions: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emb.os, "cpu_count", lambda: 8)
    monkeypatch.setenv(emb.ENV_RUNTIME, "float")
    _encoder(tmp_path, None)
    assert sessions[0].intra_op_num_threads == 0  # onnxruntime's default: every core
    monkeypatch.setattr(emb, "_shared", None)
    monkeypatch.setenv(emb.ENV_RUNTIME, "int8")
    assert _encoder(tmp_path, None)._workers == 4  # one per core, at most 4


def test_the_shared_encoder_follows_the_setting(
    sessions: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One encoder per process: one loaded without a setting (chromadb's embedding function
    loads it too) is replaced when a thread count is asked for, and kept when none is."""
    monkeypatch.setenv(emb.ENV_RUNTIME, "float")
    emb.shared_encoder()
    limited = _encoder(tmp_path, "2")
    assert [s.intra_op_num_threads for s in sessions] == [0, 2]
    assert emb.shared_encoder() is limited and _encoder(tmp_path, "2") is limited
    assert len(sessions) == 2
