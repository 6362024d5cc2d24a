"""The records passed between stages: small frozen dataclasses, no dicts across boundaries.

Every stage (mining, memory, routing, adapters, metrics) speaks in these types. They are
plain data: no I/O, no heavy imports, cheap to build on a DAE's hot path.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

#: The pattern kinds the miner, the live path and the code index produce.
PATTERN_KINDS: tuple[str, ...] = (
    "module_location",
    "module_doc",
    "priority",
    "wsp_compliance",
    "stream",
    "error_fix",
    "moderation",
    "chat_response",
    "command",
    "log_template",
)

#: Where a pattern came from.
PATTERN_SOURCES: tuple[str, ...] = ("log", "code", "live_chat", "telemetry", "manual")

_WS = re.compile(r"\s+")


#: The line of a mined context after which come the records that led to its situation
#: (``mining.extractors.build_context``).
BEFORE_MARK = "\nBefore:"


def situation_of(context: str) -> str:
    """A context without the "Before:" lines: the words of this event, not earlier ones."""
    return context.split(BEFORE_MARK, 1)[0]


def normalise(text: str) -> str:
    """Lower-case and collapse whitespace: the form a pattern's identity is computed on."""
    return _WS.sub(" ", text).strip().lower()


def pattern_id(kind: str, key: str, decision: str, module: str = "") -> str:
    """Deterministic id of a pattern: a hash of its normalised identity.

    ``key`` is what makes two observations "the same situation" (for mined lines, the masked
    template, not the raw line), so seeing it again raises support counts instead of adding a
    duplicate. The decision is part of the identity: contradicting decisions for the same key
    are different patterns and both are kept.
    """
    h = hashlib.sha256()
    for part in (kind, normalise(module), normalise(key), normalise(decision)):
        h.update(part.encode("utf-8", "replace"))
        h.update(b"\x1f")
    return f"{kind[:4]}-{h.hexdigest()[:24]}"


