"""Leftovers of the review: ``clear`` against another process's journal replay, and a
Chroma server that answers its heartbeat, then hangs while chromadb builds its client."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from foundups_training.config import Settings, with_overrides
from foundups_training.memory import PatternMemory, open_memory
from foundups_training.memory import store as store_module
from foundups_training.memory import writer as writer_mod
from foundups_training.memory.writer import (
    JOURNAL_NAME,
    REPLAY_LOCK_NAME,
    append_journal,
    discard_journal,
    journal_pending,
)

from .helpers import hold_replay_lock, make, run_bounded


# -- 1: clear and another process's journal replay ---------------------------------------
def _let_go(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None
    child.stdin.close()
    child.wait(timeout=60)


@pytest.fixture
def journal(settings: Settings) -> Path:
    """A journal as a replay elsewhere finds it: a file renamed aside with its progress
    file, and new spills in ``pending.jsonl``; 5 patterns in all."""
    journal_dir = settings.journal_dir
    assert append_journal(journal_dir, [make(i) for i in range(3)]) == 3
    aside = journal_dir / "replay-1-abcdef01.jsonl"
    (journal_dir / JOURNAL_NAME).rename(aside)
    (journal_dir / f"{aside.name}.progress").write_text('{"done": 0}')
    assert append_journal(journal_dir, [make(i) for i in range(3, 5)]) == 2
    return journal_dir


def test_discard_waits_for_a_replay_in_another_process(journal: Path) -> None:
    """The replay holds the lock for its whole run: the files it is reading are deleted
    only once it has let go, never under it."""
    child = hold_replay_lock(journal)
    box: list[int | BaseException] = []

    def discard() -> None:
        try:
            box.append(discard_journal(journal, wait_s=60))
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box.append(exc)

    thread = threading.Thread(target=discard, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        assert thread.is_alive() and not box, f"discarded under the replay: {box}"
        assert journal_pending(journal)
        assert len(list(journal.glob("replay-*.jsonl*"))) == 2
    finally:
        _let_go(child)
    thread.join(30)
    assert box == [5]
    assert not journal_pending(journal)
    assert [p.name for p in journal.iterdir()] == [REPLAY_LOCK_NAME]


def test_discard_gives_up_in_time_and_says_who_replays(journal: Path) -> None:
    child = hold_replay_lock(journal)
    try:
        outcome = run_bounded(lambda: discard_journal(journal, wait_s=0.5), wait=20)
        assert isinstance(outcome, writer_mod.JournalBusy), outcome
        assert f"process {child.pid}" in str(outcome)
        assert str(journal) in str(outcome)
        # nothing was deleted
        assert (journal / JOURNAL_NAME).exists()
        assert len(list(journal.glob("replay-*.jsonl*"))) == 2
    finally:
        _let_go(child)
    assert discard_journal(journal) == 5


def test_clear_deletes_nothing_while_another_process_replays(
    memory: PatternMemory, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clear that went ahead would empty the store and then let the replay elsewhere
    store the journal back into it; refused, it leaves both as they were."""
    monkeypatch.setattr(writer_mod, "REPLAY_WAIT_S", 0.5)
    memory.upsert([make(i) for i in range(10, 14)])
    assert append_journal(settings.journal_dir, [make(i) for i in range(3)]) == 3
    child = hold_replay_lock(settings.journal_dir)
    try:
        outcome = run_bounded(lambda: memory.clear(confirm=True), wait=20)
        assert isinstance(outcome, writer_mod.JournalBusy), outcome
        assert memory.count() == 4
        assert journal_pending(settings.journal_dir)
    finally:
        _let_go(child)
    memory.clear(confirm=True)  # the replay has ended: clear goes ahead
    assert memory.count() == 0
    assert not journal_pending(settings.journal_dir)


def test_discard_of_no_journal_creates_nothing(settings: Settings) -> None:
    assert discard_journal(settings.journal_dir) == 0
    assert not settings.journal_dir.exists()


# -- 2: a server that hangs while chromadb builds its client -----------------------------
#: What chromadb 1.5.9's HttpClient asks while it is built, in order (after which
#: open_memory's own first request is the collection's).
CLIENT_BUILD_REQUESTS = (
    "/api/v2/auth/identity",
    "/api/v2/tenants/default_tenant",
    "/api/v2/tenants/default_tenant/databases/default_database",
)

