"""The HTTP model backend against a real loopback server that misbehaves.

Security review, bugs 5 and 6 and the note on credentials in model-server URLs: a server
that dribbles its answer held a call far past its timeout; a body was read whole whatever its
size; ``NaN`` / ``Infinity`` logprobs gave a NaN confidence (then a metrics IntegrityError and
a routing ValueError), a logprob of 1000 an OverflowError; the bearer token followed a
redirect to another host (and the POST became a GET); ``http://user:pw@host`` repeated the
password in the error and in the answer's ``model``. Every server here is a real
``http.server`` on 127.0.0.1 in a thread.
"""

from __future__ import annotations

import base64
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from foundups_training.config import load_settings
from foundups_training.models.base import ModelError, Prompt
from foundups_training.models.http import HttpModel
from foundups_training.records import Pattern, Query, Recalled
from foundups_training.routing.backends import backend_factory
from foundups_training.routing.router import LazyBackend, Router

SECRET = "s3cretPW-7f2a"
Reply = Callable[[BaseHTTPRequestHandler], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        server: Any = self.server
        server.seen.append((self.command, self.path, self.headers.get("Authorization"), body))
        try:
            server.reply(self)
        except OSError:  # the client hung up (a deadline): nothing more to send
            pass

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[[Reply], tuple[str, list[tuple[Any, ...]]]]]:
    """Start servers answering with ``reply``; gives the URL and the requests seen."""
    servers: list[ThreadingHTTPServer] = []

    def start(reply: Reply) -> tuple[str, list[tuple[Any, ...]]]:
        server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.reply = reply
        server.seen = []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", server.seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _json(raw: bytes, status: int = 200) -> Reply:
    def reply(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(raw)))
        h.end_headers()
        h.wfile.write(raw)

    return reply


def _top(first: str) -> bytes:
    """A completions answer whose first top_logprobs entry is ``{"A": first, "B": -1.0}``."""
    return (
        b'{"choices":[{"text":"A","logprobs":{"top_logprobs":[{"A": '
        + first.encode()
        + b', "B": -1.0}]}}]}'
    )


PROMPT = Prompt(text="x =")


# -- bug 5: numbers and shapes ----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        _top("NaN"),
        _top("Infinity"),
        _top("1e999"),  # json reads it as inf
        _top('"high"'),
        # chat shape with NaN
        b'{"choices":[{"message":{"content":"A"},"logprobs":{"content":[{"token":"A",'
        b'"logprob":NaN,"top_logprobs":[{"token":"A","logprob":NaN}]}]}}]}',
        b"not json at all",
        b"[1, 2, 3]",
        b"{}",  # no choices
        b'{"choices": []}',
        b'{"choices": "A"}',
        b'{"choices": [{"text": {"letter": "A"}}]}',
        b'{"choices": [{"text": "A", "logprobs": {"top_logprobs": [{"A": -0.1}]}}]}'[:-1],
        b"[" * 100_000 + b"]" * 100_000,  # nesting: RecursionError in the json module
        b'{"choices": [{"text": "A", "logprobs": {"top_logprobs": [{"A": 1'
        + b"0" * 5000
        + b"}]}}]}",
    ],
    ids=[
        "nan",
        "infinity",
        "1e999",
        "string-logprob",
        "chat-nan",
        "not-json",
        "json-list",
        "no-choices",
        "empty-choices",
        "choices-string",
        "text-object",
        "cut-short",
        "deep-nesting",
        "huge-int",
    ],
)
def test_a_malformed_answer_is_a_model_error(serve: Any, raw: bytes) -> None:
    url, _ = serve(_json(raw))
    with pytest.raises(ModelError, match="not a completion"):
        HttpModel(url, timeout=10).choose(PROMPT, ["A", "B"])


def test_a_malformed_completion_is_a_model_error(serve: Any) -> None:
    url, _ = serve(_json(b'{"choices":[{"text":"hi","logprobs":{"token_logprobs":[-0.1, NaN]}}]}'))
    with pytest.raises(ModelError, match="not a completion"):
        HttpModel(url, timeout=10).complete(PROMPT)


