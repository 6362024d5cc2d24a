"""OpenAI-compatible HTTP backend: llama-cpp-python's server, llama.cpp's server, vLLM.

Moving a tier to a model server is configuration (``FOUNDUPS_TRAINING_QWEN_URL`` /
``..._GEMMA_URL``), not a fork of the code. Text prompts go to ``/v1/completions``; chat
prompts to ``/v1/chat/completions`` so the server applies its own chat template.

Confidence comes from ``logprobs`` of one generated token. llama-cpp-python's server only
returns them when started with ``--logits_all true``; llama.cpp's server and vLLM return them
natively. A server that refuses logprobs still answers: the generated letter gets the
probabilities, with ``label_mass`` 0 to say the confidence is unknown.

A broken or hostile server cannot hold a caller nor hand it numbers that break routing:

- ``timeout`` is the deadline of the whole call (connect, send, the wait, every byte of the
  answer; both requests where a server refuses logprobs), not of each socket operation; at
  the deadline the call's sockets are shut down and the call raises;
- the answer is read up to ``max_body`` bytes (8 MiB), no further;
- redirects are refused, with the status and the ``Location`` in the error: a model API has
  no reason to redirect, and following one would send the bearer token to another host and
  turn the POST into a GET;
- an answer that is not a completion (not JSON, no ``choices``, wrong types, ``NaN`` or
  ``+Infinity`` anywhere, a logprob that is not a number) raises :class:`ModelError`, which
  the router treats like a server that is down (escalation, then the memory tier); a logprob
  above 0 is taken as 0, and ``-Infinity`` as a probability of 0;
- credentials in the URL (``http://user:pw@host``) are taken out of it and sent as HTTP Basic
  auth (a bearer ``api_key`` wins); the URL shown in names and errors never carries them.

Every failure of a call is a :class:`ModelError`: never another exception type.

Standard library only (urllib): no extra dependency for a client this small.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from email.message import Message
from typing import IO, Any, TypeVar

from foundups_training.models.base import Choice, Completion, ModelError, Prompt

_T = TypeVar("_T")

#: The largest answer read from a server (a 512-token completion with 20 top logprobs per
#: token is well under 1 MiB).
MAX_BODY = 8 << 20

# ``scheme://user:pw@`` anywhere in a text: the userinfo goes (it can hold a password).
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s]*@")


def scrub(text: str) -> str:
    """``text`` without the ``user:password@`` part of any URL in it."""
    return _USERINFO.sub(r"\1", text)


class HttpStatusError(ModelError):
    """The server answered with an HTTP error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# -- one call's deadline ------------------------------------------------------------------------


class _Deadline:
    """The deadline of one call; when it passes, the call's sockets are shut down, so a reader
    blocked on a server that sends one byte now and then wakes up at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._expired = False

    def left(self) -> float:
        return self.end - time.monotonic()

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if not self._expired:
                self._socks.append(sock)
                return
        _shut(sock)

    def expire(self) -> None:
        with self._lock:
            self._expired = True
            socks, self._socks = self._socks, []
        for sock in socks:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    # socket.socket's own shutdown, also for an SSL socket (its override unwraps TLS state
    # that the reading thread is using). A socket already closed raises EBADF: ignored.
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


_CURRENT = threading.local()  # the deadline of the call running in this (worker) thread


def _watch_current(sock: socket.socket | None) -> None:
    deadline = getattr(_CURRENT, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)


class _WatchedHTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watch_current(self.sock)


class _WatchedHTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watch_current(self.sock)


class _WatchedHTTPHandler(urllib.request.HTTPHandler):
    def do_open(  # type: ignore[override]
        self, http_class: object, req: urllib.request.Request, **kwargs: Any
    ) -> http.client.HTTPResponse:
        return super().do_open(_WatchedHTTPConnection, req, **kwargs)


class _WatchedHTTPSHandler(urllib.request.HTTPSHandler):
    def do_open(  # type: ignore[override]
        self, http_class: object, req: urllib.request.Request, **kwargs: Any
    ) -> http.client.HTTPResponse:
        return super().do_open(_WatchedHTTPSConnection, req, **kwargs)


class _Redirected(Exception):
    def __init__(self, status: int, location: str) -> None:
        super().__init__(status, location)
        self.status = status
        self.location = location


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuses every redirect (the default handler copies the Authorization header to the new
    host and turns a POST into a GET)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        fp.close()
        raise _Redirected(code, str(headers.get("Location") or newurl))


_OPENER = urllib.request.build_opener(_NoRedirect, _WatchedHTTPHandler, _WatchedHTTPSHandler)


class _TooBig(Exception):
    pass


class _Late(Exception):
    pass


class _Status(Exception):
    """An HTTP error status and the start of its body, read in the call's worker."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


