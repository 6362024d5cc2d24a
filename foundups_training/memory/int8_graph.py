"""Keep all-MiniLM-L6-v2's int8 weights int8 when onnxruntime runs it.

The pinned ``model.onnx`` stores each weight as int8 plus a float scale and dequantises it
in the graph (``Mul(Cast(W_int8), scale)``). onnxruntime's constant folding turns every such
pair into a float32 initializer when the session is built: 22 MB of int8 weights become
~90 MB of floats in every process that embeds text. Without folding the dequantisation runs
on every call instead (~130 ms per question).

This module rewrites the graph once into an equivalent one that never dequantises a whole
weight:

* ``MatMul(x, Mul(Cast(W), s))`` with a per-column scale becomes onnxruntime's
  ``com.microsoft.DynamicQuantizeMatMul(x, W, s, 0)``: the activation is quantised per call
  and the product runs in integer arithmetic (faster than the float product, too). Not the
  down-projections (weights wider in than out: the feed-forward's second product), which
  read the GELU output: its outliers make one quantisation scale per call too coarse
  (measured on 232 log lines and questions: mean cosine to the float graph 0.9915 with
  them quantised, 0.9976 without, for 10 MB more);
* the weight is given to that operator as uint8 with zero point 128 (``W + 128``: the same
  numbers), not as int8. onnxruntime's int8 kernels for x86 CPUs without VNNI (AVX2,
  AVX-512 without VNNI) multiply uint8 activations by int8 weights in pairs summed in 16
  bits, which saturate; uint8 by uint8 is widened first and never does. So the vectors are
  the same on every CPU, not a little worse on some (measured on an AVX-512 CPU without
  VNNI, 300 sample log lines: mean / min cosine to the float graph 0.9942 / 0.9885 with
  int8 weights, 0.9967 / 0.9931 with uint8; questions 7% slower);
* ``Gather(Mul(Cast(E), s), ids)`` (the embedding tables) becomes
  ``Mul(Cast(Gather(E, ids)), Gather(s, ids))``: only the looked-up rows are dequantised.

It runs in a child process (``python -m foundups_training.memory.int8_graph SRC DST``) so
the ``onnx`` package and the parsed model never stay in a host DAE's memory. Before it
writes ``DST`` it embeds fixed sentences with both graphs and refuses the result unless
every pair of vectors has a cosine of at least :data:`MIN_COSINE`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

#: Bump when the rewrite changes: the cached file's name carries it.
REWRITE_VERSION = 3
#: Agreement required between the rewritten and the original graph, sentence by sentence.
#: A correct rewrite scores above 0.99 (the activations are quantised per call; mean 0.997
#: on 300 log lines); a wrong one scores far lower.
MIN_COSINE = 0.97

_CHECK_SENTENCES = (
    "which module handles stream detection",
    "[QWEN-SCORE] channel UC-abc scored 7.25 for stream check round 3",
    "HttpError 403 quotaExceeded while polling the live chat of the stream",
    "test file found outside modules/communication/livechat/tests/ (WSP 49)",
    "timeout the author for 300 seconds after repeated spam in chat",
    "why did the idle automation skip pattern training",
)


def _dequantised(
    name: str, producers: dict[str, Any], inits: dict[str, Any]
) -> tuple[str, str] | None:
    """``(int8 weight, scale)`` initializers if ``name`` is ``Mul(Cast(int8), scale)``."""
    import onnx

    mul = producers.get(name)
    if mul is None or mul.op_type != "Mul" or len(mul.input) != 2:
        return None
    cast = producers.get(mul.input[0])
    scale = mul.input[1]
    if cast is None or cast.op_type != "Cast" or scale not in inits:
        return None
    weight = cast.input[0]
    if weight not in inits or inits[weight].data_type != onnx.TensorProto.INT8:
        return None
    if inits[scale].data_type != onnx.TensorProto.FLOAT:
        return None
    return weight, scale


def rewrite(model: Any) -> int:
    """Rewrite ``model`` (an ``onnx.ModelProto``) in place; returns the nodes replaced."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    nodes: list[Any] = []
    added: list[Any] = []
    replaced = 0
    for node in graph.node:
        if node.op_type == "MatMul":
            found = _dequantised(node.input[1], producers, inits)
            if found is not None:
                weight, scale = found
                rows, cols = [*inits[weight].dims, 0, 0][:2]
                scales = numpy_helper.to_array(inits[scale])
                dims_ok = len(inits[weight].dims) == 2 and rows <= cols
                if dims_ok and scales.size in (1, cols):
                    flat = f"{scale}__per_column"
                    zero = f"{weight}__zero_point"
                    shape = (cols,) if scales.size == cols else ()
                    added.append(
                        numpy_helper.from_array(scales.reshape(shape).astype(np.float32), flat)
                    )
                    # uint8 with zero point 128: the same numbers (see the module docstring)
                    unsigned = f"{weight}__u8"
                    signed = numpy_helper.to_array(inits[weight]).astype(np.int16)
                    added.append(numpy_helper.from_array((signed + 128).astype(np.uint8), unsigned))
                    added.append(numpy_helper.from_array(np.full(shape, 128, np.uint8), zero))
                    nodes.append(
                        helper.make_node(
                            "DynamicQuantizeMatMul",
                            [node.input[0], unsigned, flat, zero],
                            list(node.output),
                            name=f"{node.name or node.output[0]}__int8",
                            domain="com.microsoft",
                        )
                    )
                    replaced += 1
                    continue
        if node.op_type == "Gather":
            axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
            found = _dequantised(node.input[0], producers, inits)
            if found is not None and axis == 0:
                weight, scale = found
                rows = inits[weight].dims[0]
                if list(inits[scale].dims) in ([rows, 1], [rows]):
                    out = node.output[0]
                    nodes += [
                        helper.make_node("Gather", [weight, node.input[1]], [f"{out}__q"], axis=0),
                        helper.make_node("Gather", [scale, node.input[1]], [f"{out}__s"], axis=0),
                        helper.make_node(
                            "Cast", [f"{out}__q"], [f"{out}__f"], to=onnx.TensorProto.FLOAT
                        ),
                        helper.make_node("Mul", [f"{out}__f", f"{out}__s"], [out]),
                    ]
                    replaced += 1
                    continue
        nodes.append(node)

    # Drop what only fed the replaced nodes: the whole-weight Cast/Mul pairs, their inputs.
    outputs = {o.name for o in graph.output}
    while True:
        used = outputs | {name for node in nodes for name in node.input}
        kept = [n for n in nodes if any(out in used for out in n.output)]
        if len(kept) == len(nodes):
            break
        nodes = kept
    used = outputs | {name for node in nodes for name in node.input}
    initializers = [i for i in (*graph.initializer, *added) if i.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    if not any(op.domain == "com.microsoft" for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return replaced


def _embed(model_path: str, tokenizer_path: str, texts: tuple[str, ...]) -> Any:
    """Mean-pooled, normalised vectors of ``texts`` from the graph at ``model_path``."""
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(tokenizer_path)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    with_types = "token_type_ids" in {i.name for i in session.get_inputs()}
    vectors = []
    for encoding in tokenizer.encode_batch(list(texts)):  # one text per run, as the encoder
        ids = np.array([encoding.ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if with_types:
            feeds["token_type_ids"] = np.zeros_like(ids)
        pooled = session.run(None, feeds)[0][0].mean(axis=0)
        vectors.append(pooled / np.linalg.norm(pooled))
    return np.stack(vectors)


def convert(source: Path, target: Path, tokenizer: Path) -> float:
    """Rewrite ``source`` into ``target`` after checking it; returns the worst cosine."""
    import numpy as np
    import onnx

    model = onnx.load(str(source))
    replaced = rewrite(model)
    if replaced == 0:
        raise ValueError(f"{source}: no int8 weight found to keep int8")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        onnx.save(model, str(tmp))
        del model
        before = _embed(str(source), str(tokenizer), _CHECK_SENTENCES)
        after = _embed(str(tmp), str(tokenizer), _CHECK_SENTENCES)
        worst = float(np.min(np.sum(before * after, axis=1)))
        if not worst >= MIN_COSINE:
            raise ValueError(
                f"the rewritten graph disagrees with the original (cosine {worst:.4f} < "
                f"{MIN_COSINE}); keeping the original"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return worst


def main(argv: list[str] | None = None) -> int:
    """``python -m foundups_training.memory.int8_graph SOURCE TARGET TOKENIZER``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("tokenizer", type=Path)
    args = parser.parse_args(argv)
    try:
        worst = convert(args.source, args.target, args.tokenizer)
    except Exception as exc:  # noqa: BLE001 - the parent reads stderr and falls back
        print(f"int8 rewrite failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"{worst:.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
