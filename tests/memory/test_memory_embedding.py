"""The offline MiniLM embedding: pinned files, vectors, chromadb registration."""

from __future__ import annotations

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
