"""Fixtures for the memory tests: real chromadb, a real ``chroma run`` server on loopback."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundups_training.config import Settings, with_overrides
from foundups_training.memory import PatternMemory, open_memory
from foundups_training.memory import embedding as emb


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache folder for the int8 graph (and the float runtime off): each test
    makes its own copy, and a failure remembered by an earlier test is forgotten."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(emb.ENV_CACHE, str(folder))
    monkeypatch.delenv(emb.ENV_RUNTIME, raising=False)
    emb._int8_failed.clear()
    return folder


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chroma_cli() -> str | None:
    # The console script next to this interpreter (the venv's), else one on PATH.
    beside = Path(sys.executable).with_name("chroma.exe" if os.name == "nt" else "chroma")
    return str(beside) if beside.exists() else shutil.which("chroma")


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real Chroma server (``chroma run``) on a free loopback port, for the session."""
    cli = _chroma_cli()
    if cli is None:
        pytest.skip("the chroma CLI is not installed")
    path = tmp_path_factory.mktemp("chroma-server")
    port = _free_port()
    log = (path / "server.log").open("wb")
    proc = subprocess.Popen(
        [cli, "run", "--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"chroma run exited: {(path / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("chroma run did not answer its heartbeat within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def memory(settings: Settings) -> Iterator[PatternMemory]:
    """A fresh embedded memory in the test's own data directory."""
    mem = open_memory(settings)
    yield mem
    mem.close()


@pytest.fixture
def server_settings(
    settings: Settings, chroma_server: str, request: pytest.FixtureRequest
) -> Settings:
    """Settings pointing at the test server, with a collection of the test's own."""
    # Chroma collection names: 3-63 chars of [a-zA-Z0-9._-]; one per test keeps them apart.
    name = "t" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:16]
    return with_overrides(settings, chroma_url=chroma_server, collection=name)
