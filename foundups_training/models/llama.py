"""In-process llama.cpp backend (llama-cpp-python), loaded lazily and once per process
while it has holders (:func:`shared_model`: the last holder's close frees it).

Why not ``create_completion(logprobs=...)``: that needs ``logits_all=True``, which allocates
n_ctx × vocabulary floats (2 GiB for Gemma's 262k vocabulary). Instead the prompt is
evaluated once and the last position's logits are read with
``llama_cpp.llama_get_logits_ith(ctx, -1)``; a softmax restricted to the label tokens gives
the confidence. The tokens already in the KV cache are compared with the new prompt and only
the differing tail is evaluated, so a prompt prefix that does not change between calls
(instructions, fixed examples) is paid for once.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from foundups_training.models.base import Choice, Completion, ModelError, Prompt, retry_wait

log = logging.getLogger(__name__)

_registry_lock = threading.Lock()
_params_lock = threading.Lock()

#: "auto" (default), "1" or "0": whether llama.cpp may use its extra weight buffer types.
EXTRA_BUFTS_ENV = "FOUNDUPS_TRAINING_LLAMA_EXTRA_BUFTS"


def extra_bufts_allowed() -> bool:
    """Whether llama.cpp may use extra buffer types (CPU weight repacking, AMX).

    A llama.cpp built with AMX (``-march=native`` on a Sapphire Rapids host) dies with a
    general protection fault in a VM that does not grant AMX tile state: seen on this
    project's CI machine. "auto" turns extra buffer types off for such builds (the cost:
    no weight repacking); set the variable to 1 or 0 to decide yourself.
    """
    choice = os.environ.get(EXTRA_BUFTS_ENV, "auto").strip().lower()
    if choice in ("1", "true", "yes", "on"):
        return True
    if choice in ("0", "false", "no", "off"):
        return False
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    return "AMX_INT8 = 1" not in info


@contextmanager
def model_params(extra_bufts: bool) -> Iterator[None]:
    """Load models with ``use_extra_bufts`` set as asked.

    ``Llama()`` takes no argument for it, so its default-params factory is swapped for the
    duration of the load (under a lock, restored afterwards).
    """
    if extra_bufts:
        yield
        return
    import llama_cpp.llama_cpp as capi

    original = capi.llama_model_default_params

    def without_extra_bufts() -> object:
        params = original()
        params.use_extra_bufts = False
        return params

    with _params_lock:
        capi.llama_model_default_params = without_extra_bufts
        try:
            yield
        finally:
            capi.llama_model_default_params = original


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class _NotGguf(ModelError):
    """The file is not a GGUF (:func:`_check_gguf_head`): that lasts until the file changes."""


def _check_gguf_head(name: str) -> None:
    """Refuse a file that is not a GGUF before llama.cpp reads it, saying what it is: llama.cpp
    only says "Failed to load model from file" (and names ``/proc/self/fd/N``)."""
    with open(name, "rb") as fh:
        head = fh.read(8)
    if not head:
        raise _NotGguf("the file is empty (0 bytes): a copy or download cut short?")
    if not head.startswith(b"GGUF"):
        raise _NotGguf(
            f"not a GGUF model file (it starts with {head!r}; a GGUF file starts with b'GGUF'): "
            "point the setting at the .gguf file itself"
        )


class LlamaModel:
    """One GGUF loaded in this process; every call is serialised by a lock.

    The model is loaded on the first call, not at construction, so building a router (and
    ``--help``) stays free.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        name: str = "",
        n_ctx: int = 2048,
        n_threads: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.name = name or self.path.stem
        self.n_ctx = n_ctx
        self.n_threads = n_threads or min(4, os.cpu_count() or 2)
        self._lock = threading.Lock()
        #: set by :meth:`retire`: freed for good, every later call refused. Read and written
        #: with ``_lock``'s hand-over under ``_state_lock`` (see :meth:`_serving`).
        self._retired = False
        self._state_lock = threading.Lock()
        self._llm: Any = None
        self._formatter: Any = None
        self._label_ids: dict[str, tuple[int, ...]] = {}
        self.load_seconds = 0.0
        # A file that failed to load, and why: not loaded again until the file changes (a
        # load of 250 MB to 1.1 GB is not retried on every question), nor before the
        # cool-down of :meth:`_left` has passed, unless the file itself is what failed
        # (``_lasting``: not a GGUF, or not the pinned model), which it stays until it changes.
        self._failed: tuple[tuple[int, int], str] | None = None
        self._lasting = False
        self._failed_at = 0.0  # ``clock()`` when the last load failed
        self._failures = 0  # failed loads of this file in a row
        self._clock = clock

    # -- loading ------------------------------------------------------------------------
    def _ensure(self) -> Any:
        if self._retired:  # a load now would be nobody's to free
            raise ModelError(f"{self.name} is closed (its last holder released it)")
        if self._llm is not None:
            return self._llm
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ModelError(
                "llama-cpp-python is not installed (pip install 'foundups-training[models]')"
            ) from exc
        if not self.path.is_file():
            raise ModelError(f"model file {self.path} does not exist")
        st = self.path.stat()
        signature = (st.st_size, st.st_mtime_ns)
        if self._failed is not None and self._failed[0] == signature:
            if self._lasting:
                raise ModelError(self._failed[1])
            if self._left() > 0:
                raise ModelError(self._retried(self._failed[1]))
        from foundups_training.models.locator import ModelChanged, checked_open

        start = time.perf_counter()
        opened = ""
        try:
            # The bytes loaded are the bytes the locator checked against the pin, even if the
            # file at this path is replaced between the check and this (first) load.
            with checked_open(self.path) as opened, model_params(extra_bufts_allowed()):
                _check_gguf_head(opened)
                self._llm = Llama(
                    model_path=opened,
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    logits_all=False,
                    verbose=False,
                )
        except ModelChanged as exc:
            self._llm = None  # (replaced while loading: what was loaded is not kept)
            self._remember(signature, str(exc), lasting=True)
            raise
        except Exception as exc:
            reason = str(exc)
            if opened and opened != str(self.path):  # llama.cpp names /proc/self/fd/N
                reason = reason.replace(opened, str(self.path))
            error = f"cannot load {self.path}: {reason}"
            lasting = isinstance(exc, _NotGguf)
            self._remember(signature, error, lasting=lasting)
            raise ModelError(error if lasting else self._retried(error)) from exc
        self._failed, self._failures = None, 0
        self.load_seconds = time.perf_counter() - start
        log.info("loaded %s in %.2fs", self.path.name, self.load_seconds)
        return self._llm

    def _remember(self, signature: tuple[int, int], error: str, *, lasting: bool) -> None:
        """Remember a failed load of the file with ``signature``. A cause that is not the
        file (memory short at that moment, another llama-cpp-python, another
        ``FOUNDUPS_TRAINING_LLAMA_EXTRA_BUFTS``) may pass: such a failure is tried again
        after a cool-down, as a tier that could not be built is
        (:class:`~foundups_training.routing.router.LazyBackend`). One
        that is the file (``lasting``: not a GGUF, not the pinned model) waits for the file
        to change: nothing else makes it load."""
        same = self._failed is not None and self._failed[0] == signature
        self._failures = self._failures + 1 if same else 1
        self._failed, self._lasting, self._failed_at = (signature, error), lasting, self._clock()

    def _left(self) -> float:
        """Seconds until a failed load is tried again (:func:`retry_wait`: the wait doubles
        with each failure of the same file in a row, as the router's tiers' does)."""
        return retry_wait(self._failures) - (self._clock() - self._failed_at)

    def _retried(self, error: str) -> str:
        """``error``, saying when the load is tried again."""
        return f"{error} (retried in {max(1, math.ceil(self._left()))} s)"

    @property
    def chat_template(self) -> str:
        """The GGUF's own chat template ('' for base models such as Gemma 270M)."""
        llm = self._ensure()
        return str(llm.metadata.get("tokenizer.chat_template", ""))

    def render(self, prompt: Prompt) -> str:
        """The prompt as text: chat messages go through the model's own template."""
        if not prompt.is_chat:
            return prompt.text + prompt.suffix
        llm = self._ensure()
        if self._formatter is None:
            template = self.chat_template
            if not template:
                raise ModelError(f"{self.name} has no chat template; use a text prompt")
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            vocab = llm._model
            self._formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=vocab.token_get_text(llm.token_eos()),
                bos_token=vocab.token_get_text(llm.token_bos()) if llm.token_bos() >= 0 else "",
            )
        rendered = self._formatter(messages=[dict(m) for m in prompt.messages]).prompt
        return rendered + prompt.suffix

    # -- evaluation ---------------------------------------------------------------------
    def _eval_prompt(self, text: str, *, special: bool) -> tuple[int, int]:
        """Evaluate ``text`` reusing the cached prefix; returns (prompt tokens, reused)."""
        llm = self._llm
        add_bos = True
        if special:  # a chat template that writes the BOS itself (Gemma, Llama 3, Mistral …)
            bos = llm.token_bos()
            if bos >= 0:
                bos_text = llm.detokenize([bos], special=True).decode("utf-8", "replace")
                if bos_text and text.startswith(bos_text):
                    add_bos = False  # else llama.cpp adds a second one (and warns on stderr)
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)
        if len(tokens) >= self.n_ctx:
            raise ModelError(f"prompt of {len(tokens)} tokens does not fit n_ctx={self.n_ctx}")
        cached = llm.input_ids[: llm.n_tokens].tolist()
        reuse = _common_prefix(cached, tokens)
        # At least one token must be evaluated so the last position's logits are fresh.
        reuse = min(reuse, len(tokens) - 1)
        llm.n_tokens = reuse
        try:
            llm.eval(tokens[reuse:])  # eval() first drops the stale KV tail after n_tokens
        except Exception:
            llm.reset()  # a failed decode leaves the cache unknown: start clean next time
            raise
        return len(tokens), reuse

    def _last_logits(self) -> Any:
        import llama_cpp
        import numpy as np

        llm = self._llm
        ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
        logits = np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).astype(np.float64)
        # NaN or +inf anywhere (max propagates NaN), or nothing above -inf: no distribution.
        # Before, choose() turned NaN into equal probabilities for every label (a "model
        # answer" that says nothing) and complete() into NaN token probabilities.
        if not np.isfinite(logits.max()):
            llm.reset()  # the state that produced them is not reused by the next call
            raise ModelError(
                f"{self.name} produced non-finite logits (NaN or infinity): a broken "
                "llama.cpp build or a damaged model file"
            )
        return logits

    def _ids_for(self, label: str) -> tuple[int, ...]:
        """Token ids that start ``label`` when it follows a space or not (" A" and "A")."""
        if label not in self._label_ids:
            llm = self._llm
            ids = []
            for form in (" " + label, label):
                toks = llm.tokenize(form.encode("utf-8"), add_bos=False, special=False)
                if toks and toks[0] not in ids:
                    ids.append(toks[0])
            self._label_ids[label] = tuple(ids)
        return self._label_ids[label]

    def choose(self, prompt: Prompt, labels: Sequence[str]) -> Choice:
        """One forward pass; the softmax of the last logits, restricted to the labels."""
        import numpy as np

        if not labels:
            raise ValueError("choose() needs at least one label")
        with self._serving():
            text = self.render(prompt)
            n_prompt, reused = self._eval_prompt(text, special=prompt.is_chat)
            logits = self._last_logits()
            top = float(logits.max())
            expo = np.exp(logits - top)
            total = float(expo.sum())
            masses = [float(sum(expo[i] for i in self._ids_for(lab))) for lab in labels]
        mass = sum(masses)
        probs = (
            tuple(m / mass for m in masses) if mass > 0 else tuple(1 / len(labels) for _ in labels)
        )
        return Choice(
            probs=probs, label_mass=mass / total, prompt_tokens=n_prompt, cached_tokens=reused
        )

    def complete(
        self, prompt: Prompt, max_tokens: int = 64, stop: Sequence[str] = ()
    ) -> Completion:
        """Greedy decoding token by token (so each token's probability is known)."""
        import llama_cpp
        import numpy as np

        with self._serving() as llm:
            text = self.render(prompt)
            n_prompt, reused = self._eval_prompt(text, special=prompt.is_chat)
            vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
            out: list[int] = []
            probs: list[float] = []
            budget = min(max_tokens, self.n_ctx - n_prompt - 1)
            decoded = ""
            for _ in range(max(0, budget)):
                logits = self._last_logits()
                tok = int(logits.argmax())
                if llama_cpp.llama_vocab_is_eog(vocab, tok):
                    break
                probs.append(float(1.0 / np.exp(logits - logits[tok]).sum()))
                out.append(tok)
                decoded = llm.detokenize(out).decode("utf-8", "replace")
                if any(s and s in decoded for s in stop):
                    break
                llm.eval([tok])
        for s in stop:
            if s and s in decoded:
                decoded = decoded.split(s, 1)[0]
        mean = float(sum(probs) / len(probs)) if probs else 0.0
        return Completion(
            text=decoded.strip(),
            mean_prob=mean,
            tokens=len(out),
            extra={"prompt_tokens": n_prompt, "cached_tokens": reused},
        )

    @contextmanager
    def _serving(self) -> Iterator[Any]:
        """One call: the model's lock held, the model loaded. A :meth:`retire` that came
        while the lock was held leaves the freeing to this call's end: the flag is read and
        the lock handed back under ``_state_lock``, so that one of the two frees it."""
        self._lock.acquire()
        try:
            yield self._ensure()
        finally:
            with self._state_lock:  # retire() sets the flag and tries the lock under it
                llm = self._detach() if self._retired else None
                self._lock.release()
            _free(self.name, llm)

    def _detach(self) -> Any:
        """Forget the loaded model (``_lock`` held); the caller frees what is returned."""
        llm, self._llm, self._formatter = self._llm, None, None
        self._label_ids.clear()
        return llm

    def close(self) -> None:
        """Free the model (the next call loads it again); waits for a call in flight."""
        with self._lock:
            llm = self._detach()
        _free(self.name, llm)

    def retire(self) -> None:
        """Free the model for good, never waiting: a call in flight ends on the model it
        began with and frees it as it ends (a hung one keeps it: the host's shutdown, or a
        router's close, must not wait for it forever). Later calls are refused, and load
        nothing. For the last holder of a shared model (:class:`SharedModel`)."""
        with self._state_lock:
            self._retired = True
            if not self._lock.acquire(blocking=False):
                return  # the call holding it sees ``_retired`` at its end (_serving)
        try:
            llm = self._detach()
        finally:
            self._lock.release()
        _free(self.name, llm)


