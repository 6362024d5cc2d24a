"""The shipped Gemma with its layers' weights widened to F16, once, for faster prompts.

Gemma answers by evaluating a prompt of ~65 new tokens and reading one position's logits
(:meth:`~foundups_training.models.llama.LlamaModel.choose`): the cost is prompt evaluation,
a matrix-matrix product that is compute-bound. The shipped file keeps its layers in
``Q4_K``/``Q6_K``; on x86 CPUs without VNNI (the project's 2-core machine: AVX-512, no
VNNI) llama.cpp multiplies those by quantising every activation to 8 bits and working in
integers, which is slower than its F16 matrix kernels. Widening those weights to F16 is
lossless (each 4- or 6-bit value is a small multiple of a 16-bit scale; F16 holds it to
within 2⁻¹¹ of itself); the token embedding, which is also the output layer and two
thirds of the model, stays ``Q8_0`` as shipped (re-quantising ``Q8_0`` to ``Q8_0`` gives
back the same bytes' values). Measured on the 2-core machine (twenty-third session, 60
sample development questions, Gemma tier, the same answers): p50 284-328 ms as shipped,
200-222 ms widened. The file is 385 MB instead of 253 MB, and so is the memory it takes.

The widened file is derived from the pinned file only (its sha256 is checked when it is
found, and the bytes read here are the bytes checked, :func:`checked_open`), written to a
temporary file and renamed into place in the models cache folder, with a stamp recording
the source's sha256 and the derived file's own (as the joined Qwen's stamp does, see
:mod:`~foundups_training.models.locator`). A later process uses it while its stamp
describes it and names the pinned source; else it is derived again. Anything that goes
wrong (no space, a llama.cpp without the quantiser, a read-only cache) leaves the shipped
file in use, with one warning saying why: the model answers either way, only slower.

``gemma_weights = "shipped"`` (``FOUNDUPS_TRAINING_GEMMA_WEIGHTS``) turns this off, for a
CPU where the quantised kernels are the fast ones (ARM, x86 with VNNI: measure with
``benchmarks/bench_widen.py``). A Gemma of the operator's own (a configured path, the
host's variables) is used as it is: its layout is not known.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

from foundups_training.digest import sha256_file
from foundups_training.models.locator import (
    GEMMA_SHA256,
    GEMMA_SIZE,
    _identity,
    _join_tmp,
    _remember,
    _remove_stale_joins,
    checked_open,
    pinned_as,
    stamp_describes,
    stamp_fields,
)

log = logging.getLogger(__name__)

_STAMP_VERSION = 1
_lock = threading.Lock()
#: source path -> why widening it failed in this process (warned once, not tried again).
_failed: dict[str, str] = {}


def widened_name(source: Path) -> str:
    return f"{source.stem}.f16.gguf"


def _stamp(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _stamp_sha(target: Path) -> str | None:
    """The derived file's sha256 its stamp records, when the stamp still describes the file
    as it is and names the pinned source; else None."""
    try:
        data = json.loads(_stamp(target).read_text())
        st = target.stat()
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    ok = (
        data.get("version") == _STAMP_VERSION
        and data.get("source_sha256") == GEMMA_SHA256
        and isinstance(data.get("sha256"), str)
        and stamp_describes(data, st)
    )
    return str(data["sha256"]) if ok else None


def _derive(source: Path, target: Path, n_threads: int) -> None:
    """Write the widened copy of ``source`` (the bytes checked against its pin) to
    ``target`` through a temporary file, and stamp it."""
    import llama_cpp

    tmp = _join_tmp(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_joins(target)  # a derivation a killed process left half-written
    try:
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_F16
        params.token_embedding_type = llama_cpp.GGML_TYPE_Q8_0  # as shipped
        params.output_tensor_type = llama_cpp.GGML_TYPE_Q8_0
        params.allow_requantize = True
        params.nthread = n_threads
        try:  # the quantiser reports every tensor on stderr unless told to be quiet
            from llama_cpp._logger import set_verbose

            set_verbose(False)
        except ImportError:
            pass
        with checked_open(source) as name:
            rc = llama_cpp.llama_model_quantize(
                name.encode("utf-8"), str(tmp).encode("utf-8"), params
            )
        if rc != 0 or not tmp.is_file():
            raise OSError(f"llama.cpp's quantiser failed (status {rc})")
        sha256 = sha256_file(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    st = target.stat()
    _remember(target, _identity(st), sha256, st.st_size)
    stamp = {
        "version": _STAMP_VERSION,
        "source_sha256": GEMMA_SHA256,
        "sha256": sha256,
        **stamp_fields(st),
    }
    try:
        _stamp(target).write_text(json.dumps(stamp))
    except OSError as exc:  # the next process derives it again, that is all
        log.warning("cannot write %s (%s)", _stamp(target), exc.strerror or exc)


def widened(source: Path, cache_dir: Path, *, n_threads: int = 0) -> Path:
    """The path to load for the Gemma found at ``source``: its widened copy in ``cache_dir``
    when ``source`` is the pinned shipped Gemma (derived on first use), else ``source``.
    Never raises: a failure leaves ``source`` in use, with one warning saying why."""
    if pinned_as(source) != (GEMMA_SHA256, GEMMA_SIZE):
        return source  # the operator's own file, or one this process did not check
    target = cache_dir / widened_name(source)
    with _lock:
        if str(source) in _failed:
            return source
        sha256 = _stamp_sha(target)
        if sha256 is not None:
            st = target.stat()
            _remember(target, _identity(st), sha256, st.st_size)
            return target
        start = time.perf_counter()
        try:
            _derive(source, target, n_threads or min(4, os.cpu_count() or 2))
        except Exception as exc:  # noqa: BLE001 - the shipped file still answers
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            where = f"{exc.filename}: " if isinstance(exc, OSError) and exc.filename else ""
            _failed[str(source)] = f"{where}{reason}"
            log.warning(
                "cannot widen %s to F16 in %s (%s%s): Gemma runs as shipped, slower "
                '(set gemma_weights = "shipped" to stop trying)',
                source.name,
                cache_dir,
                where,
                reason,
            )
            return source
        log.info("widened %s to F16 in %.1fs: %s", source.name, time.perf_counter() - start, target)
        return target
