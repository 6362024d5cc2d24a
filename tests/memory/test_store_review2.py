"""Second review of the pattern store and the embedding: real chromadb, real onnxruntime."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from foundups_training.digest import sha256_file
from foundups_training.memory import PatternMemory
from foundups_training.memory import embedding as emb
from foundups_training.records import Pattern


def _as_if_from_a_newer_onnx(graph: Path) -> None:
    """Rewrite the cached graph as a newer ``onnx`` package saves it (an IR version this
    onnxruntime does not read) and record it as intact, as the other environment that made
    it did: the user cache folder is shared by every environment of the user."""
    import onnx

    model = onnx.load(str(graph))
    model.ir_version = 99
    onnx.save(model, str(graph))
    stamp = graph.with_suffix(".json")
    record = json.loads(stamp.read_text(encoding="utf-8"))
    record["sha256"] = sha256_file(graph)
    stamp.write_text(json.dumps(record), encoding="utf-8")
    emb._verified.pop(graph.resolve(), None)


def test_a_cached_graph_this_onnxruntime_cannot_load_is_made_again(cache: Path) -> None:
    good = emb.MiniLMEncoder(query_cache=0)
    assert good.runtime == "int8"
    text = "HttpError 403 quotaExceeded while polling the live chat"
    want = good.encode([text])[0]
    (graph,) = cache.glob("*.onnx")
    _as_if_from_a_newer_onnx(graph)

    # Before: onnxruntime's InvalidGraph / "Unsupported model IR version" out of the
    # constructor, so every recall and upsert of the process failed.
    again = emb.MiniLMEncoder(query_cache=0)
    assert again.runtime == "int8"
    assert np.allclose(again.encode([text])[0], want, atol=1e-6)
    stamp = json.loads(graph.with_suffix(".json").read_text(encoding="utf-8"))
    assert stamp["sha256"] == sha256_file(graph)


def test_a_cached_graph_that_cannot_be_loaded_nor_made_falls_back_to_the_float_graph(
    cache: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert emb.int8_model(emb.locate_model(), emb.locate_tokenizer()) is not None
    (graph,) = cache.glob("*.onnx")
    _as_if_from_a_newer_onnx(graph)

    def no_rewrite(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(args, 1, "", "the rewrite failed here\n")

    monkeypatch.setattr(subprocess, "run", no_rewrite)
    with caplog.at_level(logging.WARNING, logger=emb.__name__):
        encoder = emb.MiniLMEncoder(query_cache=0)
    assert encoder.runtime == "float"
    assert encoder.encode(["stream detected"]).shape == (1, emb.DIMENSIONS)
    assert any(str(graph.parent) in r.getMessage() for r in caplog.records)


def _filled(memory: PatternMemory) -> None:
    memory.upsert(
        Pattern.make("error_fix", f"stream {i} went live on channel {i}", "d", seen=1 + i % 2)
        for i in range(40)
    )


@pytest.mark.parametrize(
    "where",
    [
        {"seen": {"$in": [1, 2.0]}},  # Chroma wants one type per list
        {"seen": {"$nin": [2, True]}},
        {"seen": {"$in": (1, 2)}},  # a tuple is no list to Chroma
        {"$and": [{"seen": 1}]},  # $and wants two clauses at least
    ],
)
def test_a_filter_chroma_refuses_is_refused_whatever_n(
    memory: PatternMemory, where: dict[str, Any]
) -> None:
    _filled(memory)
    # Before: answered from the unfiltered neighbours at n=1 and 5, a ValueError from
    # Chroma only once the recall had to ask it (n=100).
    for n in (1, 5, 100):
        with pytest.raises(ValueError):
            memory.recall("stream went live", n=n, where=where)


def test_a_kind_filter_chroma_refuses_is_refused_after_one_it_takes(
    memory: PatternMemory,
) -> None:
    _filled(memory)
    assert len(memory.recall("stream went live", n=3, where={"kind": {"$in": ["error_fix"]}})) == 3
    # Before: the same filter with a tuple found the list's remembered pool share, never
    # reached Chroma and was answered; a minute later (the share re-measured) it raised.
    with pytest.raises(ValueError):
        memory.recall("stream went live", n=3, where={"kind": {"$in": ("error_fix",)}})


@pytest.fixture(scope="module")
def encoder() -> emb.MiniLMEncoder:
    return emb.MiniLMEncoder(query_cache=0)


class _Spy:
    """Forwards to the real tokenizer and records the longest text it was handed."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.longest = 0

    def encode_batch(self, texts: list[str]) -> Any:
        self.longest = max(self.longest, *(len(t) for t in texts))
        return self.real.encode_batch(texts)

    def encode(self, text: str) -> Any:
        return self.real.encode(text)


_MINIFIED = json.dumps(
    {f"key{i}": [i, "value", {"n": i * 3}] for i in range(8_000)}, separators=(",", ":")
)
# Texts without whitespace, as logs carry them: a JSON payload, a list of URLs, a path, and
# Greek capitals between punctuation (where a final sigma's lower case could depend on what
# follows a case-ignorable "." or ":").
_UNSPACED = [
    _MINIFIED,
    "https://example.com/a/b?x=1&y=2;" * 6_000,
    "/srv/host/modules/communication/livechat/src/" * 4_000,
    "ΑΣ.ΒΣ:ΓΣ'ΔΣ^ΕΣ`ΖΣ,ΗΣ" * 10_000,
]


@pytest.mark.parametrize("text", _UNSPACED, ids=["json", "urls", "path", "sigma"])
def test_a_long_text_without_spaces_is_cut_with_the_same_tokens(
    encoder: emb.MiniLMEncoder, text: str
) -> None:
    whole = encoder._tokenizer.encode(text)
    (cut,) = encoder._tokenize([text])
    assert cut.ids == whole.ids and cut.attention_mask == whole.attention_mask


@pytest.mark.parametrize("text", _UNSPACED[:3], ids=["json", "urls", "path"])
def test_a_long_text_without_spaces_costs_a_bounded_head(
    encoder: emb.MiniLMEncoder, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: only whitespace could end a cut, so a log line of minified JSON was tokenised
    # whole (measured: a 6 MB one took 47 s, under the store's write lock).
    spy = _Spy(encoder._tokenizer)
    monkeypatch.setattr(encoder, "_tokenizer", spy)
    encoder.encode([text, "short"])
    assert 0 < spy.longest <= emb.MAX_TOKENS * emb.CUT_CHARS_PER_TOKEN
