"""What every model backend offers: pick one of a few labels, or complete a prompt.

Both backends (in-process llama.cpp, OpenAI-compatible HTTP) and the scripted model used in
tests implement :class:`Backend`. The router only speaks these types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class ModelError(RuntimeError):
    """A model could not be loaded or failed while answering; the message says which."""


#: Seconds a model that could not be set up or loaded is not tried again (the router's tiers,
#: llama.cpp's loads): a fixed cause (the GGUF installed, memory freed) is seen without
#: restarting the host, yet a failure is not paid for on every question.
RETRY_LOAD_S = 60.0
#: Each further failure in a row doubles that wait, up to this: a cause that lasts (a full
#: disk under the cache, where every retry joins and hashes 1.1 GB of Qwen again) is not
#: paid for every minute.
RETRY_LOAD_MAX_S = 3600.0


def retry_wait(failures: int) -> float:
    """Seconds before a model is tried again after ``failures`` failures in a row."""
    return min(RETRY_LOAD_S * 2 ** min(max(failures, 1) - 1, 32), RETRY_LOAD_MAX_S)


@dataclass(frozen=True)
class Prompt:
    """A prompt either as plain text (base models) or as chat messages (instruct models).

    ``messages`` are ``{"role", "content"}`` mappings rendered with the model's own chat
    template; ``text`` is used verbatim. ``suffix`` is appended after rendering (e.g. the
    start of the assistant's reply) so the next token is the label.
    """

    text: str = ""
    messages: tuple[Mapping[str, str], ...] = ()
    suffix: str = ""

    @property
    def is_chat(self) -> bool:
        """True when the prompt is chat messages."""
        return bool(self.messages)


@dataclass(frozen=True)
class Choice:
    """The model's next-token distribution restricted to the labels.

    ``probs`` sums to 1 over the labels; ``label_mass`` is how much of the unrestricted
    distribution fell on them (low mass = the model wanted to say something else).
    """

    probs: tuple[float, ...]
    label_mass: float = 1.0
    prompt_tokens: int = 0
    cached_tokens: int = 0

    @property
    def best(self) -> int:
        """Index of the most probable label."""
        return max(range(len(self.probs)), key=self.probs.__getitem__)


@dataclass(frozen=True)
class Completion:
    """Generated text and the mean probability of its (greedy) tokens."""

    text: str
    mean_prob: float = 0.0
    tokens: int = 0
    extra: Mapping[str, object] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """A loaded (or lazily loadable) model."""

    name: str

    def choose(self, prompt: Prompt, labels: Sequence[str]) -> Choice:
        """Probabilities of each label being the next token after the prompt."""
        ...

    def complete(
        self, prompt: Prompt, max_tokens: int = 64, stop: Sequence[str] = ()
    ) -> Completion:
        """Greedy completion of the prompt."""
        ...

    def close(self) -> None:
        """Release what the backend holds."""
        ...
