"""The offline MiniLM embedding: pinned files, vectors, chromadb registration."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from foundups_training.memory import embedding as emb


@pytest.fixture(scope="module")
def encoder() -> emb.MiniLMEncoder:
    return emb.shared_encoder()


def test_files_are_found_and_hash_checked() -> None:
    assert emb.locate_model().name == "model.onnx"
    assert emb.locate_tokenizer().name == "tokenizer.json"


def test_a_file_with_the_wrong_hash_is_refused(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not a model")
    monkeypatch.setenv(emb.ENV_MODEL, str(fake))
    with pytest.raises(emb.EmbeddingModelError, match="sha256"):
        emb.locate_model()


def test_vectors_are_unit_length_and_in_input_order(encoder: emb.MiniLMEncoder) -> None:
    texts = [
        "a much longer sentence about a live stream that was detected on a channel",
        "short",
        "",
        "stream detected live on the channel",
    ]
    vectors = encoder.encode(texts)
    assert vectors.shape == (4, emb.DIMENSIONS) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Sorting and dynamic padding must not change any vector: batch == one by one.
    one_by_one = np.stack([encoder.encode([t])[0] for t in texts])
    assert np.allclose(vectors, one_by_one, atol=1e-4)
    assert float(vectors[0] @ vectors[3]) > float(vectors[0] @ vectors[1])
    assert encoder.encode([]).shape == (0, emb.DIMENSIONS)


def test_query_cache_returns_the_same_vector(encoder: emb.MiniLMEncoder) -> None:
    first = encoder.encode_query("which module handles stream detection")
    assert encoder.encode_query("which module handles stream detection") is first
    assert np.allclose(
        first, encoder.encode(["which module handles stream detection"])[0], atol=1e-5
    )


def test_long_input_is_truncated_not_rejected(encoder: emb.MiniLMEncoder) -> None:
    assert encoder.encode(["word " * 5000]).shape == (1, emb.DIMENSIONS)


def test_a_lone_surrogate_is_text_not_an_error(encoder: emb.MiniLMEncoder) -> None:
    """Half an emoji (a JSON "\\ud83d" escape decoded alone) in a question or a chat line."""
    half, whole = encoder.encode(["stream \ud83d down", "stream \ufffd down"])
    assert float(half @ whole) == pytest.approx(1.0, abs=1e-6)
    assert encoder.encode_query("why \udc00?").shape == (emb.DIMENSIONS,)


def test_registered_with_chromadb_and_config_has_no_paths() -> None:
    from chromadb.utils.embedding_functions import known_embedding_functions

    ef_class = known_embedding_functions[emb.MiniLMEmbeddingFunction.name()]
    assert ef_class is emb.MiniLMEmbeddingFunction
    config = emb.MiniLMEmbeddingFunction().get_config()
    assert not any("/" in str(v) or "\\" in str(v) for v in config.values())
    rebuilt = ef_class.build_from_config(config)
    vectors = rebuilt(["hello world"])
    assert len(vectors) == 1 and len(vectors[0]) == emb.DIMENSIONS
    with pytest.raises(ValueError):
        ef_class.build_from_config({**config, "model": "another-model"})


@pytest.mark.parametrize("stamp_text", ["[]", "null", '"x"', "3"])
def test_a_stamp_that_is_json_but_not_an_object_is_stale(
    stamp_text: str,
    tmp_path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """Such a stamp once raised AttributeError from every encoder until it was deleted: it
    must be made again like any other stale stamp (the rewrite is faked here: it fails, so
    the original graph is used)."""
    from foundups_training.memory import int8_graph

    monkeypatch.setenv(emb.ENV_CACHE, str(tmp_path))
    monkeypatch.setattr(emb, "_int8_failed", set())
    name = f"minilm-l6-v2-int8-{emb.MODEL_SHA256[:12]}-r{int8_graph.REWRITE_VERSION}"
    (tmp_path / f"{name}.onnx").write_bytes(b"cached graph")
    (tmp_path / f"{name}.json").write_text(stamp_text, encoding="utf-8")
    remade: list[list[str]] = []

    def rewrite(args: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        remade.append(args)
        return subprocess.CompletedProcess(args, 1, "", "rewrite skipped in this test\n")

    monkeypatch.setattr(emb.subprocess, "run", rewrite)
    assert emb.int8_model(emb.locate_model(), emb.locate_tokenizer()) is None
    assert len(remade) == 1  # treated as stale: a new rewrite was attempted


# Texts longer than the cut: prose, indented code, a run of spaces longer than the cut
# (whitespace makes no tokens), one endless word, and control characters between words.
_LONG_TEXTS = [
    "the stream went live on the channel, and the detector saw it. " * 2000,
    "def f(x):\n" + "        return x + 1  # step\n" * 3000,
    "start " + " " * 20_000 + "the end of a long silence " * 300,
    "a" * 50_000 + " and then words " * 300,
    "word\x1c" * 30_000,
]


class _SpyTokenizer:
    """Forwards to the real tokenizer and records the longest text it was handed."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.longest = 0

    def encode_batch(self, texts: list[str]) -> list[object]:
        self.longest = max(self.longest, *(len(t) for t in texts))
        return self.real.encode_batch(texts)  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize("text", _LONG_TEXTS, ids=["prose", "code", "spaces", "word", "ctrl"])
def test_a_long_text_is_cut_before_tokenising_with_the_same_vector(
    encoder: emb.MiniLMEncoder, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tokenising a 10 MB text took 20 s though the model reads 256 word pieces of it; the
    cut must not change a single token, so the vector is exactly the whole text's."""
    whole = encoder._tokenizer.encode(text)
    (cut,) = encoder._tokenize([text])
    assert cut.ids == whole.ids and cut.attention_mask == whole.attention_mask
    vector = encoder._encode_batch([text])[0]
    monkeypatch.setattr(encoder, "_tokenize", lambda ts: encoder._tokenizer.encode_batch(ts))
    assert np.array_equal(vector, encoder._encode_batch([text])[0])


def test_the_tokenizer_reads_a_bounded_head_of_a_huge_text(
    encoder: emb.MiniLMEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _SpyTokenizer(encoder._tokenizer)
    monkeypatch.setattr(encoder, "_tokenizer", spy)
    encoder.encode(["a pattern about a stream " * 400_000, "short"])  # 10 MB
    encoder.clear_cache()
    encoder.encode_query("why did the stream stop " * 400_000)
    assert 0 < spy.longest <= emb.MAX_TOKENS * emb.CUT_CHARS_PER_TOKEN