#: How much of an error status's body is read to be quoted (300 characters are shown).
_ERROR_DETAIL = 4096


def _error_detail(exc: urllib.error.HTTPError, deadline: _Deadline) -> str:
    """The start of an error status's body, as much of it as arrives before the deadline."""
    chunks: list[bytes] = []
    size = 0
    try:
        while size < _ERROR_DETAIL and deadline.left() > 0:
            block = exc.read1(_ERROR_DETAIL - size)
            if not block:
                break
            chunks.append(block)
            size += len(block)
    except Exception:  # noqa: BLE001 - the status alone still says it
        pass
    finally:
        try:
            exc.close()
        except Exception:  # noqa: BLE001 - a socket the deadline shut: nothing to release
            pass
    return b"".join(chunks).decode("utf-8", "replace")[:300]


def _read_capped(resp: http.client.HTTPResponse, deadline: _Deadline, limit: int) -> bytes:
    declared = (resp.headers.get("Content-Length") or "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise _TooBig
    chunks: list[bytes] = []
    size = 0
    while True:
        if deadline.left() <= 0:
            raise _Late
        block = resp.read1(1 << 16)
        if not block:
            return b"".join(chunks)
        size += len(block)
        if size > limit:
            raise _TooBig
        chunks.append(block)


# -- strict reading of an answer ----------------------------------------------------------------


class _Malformed(ValueError):
    """The answer is not a completion; the message says what is wrong."""


def _reject_constant(name: str) -> float:
    if name == "-Infinity":
        return -math.inf  # a logprob of -inf is a probability of 0
    raise _Malformed(f"non-finite number {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if value == math.inf:  # 1e999
        raise _Malformed(f"number out of range {text[:40]}")
    return value


def _loads(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(
            raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float
        )
    except _Malformed:
        raise
    except (ValueError, RecursionError) as exc:
        raise _Malformed(f"not JSON ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(data, dict):
        raise _Malformed(f"a JSON {type(data).__name__}, not an object")
    return data


def _logprob(value: object) -> float:
    """A logprob from the server, at most 0 (``-inf``: probability 0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Malformed(f"logprob {str(value)[:40]!r} is not a number")
    try:
        lp = float(value)
    except OverflowError:  # an int too big for a float
        lp = math.inf if value > 0 else -math.inf
    if math.isnan(lp) or lp == math.inf:
        raise _Malformed(f"logprob {str(value)[:40]} is not finite")
    return min(lp, 0.0)


def _token(value: object) -> str:
    if not isinstance(value, str):
        raise _Malformed(f"token {str(value)[:40]!r} is not a string")
    return value


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _Malformed(f"{what} is a {type(value).__name__}, not an object")
    return value


def _list(value: object, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Malformed(f"{what} is a {type(value).__name__}, not a list")
    return value


def _first_choice(data: Mapping[str, Any]) -> Mapping[str, Any]:
    choices = _list(data.get("choices"), "choices")
    if not choices:
        raise _Malformed("no choices")
    return _mapping(choices[0], "choices[0]")


# -- the backend --------------------------------------------------------------------------------


class HttpModel:
    """A model behind an OpenAI-compatible server."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str = "",
        name: str = "",
        api_key: str = "",
        timeout: float = 60.0,
        top_logprobs: int = 20,
        max_body: int = MAX_BODY,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url.strip())
        host = parts.netloc.rpartition("@")[2]
        shown = urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, ""))
        if parts.scheme not in ("http", "https") or not host:
            raise ModelError(f"model server URL {scrub(shown)!r}: expected http(s)://host[:port]")
        base = shown.rstrip("/")
        # ``base_url`` never holds credentials: it is shown in errors and answers.
        self.base_url = base if base.endswith("/v1") else base + "/v1"
        self.model = model
        self.name = scrub(name) if name else (model or base)
        self.api_key = api_key
        self.timeout = timeout
        self.top_logprobs = top_logprobs
        self.max_body = max_body
        self._auth = ""
        if api_key:
            self._auth = f"Bearer {api_key}"
        elif parts.username is not None or parts.password is not None:
            user = urllib.parse.unquote(parts.username or "")
            secret = urllib.parse.unquote(parts.password or "")
            token = base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
            self._auth = f"Basic {token}"
        self._logprobs_ok: bool | None = None  # learned on first call
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HttpModel({self.base_url!r}, name={self.name!r})"

    # -- transport ------------------------------------------------------------------------------
    def _fetch(self, req: urllib.request.Request, deadline: _Deadline) -> bytes:
        """The answer's body (runs in the call's worker thread)."""
        _CURRENT.deadline = deadline
        per_operation = max(0.001, min(self.timeout, deadline.left()))
        try:
            resp = _OPENER.open(req, timeout=per_operation)
        except urllib.error.HTTPError as exc:
            # The error's body is read here, in the worker and under the deadline: read by the
            # caller afterwards (as before), a body sent a byte at a time held it past the
            # deadline for as long as the server liked.
            raise _Status(exc.code, _error_detail(exc, deadline)) from None
        with resp:
            return _read_capped(resp, deadline, self.max_body)

    def _post(self, path: str, body: Mapping[str, Any], deadline: _Deadline) -> dict[str, Any]:
        where = self.base_url + path
        late = ModelError(
            f"{where}: no complete answer within {self.timeout:g} s (the deadline of the whole "
            "call; the server is stalled or too slow)"
        )
        left = deadline.left()
        if left <= 0:
            raise late
        payload = dict(body)
        if self.model:
            payload["model"] = self.model
        headers = {"Content-Type": "application/json"}
        if self._auth:
            headers["Authorization"] = self._auth
        req = urllib.request.Request(
            where, data=json.dumps(payload).encode("utf-8"), headers=headers, method="POST"
        )
        box: list[bytes | BaseException] = []

        def work() -> None:
            try:
                box.append(self._fetch(req, deadline))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                box.append(exc)

        # The exchange runs in a worker so that the caller leaves at the deadline whatever the
        # phase (name lookup, TLS handshake, headers); the deadline then shuts its sockets.
        worker = threading.Thread(target=work, name="foundups-training-http", daemon=True)
        worker.start()
        worker.join(left)
        if not box:
            deadline.expire()
            raise late
        outcome = box[0]
        if isinstance(outcome, BaseException):
            raise self._error(outcome, where, deadline, late) from outcome
        try:
            return _loads(outcome)
        except _Malformed as exc:
            raise ModelError(f"{where}: the answer is not a completion ({exc})") from None

    def _error(
        self, exc: BaseException, where: str, deadline: _Deadline, late: ModelError
    ) -> ModelError:
        """The ModelError for what went wrong in the worker (never another type)."""
        if isinstance(exc, _Redirected):
            return ModelError(
                f"{where}: the server answered HTTP {exc.status} redirecting to "
                f"{scrub(exc.location)[:300]!r}; redirects are refused (set the model server "
                "URL to the address that answers)"
            )
        if isinstance(exc, _TooBig):
            return ModelError(f"{where}: the answer is larger than {self.max_body} bytes: refused")
        if isinstance(exc, _Late) or deadline.left() <= 0:
            return late
        if isinstance(exc, _Status):
            return HttpStatusError(f"{where}: HTTP {exc.code}: {scrub(exc.detail)}", exc.code)
        if isinstance(exc, urllib.error.URLError):
            return ModelError(f"{where}: cannot reach the model server ({scrub(str(exc.reason))})")
        if isinstance(exc, TimeoutError | OSError | http.client.HTTPException):
            return ModelError(
                f"{where}: cannot reach the model server ({type(exc).__name__}: "
                f"{scrub(str(exc))[:200]})"
            )
        return ModelError(f"{where}: {type(exc).__name__}: {scrub(str(exc))[:200]}")

    def _request(
        self,
        prompt: Prompt,
        *,
        max_tokens: int,
        stop: Sequence[str],
        logprobs: bool,
        deadline: _Deadline,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"max_tokens": max_tokens, "temperature": 0.0}
        if stop:
            body["stop"] = list(stop)
        if prompt.is_chat:
            messages = [dict(m) for m in prompt.messages]
            if prompt.suffix:
                messages.append({"role": "assistant", "content": prompt.suffix})
            body["messages"] = messages
            if logprobs:
                body.update(logprobs=True, top_logprobs=self.top_logprobs)
            return self._post("/chat/completions", body, deadline)
        body["prompt"] = prompt.text + prompt.suffix
        if logprobs:
            body["logprobs"] = self.top_logprobs
        return self._post("/completions", body, deadline)

    def _with_logprobs(
        self, prompt: Prompt, max_tokens: int, stop: Sequence[str], deadline: _Deadline
    ) -> tuple[dict[str, Any], bool]:
        """The answer, asking for logprobs unless the server is known to refuse them."""
        if self._logprobs_ok is not False:
            try:
                data = self._request(
                    prompt, max_tokens=max_tokens, stop=stop, logprobs=True, deadline=deadline
                )
                self._logprobs_ok = True
                return data, True
            except HttpStatusError as exc:
                message = str(exc)
                if "logprob" not in message.lower() and "logits_all" not in message:
                    raise
                self._logprobs_ok = False  # the server cannot: stop asking
        data = self._request(
            prompt, max_tokens=max_tokens, stop=stop, logprobs=False, deadline=deadline
        )
        return data, False

    def _guarded(self, what: str, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - a malformed answer is the model's error
            raise ModelError(
                f"{self.base_url}: the answer is not a completion ({what}: "
                f"{type(exc).__name__}: {scrub(str(exc))[:200]})"
            ) from None

    # -- reading answers --------------------------------------------------------------------------
    @staticmethod
    def _first_token_logprobs(data: Mapping[str, Any]) -> dict[str, float]:
        """token text -> logprob for the first generated position (both API shapes)."""
        lp = _mapping(_first_choice(data).get("logprobs"), "logprobs")
        content = lp.get("content")
        if isinstance(content, list) and content:  # chat shape
            first = _mapping(content[0], "logprobs.content[0]")
            out: dict[str, float] = {}
            for item in _list(first.get("top_logprobs"), "top_logprobs"):
                entry = _mapping(item, "top_logprobs[]")
                out[_token(entry.get("token"))] = _logprob(entry.get("logprob"))
            if "token" in first:
                out.setdefault(_token(first["token"]), _logprob(first.get("logprob", -math.inf)))
            return out
        tops = _list(lp.get("top_logprobs"), "top_logprobs")  # completions shape
        if tops and isinstance(tops[0], Mapping):
            return {_token(k): _logprob(v) for k, v in tops[0].items()}
        return {}

    @staticmethod
    def _text(data: Mapping[str, Any]) -> str:
        choice = _first_choice(data)
        if "message" in choice:
            content = _mapping(choice.get("message"), "message").get("content")
        else:
            content = choice.get("text")
        if content is None:
            return ""
        if not isinstance(content, str):
            raise _Malformed(f"the text is a {type(content).__name__}, not a string")
        return content

    @staticmethod
    def _token_logprobs(data: Mapping[str, Any]) -> list[float]:
        """The generated tokens' logprobs (chat or completions shape; [] when absent)."""
        lp = _mapping(_first_choice(data).get("logprobs"), "logprobs")
        content = lp.get("content")
        if isinstance(content, list):
            items = [_mapping(t, "logprobs.content[]") for t in content]
            return [_logprob(t["logprob"]) for t in items if "logprob" in t]
        values = _list(lp.get("token_logprobs"), "token_logprobs")
        return [_logprob(v) for v in values if v is not None]

    @staticmethod
    def _tokens(data: Mapping[str, Any], fallback: int) -> int:
        usage = data.get("usage")
        count = usage.get("completion_tokens") if isinstance(usage, Mapping) else None
        if isinstance(count, int) and not isinstance(count, bool) and count > 0:
            return count
        return fallback

    # -- the Backend protocol ---------------------------------------------------------------------
    def choose(self, prompt: Prompt, labels: Sequence[str]) -> Choice:
        """One generated token with its top logprobs, restricted to the labels."""
        if not labels:
            raise ValueError("choose() needs at least one label")
        deadline = _Deadline(self.timeout)
        data, asked = self._guarded("request", lambda: self._with_logprobs(prompt, 1, (), deadline))
        return self._guarded("choose", lambda: self._choice(data, asked, labels))

    def _choice(self, data: Mapping[str, Any], asked: bool, labels: Sequence[str]) -> Choice:
        labels = tuple(labels)  # ("AB" in "ABC" is True for a string of labels)
        # The generated token names a label only when it is that label (``A``, `` A``, ``A.``):
        # its first letter would make "Based on …" a B and "Answer: C" an A, at 0.9.
        said = self._text(data).strip().rstrip(".:),")
        if asked:
            tops = self._first_token_logprobs(data)
            masses = [
                sum(math.exp(lp) for tok, lp in tops.items() if tok.strip() == lab)
                for lab in labels
            ]
            total = sum(masses)
            if total > 0:
                return Choice(probs=tuple(m / total for m in masses), label_mass=min(total, 1.0))
        # No usable probabilities: trust the generated letter, and say the mass is unknown.
        n = len(labels)
        probs = tuple(
            (0.9 if lab == said else 0.1 / max(1, n - 1)) if said in labels else 1 / n
            for lab in labels
        )
        return Choice(probs=probs, label_mass=0.0)

    def complete(
        self, prompt: Prompt, max_tokens: int = 64, stop: Sequence[str] = ()
    ) -> Completion:
        """Greedy completion (temperature 0); mean token probability when logprobs come."""
        deadline = _Deadline(self.timeout)
        data, _ = self._guarded(
            "request", lambda: self._with_logprobs(prompt, max_tokens, stop, deadline)
        )
        return self._guarded("complete", lambda: self._completion(data))

    def _completion(self, data: Mapping[str, Any]) -> Completion:
        lps = self._token_logprobs(data)
        return Completion(
            text=self._text(data).strip(),
            mean_prob=sum(math.exp(lp) for lp in lps) / len(lps) if lps else 0.0,
            tokens=self._tokens(data, len(lps)),
            extra={"server": self.base_url},
        )

    def close(self) -> None:
        """Nothing is held between calls."""
