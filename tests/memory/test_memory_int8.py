"""The int8-preserving embedding graph: made once, checked, reused, and a safe fallback."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

import numpy as np
import pytest

from foundups_training.digest import sha256_file
from foundups_training.memory import embedding as emb
from foundups_training.memory import int8_graph

SAMPLE = Path(__file__).resolve().parents[2] / "foundups_training" / "samples" / "012_sample.txt"


def _made(cache: Path) -> tuple[Path, dict[str, object]]:
    (model,) = cache.glob("*.onnx")
    return model, json.loads(model.with_suffix(".json").read_text(encoding="utf-8"))


def test_the_rewrite_keeps_the_weights_int8(cache: Path) -> None:
    import onnx
    from onnx import numpy_helper

    path = emb.int8_model(emb.locate_model(), emb.locate_tokenizer())
    assert path is not None and path.parent == cache
    model = onnx.load(str(path))
    float_bytes = sum(
        numpy_helper.to_array(i).nbytes
        for i in model.graph.initializer
        if i.data_type == onnx.TensorProto.FLOAT
    )
    int8_bytes = sum(
        numpy_helper.to_array(i).nbytes
        for i in model.graph.initializer
        if i.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)
    )
    # The weights stay int8 in the file (22.5 MB); only scales, biases and layer norms are
    # float. At run time the down-projections are folded to float (14 MB): see int8_graph.
    assert int8_bytes > 20_000_000
    assert float_bytes < 2_000_000
    ops = [n.op_type for n in model.graph.node]
    # 6 layers x (query, key, value, attention output, feed-forward up) stay int8 products.
    assert ops.count("DynamicQuantizeMatMul") == 30
    dims = {i.name: list(i.dims) for i in model.graph.initializer}
    whole = [n.input[0] for n in model.graph.node if n.op_type == "Cast" and n.input[0] in dims]
    assert len(whole) == 6 and all(dims[w][0] > dims[w][1] for w in whole), whole
    # Each product's weight is the source's int8 weight as uint8 with zero point 128: the
    # same numbers, which no CPU's integer kernel saturates (see int8_graph).
    source = {i.name: i for i in onnx.load(str(emb.locate_model())).graph.initializer}
    inits = {i.name: i for i in model.graph.initializer}
    for node in (n for n in model.graph.node if n.op_type == "DynamicQuantizeMatMul"):
        weight, zero = inits[node.input[1]], numpy_helper.to_array(inits[node.input[3]])
        assert weight.data_type == onnx.TensorProto.UINT8 and set(zero.ravel()) == {128}
        original = numpy_helper.to_array(source[node.input[1].removesuffix("__u8")])
        assert np.array_equal(numpy_helper.to_array(weight).astype(np.int16) - 128, original)
    _, stamp = _made(cache)
    assert stamp["source_sha256"] == emb.MODEL_SHA256
    assert float(stamp["min_cosine"]) >= int8_graph.MIN_COSINE  # type: ignore[arg-type]


def test_made_once_then_reused_and_remade_when_changed(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = emb.int8_model(emb.locate_model(), emb.locate_tokenizer())
    assert first is not None

    def no_child(*args: object, **kwargs: object) -> None:
        raise AssertionError("the rewrite ran again although its file was intact")

    monkeypatch.setattr(subprocess, "run", no_child)
    assert emb.int8_model(emb.locate_model(), emb.locate_tokenizer()) == first
    monkeypatch.undo()
    monkeypatch.setenv(emb.ENV_CACHE, str(cache))

    # A cache file that no longer matches its recorded sha256 is made again.
    data = bytearray(first.read_bytes())
    data[-100] ^= 0xFF
    first.write_bytes(bytes(data))
    emb._verified.pop(first.resolve(), None)
    again = emb.int8_model(emb.locate_model(), emb.locate_tokenizer())
    assert again == first
    _, stamp = _made(cache)
    assert sha256_file(again) == stamp["sha256"]


def test_int8_vectors_agree_with_the_float_graph(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        line.strip()
        for line in SAMPLE.read_text(encoding="utf-8", errors="replace").splitlines()[:400:5]
        if line.strip()
    ]
    fast = emb.MiniLMEncoder(query_cache=0)
    assert fast.runtime == "int8" and fast.batch_size == 1
    monkeypatch.setenv(emb.ENV_RUNTIME, "float")
    exact = emb.MiniLMEncoder(query_cache=0)
    assert exact.runtime == "float"
    a, b = fast.encode(lines), exact.encode(lines)
    cosines = np.sum(a * b, axis=1)
    assert float(cosines.mean()) > 0.995 and float(cosines.min()) > 0.98
    # What retrieval needs: each line's nearest neighbour among the float vectors is itself.
    assert float(np.mean(np.argmax(a @ b.T, axis=1) == np.arange(len(lines)))) > 0.95
    # A text's vector does not depend on the other texts of the call.
    assert np.allclose(fast.encode(lines[:7])[3], fast.encode([lines[3]])[0], atol=1e-6)


def test_a_failed_rewrite_falls_back_to_the_float_graph_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv(emb.ENV_CACHE, str(blocker))
    monkeypatch.delenv(emb.ENV_RUNTIME, raising=False)
    emb._int8_failed.clear()
    with caplog.at_level(logging.WARNING, logger=emb.__name__):
        encoder = emb.MiniLMEncoder(query_cache=0)
        emb.MiniLMEncoder(query_cache=0)
    assert encoder.runtime == "float"
    warnings = [r for r in caplog.records if "int8 graph" in r.getMessage()]
    assert len(warnings) == 1 and str(blocker) in warnings[0].getMessage()
    assert encoder.encode(["stream detected"]).shape == (1, emb.DIMENSIONS)


def test_a_graph_without_int8_weights_is_refused(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "plain", [x], [y])
    source = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph), str(source))
    target = tmp_path / "out.onnx"
    code = int8_graph.main([str(source), str(target), str(emb.locate_tokenizer())])
    assert code == 1 and not target.exists()
    assert list(tmp_path.iterdir()) == [source]  # no temporary file left behind