_ANSWERS: dict[str, dict[str, Any]] = {
    "/api/v2/heartbeat": {"nanosecond heartbeat": 1},
    "/api/v2/auth/identity": {
        "user_id": "",
        "tenant": "default_tenant",
        "databases": ["default_database"],
    },
    "/api/v2/tenants/default_tenant": {"name": "default_tenant"},
    "/api/v2/tenants/default_tenant/databases/default_database": {
        "id": "00000000-0000-0000-0000-000000000000",
        "name": "default_database",
        "tenant": "default_tenant",
    },
}


class _HangingServer:
    """A loopback HTTP server that answers as Chroma does up to ``stall_at``, then accepts
    that request and never answers it (until closed)."""

    def __init__(self, stall_at: str) -> None:
        self.asked: list[str] = []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.asked.append(self.path)
                if self.path == stall_at or self.path not in _ANSWERS:
                    outer.release.wait(60)
                    return
                body = json.dumps(_ANSWERS[self.path]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "SERVER_CONNECT_TIMEOUT", 1.0)
    monkeypatch.setattr(store_module, "SERVER_IO_TIMEOUT", 1.0)


@pytest.mark.parametrize("stall_at", CLIENT_BUILD_REQUESTS)
def test_open_memory_on_a_server_that_hangs_after_its_heartbeat_fails_in_time(
    settings: Settings, short_timeouts: None, stall_at: str
) -> None:
    server = _HangingServer(stall_at)
    try:
        outcome = run_bounded(
            lambda: open_memory(with_overrides(settings, chroma_url=server.url)), wait=20
        )
    finally:
        server.close()
    assert isinstance(outcome, TimeoutError), outcome
    assert server.url in str(outcome)
    # the heartbeat passed: the wait that was bounded is chromadb's own
    assert server.asked[0] == "/api/v2/heartbeat" and server.asked[-1] == stall_at


def test_the_requests_of_a_client_build_are_these(settings: Settings, short_timeouts: None) -> None:
    """Pins what chromadb asks while it builds a client (the tests above stall each): a
    chromadb that asks something more fails here, so its bound is looked at again."""
    server = _HangingServer(stall_at="")  # answers what it knows, hangs on anything else
    try:
        mem = run_bounded(lambda: open_memory(with_overrides(settings, chroma_url=server.url)), 20)
        assert isinstance(mem, PatternMemory), mem
        mem.close()
    finally:
        server.close()
    assert tuple(server.asked) == ("/api/v2/heartbeat", *CLIENT_BUILD_REQUESTS)


def _new_session_timeout() -> Any:
    """The timeout of the HTTP session of a chromadb client made now, on this thread (made
    as ``HttpClient`` makes it, without its requests)."""
    from chromadb.api import ServerAPI
    from chromadb.config import Settings as ChromaSettings
    from chromadb.config import System

    chroma = ChromaSettings(
        chroma_api_impl="chromadb.api.fastapi.FastAPI",
        chroma_server_host="127.0.0.1",
        chroma_server_http_port=9,
        anonymized_telemetry=False,
    )
    return System(chroma).instance(ServerAPI)._session.timeout  # type: ignore[attr-defined,type-abstract]


def test_only_the_client_open_memory_builds_is_bounded_so() -> None:
    """The bound is open_memory's: a client the host builds itself (another thread, or
    this one outside open_memory) keeps chromadb's own session."""
    unbounded = _new_session_timeout()
    assert unbounded.read is None  # chromadb's default, which the wrapper must not touch
    with store_module._bounded_sessions():
        assert _new_session_timeout() == store_module._server_timeout()
        elsewhere: list[Any] = []
        other = threading.Thread(target=lambda: elsewhere.append(_new_session_timeout()))
        other.start()
        other.join(20)
        assert elsewhere == [unbounded]
    assert _new_session_timeout() == unbounded


def test_the_embedding_path_variables_expand_the_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``FOUNDUPS_TRAINING_EMBED_CACHE=~/cache`` named a folder called ``~`` in the working
    directory (every other path setting expands ``~``)."""
    from foundups_training.memory import embedding

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(embedding.ENV_CACHE, "~/embed-cache")
    assert embedding._cache_dir() == tmp_path / "embed-cache"
    monkeypatch.setenv(embedding.ENV_MODEL, "~/nowhere/model.onnx")
    with pytest.raises(embedding.EmbeddingModelError) as raised:
        embedding.locate_model()
    assert str(tmp_path / "nowhere" / "model.onnx") in str(raised.value)