def _free(name: str, llm: Any) -> None:
    """Free a detached llama.cpp model; a failure is logged, never raised (into a question,
    or a host's close). ``Llama.close`` is idempotent: its ``__del__`` does no harm after."""
    if llm is None:
        return
    try:
        llm.close()
    except Exception:
        log.debug("closing %s failed", name, exc_info=True)


class _Shared:
    """A registry entry: one model and how many holders (:class:`SharedModel`) it has."""

    __slots__ = ("freed", "holders", "key", "model")

    def __init__(self, key: tuple[str, int, int], model: LlamaModel) -> None:
        self.key = key
        self.model = model
        self.holders = 0
        self.freed = False


_registry: dict[tuple[str, int, int], _Shared] = {}


class SharedModel:
    """One holder's reference to a process-wide :class:`LlamaModel` (:func:`shared_model`).

    Two routers of one process share a GGUF (the plugin's Trainer and its read-only
    reader). Each closes its own reference; the last close frees the model. Before, one
    router's close freed the model under the other, which loaded the GGUF again on its next
    question, or waited on the model's lock for the other's call (for ever if it hung).
    A holder dropped without :meth:`close` keeps its reference: the model stays loaded until
    the process ends, as every shared model did before.
    """

    def __init__(self, entry: _Shared) -> None:
        self._entry: _Shared | None = entry
        self._model = entry.model
        self.name = entry.model.name

    @property
    def closed(self) -> bool:
        """Whether this holder released its reference (or :func:`close_all` freed it)."""
        entry = self._entry
        return entry is None or entry.freed

    def _held(self) -> LlamaModel:
        """The model; :class:`ModelError` once this holder released it (a call then would
        load the GGUF for nobody to free)."""
        if self.closed:
            raise ModelError(f"{self.name} is closed (this holder released it)")
        return self._model

    @property
    def chat_template(self) -> str:
        """The GGUF's own chat template (see :attr:`LlamaModel.chat_template`). Read under
        the model's lock as a call is: a load outside it, racing the last release's
        :meth:`LlamaModel.retire`, was nobody's to free."""
        model = self._held()
        with model._serving():
            return model.chat_template

    def render(self, prompt: Prompt) -> str:
        """See :meth:`LlamaModel.render` (under the model's lock, as :attr:`chat_template`)."""
        model = self._held()
        if not prompt.is_chat:  # text as it is: nothing loaded, no lock
            return model.render(prompt)
        with model._serving():
            return model.render(prompt)

    def choose(self, prompt: Prompt, labels: Sequence[str]) -> Choice:
        """See :meth:`LlamaModel.choose`."""
        return self._held().choose(prompt, labels)

    def complete(
        self, prompt: Prompt, max_tokens: int = 64, stop: Sequence[str] = ()
    ) -> Completion:
        """See :meth:`LlamaModel.complete`."""
        return self._held().complete(prompt, max_tokens=max_tokens, stop=stop)

    def close(self) -> None:
        """Release this holder's reference, once however often it is called; the last
        release frees the model (:meth:`LlamaModel.retire`: without waiting for a call in
        flight). Never waits for another holder's call; never raises."""
        try:
            _release(self)
        except Exception:
            log.debug("releasing %s failed", self.name, exc_info=True)