def test_a_logprob_above_zero_is_taken_as_zero(serve: Any) -> None:
    url, _ = serve(_json(_top("1000.0")))
    choice = HttpModel(url, timeout=10).choose(PROMPT, ["A", "B"])
    assert choice.probs == pytest.approx((1 / (1 + math.exp(-1)), 1 - 1 / (1 + math.exp(-1))))
    assert choice.label_mass == 1.0 and all(math.isfinite(p) for p in choice.probs)

    url, _ = serve(
        _json(
            b'{"choices":[{"text":"hi","logprobs":{"token_logprobs":[1000.0, -Infinity]}}],'
            b'"usage":{"completion_tokens":2}}'
        )
    )
    done = HttpModel(url, timeout=10).complete(PROMPT)
    assert done.text == "hi" and done.mean_prob == 0.5 and done.tokens == 2


class _Memory:
    def __init__(self, items: list[tuple[Pattern, float]]) -> None:
        self.items = items

    def recall(
        self, query: str, n: int = 5, where: Any = None, min_similarity: float = 0.0
    ) -> list[Recalled]:
        return [Recalled(p, s) for p, s in self.items][:n]


def test_infinity_logprobs_send_the_router_to_the_memory_tier(serve: Any) -> None:
    url, _ = serve(_json(_top("Infinity")))
    patterns = [
        (Pattern.make("chat_response", 'message: "buy followers"', "timeout 60s"), 0.62),
        (Pattern.make("chat_response", 'message: "hello everyone"', "respond"), 0.58),
    ]
    router = Router(
        _Memory(patterns),
        HttpModel(url, name="gemma@srv", timeout=10),
        HttpModel(url, name="qwen@srv", timeout=10),
    )
    answer = router.answer(Query(text="what should the bot do with a spam message"))
    assert answer.tier == "memory" and answer.text == "timeout 60s"
    assert math.isfinite(answer.confidence)
    assert "non-finite number Infinity" in answer.error


# -- bug 5: the deadline and the body cap -------------------------------------------------------


def _dribble(head: bool) -> Reply:
    body = b'{"choices":[{"text":"A"}]}' + b" " * 200

    def reply(h: BaseHTTPRequestHandler) -> None:
        raw = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        if not head:
            h.wfile.write(raw)
            raw = b""
        for byte in raw + body:
            h.wfile.write(bytes([byte]))
            h.wfile.flush()
            time.sleep(0.1)

    return reply


@pytest.mark.parametrize("head", [False, True], ids=["body", "headers"])
def test_a_dribbling_server_meets_the_deadline_of_the_whole_call(serve: Any, head: bool) -> None:
    """One byte every 0.1 s, each well within the 1 s timeout: before, the call took as long
    as the server liked (here ~23 s, then answered); now it ends with the deadline."""
    url, _ = serve(_dribble(head))
    start = time.monotonic()
    with pytest.raises(ModelError, match="no complete answer within 1 s"):
        HttpModel(url, timeout=1).choose(PROMPT, ["A", "B"])
    assert time.monotonic() - start < 15  # only a hang guard


def test_an_oversized_answer_is_refused(serve: Any) -> None:
    def reply(h: BaseHTTPRequestHandler) -> None:
        # Valid JSON (then 9 MiB of spaces), no Content-Length: read until the server closes.
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(b'{"choices":[{"text":"A"}]}')
        for _ in range(9 * 16):
            h.wfile.write(b" " * (1 << 16))
        h.close_connection = True

    url, _ = serve(reply)
    with pytest.raises(ModelError, match="larger than 8388608 bytes"):
        HttpModel(url, timeout=30).choose(PROMPT, ["A", "B"])
    big = b'{"choices":[{"text":"A"}]}' + b" " * 5000  # declared too long: not read at all
    url, _ = serve(_json(big))
    with pytest.raises(ModelError, match="larger than 1000 bytes"):
        HttpModel(url, timeout=30, max_body=1000).choose(PROMPT, ["A", "B"])


