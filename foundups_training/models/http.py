"""OpenAI-compatible HTTP backend: llama-cpp-python's server, llama.cpp's server, vLLM.

Moving a tier to a model server is configuration (``FOUNDUPS_TRAINING_QWEN_URL`` /
``..._GEMMA_URL``), not a fork of the code. Text prompts go to ``/v1/completions``; chat
prompts to ``/v1/chat/completions`` so the server applies its own chat template.

Confidence comes from ``logprobs`` of one generated token. llama-cpp-python's server only
returns them when started with ``--logits_all true``; llama.cpp's server and vLLM return them
natively. A server that refuses logprobs still answers: the generated letter gets the
probabilities, with ``label_mass`` 0 to say the confidence is unknown.

Standard library only (urllib): no extra dependency for a client this small.
"""

from __future__ import annotations

import json
import math
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from foundups_training.models.base import Choice, Completion, ModelError, Prompt


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
    ) -> None:
        base = base_url.rstrip("/")
        self.base_url = base if base.endswith("/v1") else base + "/v1"
        self.model = model
        self.name = name or model or base_url
        self.api_key = api_key
        self.timeout = timeout
        self.top_logprobs = top_logprobs
        self._logprobs_ok: bool | None = None  # learned on first call
        self._lock = threading.Lock()

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        payload = dict(body)
        if self.model:
            payload["model"] = self.model
        req = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json"}
            | ({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}),
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return dict(json.loads(resp.read().decode("utf-8")))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            raise ModelError(f"{self.base_url}{path}: HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ModelError(
                f"{self.base_url}{path}: cannot reach the model server ({reason})"
            ) from exc
        except ValueError as exc:
            raise ModelError(f"{self.base_url}{path}: answer is not JSON ({exc})") from exc

    def _request(
        self, prompt: Prompt, *, max_tokens: int, stop: Sequence[str], logprobs: bool
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
            return self._post("/chat/completions", body)
        body["prompt"] = prompt.text + prompt.suffix
        if logprobs:
            body["logprobs"] = self.top_logprobs
        return self._post("/completions", body)

    @staticmethod
    def _first_token_logprobs(data: Mapping[str, Any]) -> dict[str, float]:
        """token text -> logprob for the first generated position (both API shapes)."""
        choice = (data.get("choices") or [{}])[0]
        lp = choice.get("logprobs") or {}
        if isinstance(lp.get("content"), list) and lp["content"]:  # chat shape
            first = lp["content"][0]
            out = {str(t["token"]): float(t["logprob"]) for t in first.get("top_logprobs", [])}
            out.setdefault(str(first.get("token", "")), float(first.get("logprob", -math.inf)))
            return out
        tops = lp.get("top_logprobs") or []  # completions shape
        if tops and isinstance(tops[0], Mapping):
            return {str(k): float(v) for k, v in tops[0].items()}
        return {}

    @staticmethod
    def _text(data: Mapping[str, Any]) -> str:
        choice = (data.get("choices") or [{}])[0]
        if "message" in choice:
            return str((choice.get("message") or {}).get("content") or "")
        return str(choice.get("text") or "")

    def choose(self, prompt: Prompt, labels: Sequence[str]) -> Choice:
        """One generated token with its top logprobs, restricted to the labels."""
        if not labels:
            raise ValueError("choose() needs at least one label")
        data: dict[str, Any] | None = None
        if self._logprobs_ok is not False:
            try:
                data = self._request(prompt, max_tokens=1, stop=(), logprobs=True)
                self._logprobs_ok = True
            except ModelError as exc:
                if "logprob" not in str(exc).lower() and "logits_all" not in str(exc):
                    raise
                self._logprobs_ok = False  # the server cannot: stop asking
        if data is not None:
            tops = self._first_token_logprobs(data)
            masses = [
                sum(math.exp(lp) for tok, lp in tops.items() if tok.strip() == lab)
                for lab in labels
            ]
            total = sum(masses)
            if total > 0:
                return Choice(probs=tuple(m / total for m in masses), label_mass=min(total, 1.0))
        else:
            data = self._request(prompt, max_tokens=1, stop=(), logprobs=False)
        # No usable probabilities: trust the generated letter, and say the mass is unknown.
        said = self._text(data).strip()[:1]
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
        data: dict[str, Any] | None = None
        if self._logprobs_ok is not False:
            try:
                data = self._request(prompt, max_tokens=max_tokens, stop=stop, logprobs=True)
                self._logprobs_ok = True
            except ModelError as exc:
                if "logprob" not in str(exc).lower() and "logits_all" not in str(exc):
                    raise
                self._logprobs_ok = False
        if data is None:
            data = self._request(prompt, max_tokens=max_tokens, stop=stop, logprobs=False)
        usage = data.get("usage") or {}
        lps = self._token_logprobs(data)
        return Completion(
            text=self._text(data).strip(),
            mean_prob=sum(math.exp(lp) for lp in lps) / len(lps) if lps else 0.0,
            tokens=int(usage.get("completion_tokens", 0) or len(lps)),
            extra={"server": self.base_url},
        )

    @staticmethod
    def _token_logprobs(data: Mapping[str, Any]) -> list[float]:
        """The generated tokens' logprobs (chat or completions shape; [] when absent)."""
        choice = (data.get("choices") or [{}])[0]
        lp = choice.get("logprobs") or {}
        if isinstance(lp.get("content"), list):
            return [float(t.get("logprob", 0.0)) for t in lp["content"] if "logprob" in t]
        values = lp.get("token_logprobs") or []
        return [float(v) for v in values if v is not None]

    def close(self) -> None:
        """Nothing is held between calls."""
