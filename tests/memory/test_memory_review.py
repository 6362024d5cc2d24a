"""Review fixes: bounded waits on a Chroma server, a collection recreated by another
process, a collection this plugin did not make."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from foundups_training.config import Settings, with_overrides
from foundups_training.memory import PatternMemory, open_memory
from foundups_training.memory import store as store_module
from foundups_training.memory.store import chroma_where

from .helpers import make, run_bounded


class _Relay:
    """A loopback TCP relay to a server that can be muted: muted, it swallows what clients
    send and answers nothing, as a stopped server does (without stopping the shared one)."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit("//", 1)[1].split(":")
        self._target = (host, int(port))
        self.muted = threading.Event()
        self._socks: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            self._socks += [conn, upstream]
            for src, dst in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if not self.muted.is_set():
                    dst.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        for sock in [self._listener, *self._socks]:
            sock.close()


@pytest.fixture
def relay(chroma_server: str) -> Iterator[_Relay]:
    relay = _Relay(chroma_server)
    yield relay
    relay.close()


@pytest.fixture
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "SERVER_CONNECT_TIMEOUT", 1.0)
    monkeypatch.setattr(store_module, "SERVER_IO_TIMEOUT", 1.0)


# -- A: a server that stops answering --------------------------------------------------
@pytest.mark.server
def test_http_session_is_where_the_timeouts_are_set(server_settings: Settings) -> None:
    # Pins chromadb's private attribute the fix relies on: a chromadb that moves it fails
    # here, loudly, rather than leaving server mode without timeouts.
    mem = open_memory(server_settings)
    try:
        session = mem._client._server._session  # type: ignore[union-attr]
        assert isinstance(session, httpx.Client)
        assert session.timeout == httpx.Timeout(
            store_module.SERVER_IO_TIMEOUT,
            connect=store_module.SERVER_CONNECT_TIMEOUT,
            pool=store_module.SERVER_CONNECT_TIMEOUT,
        )
    finally:
        mem.close()


@pytest.mark.server
def test_recall_on_a_server_that_stopped_answering_fails_in_time(
    server_settings: Settings, relay: _Relay, short_timeouts: None
) -> None:
    mem = open_memory(with_overrides(server_settings, chroma_url=relay.url))
    try:
        mem.upsert([make(1)])
        assert mem.recall("youtube api quota", n=1)
        relay.muted.set()
        outcome = run_bounded(lambda: mem.recall("youtube api quota", n=1), wait=15)
        assert isinstance(outcome, httpx.TimeoutException)
    finally:
        relay.muted.clear()
        mem.close()


def test_open_memory_on_a_server_that_never_answers_fails_in_time(
    settings: Settings, short_timeouts: None
) -> None:
    # Listening but never accepting: connections complete, no answer ever comes.
    with socket.create_server(("127.0.0.1", 0)) as mute:
        url = f"http://127.0.0.1:{mute.getsockname()[1]}"
        outcome = run_bounded(lambda: open_memory(with_overrides(settings, chroma_url=url)), 15)
    assert isinstance(outcome, TimeoutError)
    assert url in str(outcome)


# -- B: another process's clear -----------------------------------------------------------
@pytest.mark.server
def test_clear_elsewhere_does_not_break_this_process(server_settings: Settings) -> None:
    first = open_memory(server_settings)
    second = open_memory(server_settings)
    try:
        first.upsert([make(i, kind="stream") for i in range(3)])
        assert first.recall("stream went live", n=1, where={"kind": "stream"})
        second.clear(confirm=True)
        assert first.count() == 0
        assert first.recall("stream went live", n=1, where={"kind": "stream"}) == []
        assert first.upsert([make(7)]) == 1
        assert second.count() == 1
        second.clear(confirm=True)
        assert first.upsert([make(8)]) == 1  # a write first after the clear
        assert second.count() == 1
    finally:
        first.close()
        second.close()


# -- C: a collection made by something else ----------------------------------------------
def _foreign(settings: Settings, name: str, **config: Any) -> None:
    import chromadb

    client = chromadb.PersistentClient(
        path=str(settings.chroma_dir), settings=store_module._chroma_settings()
    )
    col = client.create_collection(name, embedding_function=None, **config)
    col.add(
        ids=["a", "b", "c"],
        embeddings=[[float(i == j) for j in range(384)] for i in range(3)],
        documents=["one", "two", "three"],
    )


@pytest.mark.parametrize(
    ("config", "why"),
    [
        ({"configuration": {"hnsw": {"space": "l2"}}}, "not made by this plugin"),
        ({"configuration": {"hnsw": {"space": "cosine"}}}, "not made by this plugin"),
        (
            {
                "configuration": {"hnsw": {"space": "l2"}},
                "metadata": {"foundups_training_layout": 2},
            },
            "space is 'l2'",
        ),
    ],
)
@pytest.mark.parametrize("read_only", [False, True])
def test_a_foreign_collection_is_refused(
    settings: Settings, config: dict[str, Any], why: str, read_only: bool
) -> None:
    settings = with_overrides(settings, collection="theirs")
    _foreign(settings, "theirs", **config)
    mem = open_memory(settings, read_only=read_only)
    try:
        with pytest.raises(ValueError, match=f"'theirs'.*{why}.*another `collection` name"):
            mem.recall("one", n=3)
        if not read_only:
            with pytest.raises(ValueError, match="'theirs'"):
                mem.upsert([make(1)])
    finally:
        mem.close()


def test_a_collection_of_ours_is_adopted(settings: Settings) -> None:
    mem = open_memory(settings)
    try:
        assert mem.count() == 0 and mem.recall("anything") == []
        mem.upsert([make(1)])  # created empty by this plugin, then written
    finally:
        mem.close()
    again = open_memory(settings, read_only=True)
    try:
        assert again.count() == 1
    finally:
        again.close()


# -- D: filters answered here agree with Chroma's ------------------------------------------
@pytest.mark.parametrize(
    "where",
    [
        {"variants": {"$ne": "[]"}},
        {"variants": {"$nin": ["[]", "x"]}},
        {"$and": [{"tally": {"$ne": "[1]"}}, {"kind": "error_fix"}]},
    ],
)
def test_ne_and_nin_match_a_missing_key_as_chroma_does(
    memory: PatternMemory, where: dict[str, Any]
) -> None:
    memory.upsert([make(i) for i in range(4)])  # no variants, no tally: keys left out
    col = memory._col(create=False)
    vector = memory.encoder.encode_query("youtube api quota")
    by_chroma = [h[0] for h in memory._query(col, vector, 2, chroma_where(where))]
    assert len(by_chroma) == 2
    assert [r.pattern.id for r in memory.recall("youtube api quota", n=2, where=where)] == (
        by_chroma
    )


@pytest.mark.parametrize("n", [1, 5])
@pytest.mark.parametrize(
    "where", [{"decision": "decision 1"}, {"$or": [{"kind": "x"}, {"decision": "y"}]}]
)
def test_a_filter_on_an_unindexed_key_is_refused_whatever_n(
    memory: PatternMemory, n: int, where: dict[str, Any]
) -> None:
    memory.upsert([make(i) for i in range(6)])
    with pytest.raises(ValueError, match="cannot filter on decision"):
        memory.recall("youtube api quota", n=n, where=where)
    with pytest.raises(ValueError, match="cannot filter on decision"):
        memory.ids(where=where)