# -- bug 6: redirects ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_refused_and_the_token_stays_home(serve: Any, status: int) -> None:
    other, other_seen = serve(_json(b'{"choices":[{"text":"A"}]}'))

    def reply(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", f"{other}/steal")
        h.send_header("Content-Length", "0")
        h.end_headers()

    url, seen = serve(reply)
    model = HttpModel(url, api_key="sk-TOKEN-123", timeout=10)
    with pytest.raises(ModelError) as err:
        model.choose(PROMPT, ["A", "B"])
    assert f"HTTP {status} redirecting to '{other}/steal'" in str(err.value)
    assert "redirects are refused" in str(err.value)
    assert other_seen == []
    assert [(m, a) for m, _, a, _ in seen] == [("POST", "Bearer sk-TOKEN-123")]


# -- credentials in the URL ---------------------------------------------------------------------


def test_credentials_in_the_url_are_sent_as_basic_auth_and_never_shown(serve: Any) -> None:
    url, seen = serve(_json(b'{"choices":[{"text":"A"}]}'))
    with_creds = url.replace("http://", f"http://ops:{SECRET}@")
    model = HttpModel(with_creds, name=f"qwen@{with_creds}", timeout=10)
    assert SECRET not in model.name + model.base_url + repr(model)
    assert model.name == f"qwen@{url}"
    assert model.choose(PROMPT, ["A", "B"]).best == 0
    expected = "Basic " + base64.b64encode(f"ops:{SECRET}".encode()).decode()
    assert seen[-1][2] == expected


def test_no_credential_reaches_an_error_or_the_answer(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = serve(_json(b'{"error": "boom"}', status=500))
    with_creds = url.replace("http://", f"http://ops:{SECRET}@")
    with pytest.raises(ModelError) as err:
        HttpModel(with_creds, timeout=10).choose(PROMPT, ["A", "B"])
    assert "HTTP 500" in str(err.value) and SECRET not in str(err.value)

    closed = "http://ops:" + SECRET + "@127.0.0.1:9"
    with pytest.raises(ModelError, match="cannot reach") as err:
        HttpModel(closed, timeout=5).choose(PROMPT, ["A", "B"])
    assert SECRET not in str(err.value)

    def reply(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", f"http://someone:{SECRET}@127.0.0.1:9/x")
        h.send_header("Content-Length", "0")
        h.end_headers()

    url, _ = serve(reply)
    with pytest.raises(ModelError, match="redirects are refused") as err:
        HttpModel(url, timeout=5).choose(PROMPT, ["A", "B"])
    assert SECRET not in str(err.value)

    # The way the plugin builds the backend (FOUNDUPS_TRAINING_*_URL with a password): the
    # answer's model, the error of a server that is down, and the log never show it.
    url, _ = serve(_json(b'{"choices":[{"text":"A"}]}'))
    up = url.replace("http://", f"http://ops:{SECRET}@")
    patterns = [
        (Pattern.make("chat_response", 'message: "hi"', "respond"), 0.6),
        (Pattern.make("chat_response", 'message: "spam"', "timeout 60s"), 0.5),
    ]
    for qwen_url, gemma_url in ((up, up), (closed, closed)):
        settings = load_settings({"qwen_url": qwen_url, "gemma_url": gemma_url}, env={})
        router = Router(
            _Memory(patterns),
            LazyBackend("gemma", backend_factory("gemma", settings)),
            LazyBackend("qwen", backend_factory("qwen", settings)),
        )
        with caplog.at_level(logging.DEBUG):
            answer = router.answer(Query(text="what should the bot do with hi", tier="qwen"))
        if qwen_url == up:
            assert answer.tier == "qwen" and answer.model == f"qwen@{url}", answer
        else:
            assert answer.tier == "memory" and "cannot reach" in answer.error, answer
        assert SECRET not in repr(answer)
    assert SECRET not in caplog.text