def _release(holder: SharedModel) -> None:
    """Count ``holder``'s reference off its entry; free the model after the last one.

    The entry leaves the registry with its last holder, so the next :func:`shared_model`
    makes a fresh model (the freed one refuses calls)."""
    with _registry_lock:
        entry, holder._entry = holder._entry, None
        if entry is None or entry.freed:
            return
        entry.holders -= 1
        if entry.holders > 0:
            return
        entry.freed = True
        if _registry.get(entry.key) is entry:
            del _registry[entry.key]
    entry.model.retire()


def shared_model(
    path: Path | str, *, name: str = "", n_ctx: int = 2048, n_threads: int = 0
) -> SharedModel:
    """A new holder of the process-wide model for this file and context size: loaded once
    while it has holders, freed when the last one closes (each caller closes its own)."""
    key = (str(Path(path).resolve()), n_ctx, n_threads)
    with _registry_lock:
        entry = _registry.get(key)
        if entry is None:
            entry = _Shared(key, LlamaModel(path, name=name, n_ctx=n_ctx, n_threads=n_threads))
            _registry[key] = entry
        entry.holders += 1
        return SharedModel(entry)


def close_all() -> None:
    """Free every shared model whatever its holders (tests, shutdown); their calls are
    refused afterwards, and their closes do nothing. Never waits for a call in flight."""
    with _registry_lock:
        entries = list(_registry.values())
        _registry.clear()
        for entry in entries:
            entry.freed = True
    for entry in entries:
        entry.model.retire()
