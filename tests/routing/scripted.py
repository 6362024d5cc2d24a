"""Scripted stand-ins for the models and the memory (unit tests of routing logic only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from foundups_training.models.base import Choice, Completion, ModelError, Prompt
from foundups_training.records import Pattern, Recalled


@dataclass
class ScriptedModel:
    """Answers ``choose`` with fixed probabilities and ``complete`` with fixed text."""

    name: str
    probs: Sequence[float] | None = None  # None: uniform
    text: str = "scripted answer"
    mean_prob: float = 0.8
    fail: str = ""
    calls: list[tuple[str, Prompt]] = field(default_factory=list)
    closed: bool = False

    def choose(self, prompt: Prompt, labels: Sequence[str]) -> Choice:
        self.calls.append(("choose", prompt))
        if self.fail:
            raise ModelError(self.fail)
        probs = list(self.probs or [1.0] * len(labels))[: len(labels)]
        probs += [1e-3] * (len(labels) - len(probs))
        total = sum(probs)
        return Choice(probs=tuple(p / total for p in probs))

    def complete(
        self, prompt: Prompt, max_tokens: int = 64, stop: Sequence[str] = ()
    ) -> Completion:
        self.calls.append(("complete", prompt))
        if self.fail:
            raise ModelError(self.fail)
        return Completion(text=self.text, mean_prob=self.mean_prob, tokens=3)

    def close(self) -> None:
        self.closed = True


class ListMemory:
    """recall() over a fixed list, similarity given per pattern (ignores the query)."""

    def __init__(self, items: Sequence[tuple[Pattern, float]], fail: bool = False) -> None:
        self.items = list(items)
        self.fail = fail
        self.calls: list[dict] = []

    def recall(self, query, n=5, where=None, min_similarity=0.0):
        self.calls.append({"query": query, "n": n, "where": where})
        if self.fail:
            raise RuntimeError("store is down")
        out = [
            Recalled(p, s)
            for p, s in self.items
            if s >= min_similarity and _matches(p.kind, (where or {}).get("kind"))
        ]
        out.sort(key=lambda r: -r.similarity)
        return out[:n]


def _matches(kind: str, wanted: object) -> bool:
    """The subset of Chroma's where syntax the router uses: equality, ``$ne``, ``$in``,
    ``$nin``."""
    if wanted is None:
        return True
    if isinstance(wanted, dict):
        if "$in" in wanted:
            return kind in wanted["$in"]
        if "$nin" in wanted:
            return kind not in wanted["$nin"]
        return kind != wanted.get("$ne")
    return kind == wanted


def module_pattern(module: str, context: str) -> Pattern:
    """A module_location pattern as the code index would write it."""
    return Pattern.make("module_location", context, module, module=module, source="code")


def module_passage(module: str, context: str) -> Pattern:
    """A passage of a module's README or INTERFACE (``module_doc``) as the code index
    would write it."""
    return Pattern.make("module_doc", context, f"{module}/", module=module, source="code")