def module_summary_id(module: str) -> str:
    """Id of the pattern that sums up one module of the host's tree (its README, its files'
    docstrings, its classes), as :mod:`foundups_training.mining.host_index` writes it."""
    module = module.strip("/")
    return pattern_id("module_location", module, f"{module}/", module)


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision a host DAE made (or a human moderator made), as seen by an adapter.

    ``subject`` names who or what the decision is about (a chat author's channel id), so a
    later decision about the same subject can become the outcome of this one.
    """

    id: str
    source: str  # e.g. "live_chat"
    action: str  # e.g. "respond", "skip", "timeout", "ban", "classify"
    context: Mapping[str, Any] = field(default_factory=dict)
    confidence: float | None = None
    reasoning: str = ""
    outcome: str = ""
    subject: str = ""
    stream: str = ""
    timestamp: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        object.__setattr__(self, "context", _frozen_mapping(self.context))


#: One recorded instance of a pattern: (situation line, decision, outcome) as logged.
Variant = tuple[str, str, str]

#: At most this many distinct instances are kept per pattern (the first seen).
MAX_VARIANTS = 8

#: What masking puts where a value varied (see ``mining.templates``).
MASKED = re.compile(r"<(?:NUM|ID|HEX|PATH|STR|URL)>")


def merge_instances(
    old: tuple[Variant, ...],
    old_tally: tuple[int, ...],
    new: tuple[Variant, ...],
    new_tally: tuple[int, ...],
) -> tuple[tuple[Variant, ...], tuple[int, ...]]:
    """Two patterns' instances (:func:`merge_variants`) and how often each was seen.

    A tally counts each kept instance (``tally[i]`` is how often ``variants[i]`` was seen)
    and is empty when it cannot be exact: once :data:`MAX_VARIANTS` instances are kept (a
    later one was left out, or will be), or when either side has none (a store written
    before tallies existed). Associative, like the instances."""
    variants = merge_variants(old, new)
    if (
        not variants
        or len(variants) >= MAX_VARIANTS
        or len(old_tally) != len(old)
        or len(new_tally) != len(new)
    ):
        return variants, ()
    counts = dict.fromkeys((v[:2] for v in variants), 0)
    for kept, tally in ((old, old_tally), (new, new_tally)):
        for v, n in zip(kept, tally, strict=True):
            counts[v[:2]] += n
    return variants, tuple(counts[v[:2]] for v in variants)


def merge_variants(old: tuple[Variant, ...], new: tuple[Variant, ...]) -> tuple[Variant, ...]:
    """The first :data:`MAX_VARIANTS` instances of ``old`` then ``new`` that differ in their
    situation or decision (an instance keeps the outcome it was first seen with: outcomes
    carry their time, so each would count as new).

    Associative, so folding observations in chunks keeps the same instances as one pass."""
    if not new or len(old) >= MAX_VARIANTS:
        return old
    out = list(old)
    seen = {v[:2] for v in old}
    for v in new:
        if v[:2] not in seen:
            seen.add(v[:2])
            out.append(v)
            if len(out) >= MAX_VARIANTS:
                break
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Pattern:
    """A verified-or-not piece of experience worth remembering.

    ``context`` is what the situation looked like (the text that gets embedded), ``decision``
    what was decided, ``outcome`` what happened next (empty when the log shows nothing).
    ``seen``/``first_seen``/``last_seen`` are support counts kept by consolidation and by the
    memory's idempotent upsert. ``variants`` keeps the first few concrete instances of an
    episode, or of a routine line whose decision masks what varied (:func:`merge_variants`),
    and ``tally`` how often each was seen (:func:`merge_instances`).
    """

    id: str
    kind: str
    context: str
    decision: str
    outcome: str = ""
    module: str = ""
    timestamp: str = ""
    source: str = "log"
    verified: bool = False
    code_ref: str = ""
    seen: int = 1
    first_seen: str = ""
    last_seen: str = ""
    #: a few concrete instances when the decision is masked (``routing.instances``)
    variants: tuple[Variant, ...] = ()
    #: how often each of ``variants`` was seen; empty when that is not known exactly
    #: (:func:`merge_instances`)
    tally: tuple[int, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pattern:
        """A pattern from ``dataclasses.asdict`` output read back from JSON: unknown keys are
        ignored, and the instances' lists become tuples again."""
        known = {k: v for k, v in data.items() if k in _PATTERN_FIELD_NAMES}
        if "variants" in known:
            known["variants"] = tuple(tuple(v) for v in known["variants"])
        if "tally" in known:
            known["tally"] = tuple(int(n) for n in known["tally"])
        return cls(**known)

    @classmethod
    def make(
        cls,
        kind: str,
        context: str,
        decision: str,
        *,
        key: str | None = None,
        module: str = "",
        **fields: Any,
    ) -> Pattern:
        """Build a pattern whose id is derived from ``key`` (default: the context)."""
        pid = pattern_id(kind, context if key is None else key, decision, module)
        ts = fields.get("timestamp", "")
        fields.setdefault("first_seen", ts)
        fields.setdefault("last_seen", ts)
        return cls(id=pid, kind=kind, context=context, decision=decision, module=module, **fields)

    def with_outcome(self, outcome: str) -> Pattern:
        """The same pattern with its outcome filled."""
        return replace(self, outcome=outcome)


_PATTERN_FIELD_NAMES = frozenset(f.name for f in fields(Pattern))


@dataclass(frozen=True, slots=True)
class Recalled:
    """A pattern returned by recall, with its cosine similarity to the query (1.0 = same)."""

    pattern: Pattern
    similarity: float


@dataclass(frozen=True, slots=True)
class Near:
    """A stored pattern's place in a recall without its text: its id, kind and module and its
    cosine similarity to the query. ``pattern`` is the whole pattern when the recall read it
    (a memory without :meth:`~foundups_training.memory.store.PatternMemory.neighbours`), else
    None: fetch the few wanted with ``patterns(ids)``."""

    id: str
    kind: str
    module: str
    similarity: float
    pattern: Pattern | None = None

    @classmethod
    def of(cls, recalled: Recalled) -> Near:
        """A full recall's hit, its pattern kept."""
        p = recalled.pattern
        return cls(p.id, p.kind, p.module, recalled.similarity, p)


@dataclass(frozen=True, slots=True)
class Query:
    """A question for the training plugin.

    ``tier`` forces a tier ("memory", "gemma", "qwen"); "auto" lets the router choose.
    ``labels`` optionally restricts the answer to a closed set (classification questions).
    """

    text: str
    tier: str = "auto"
    kind: str = ""
    labels: tuple[str, ...] = ()
    n_patterns: int = 5
    asked_by: str = "cli"


@dataclass(frozen=True, slots=True)
class Answer:
    """What the router answered, and everything needed to judge it."""

    text: str
    tier: str  # "memory" | "gemma" | "qwen" | "none"
    model: str = ""
    confidence: float = 0.0
    escalated: bool = False
    escalation_reason: str = ""
    latency_ms: float = 0.0
    patterns: tuple[str, ...] = ()
    error: str = ""


@dataclass(frozen=True, slots=True)
class IdleBudget:
    """How much an idle cycle may spend: lines and/or seconds (None = no limit on that axis)."""

    max_lines: int | None = 5000
    max_seconds: float | None = 60.0
    reason: str = "idle"


@dataclass(frozen=True, slots=True)
class IdleReport:
    """What an idle cycle did; ``as_host_result`` gives the dict IdleAutomationDAE expects."""

    lines_processed: int = 0
    patterns_stored: int = 0
    patterns_total: int = 0
    duration_s: float = 0.0
    success: bool = True
    progress: float | None = None
    error: str = ""
    skipped_reason: str = ""

    def as_host_result(self) -> dict[str, Any]:
        """The shape of ``IdleAutomationDAE._execute_pattern_training``'s return value."""
        result: dict[str, Any] = {
            "task": "pattern_training",
            "success": self.success,
            "patterns_stored": self.patterns_stored,
            "lines_processed": self.lines_processed,
            "duration": round(self.duration_s, 3),
        }
        if self.progress is not None:
            result["progress"] = self.progress
        if self.error:
            result["error"] = self.error
        if self.skipped_reason:
            result["skipped_reason"] = self.skipped_reason
        return result
