"""The rows of the metrics store, as frozen dataclasses (what the query methods return)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """How many patterns the memory held at one moment, by kind."""

    ts: float
    total: int
    by_kind: Mapping[str, int] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TrainingRun:
    """One mining / indexing / idle / live run and what it did."""

    ts: float
    kind: str  # "batch" (log mining), "index" (host tree), "idle", "live"
    source: str = ""  # the log file or host tree
    lines_processed: int = 0
    lines_total: int | None = None
    patterns_stored: int = 0
    patterns_total: int | None = None
    verified: int | None = None
    duration_s: float = 0.0
    success: bool = True
    error: str = ""
    id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AnswerRow:
    """One answer the router gave."""

    ts: float
    query: str
    tier: str
    model: str = ""
    confidence: float = 0.0
    latency_ms: float = 0.0
    escalated: bool = False
    escalation_reason: str = ""
    n_patterns: int = 0
    asked_by: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    """One reliability-diagram bin: answers whose confidence fell in ``[lower, upper)``."""

    lower: float
    upper: float
    count: int
    confidence: float  # mean confidence of the answers in the bin
    accuracy: float  # fraction of them that were right

    @classmethod
    def coerce(cls, value: CalibrationBin | Mapping[str, Any] | Sequence[Any]) -> CalibrationBin:
        """Accept a bin, a mapping with these field names, or a 5-tuple in field order."""
        if isinstance(value, CalibrationBin):
            return value
        if isinstance(value, Mapping):
            return cls(
                lower=float(value["lower"]),
                upper=float(value["upper"]),
                count=int(value.get("count", value.get("n", 0))),
                confidence=float(value.get("confidence", value.get("mean_confidence", 0.0))),
                accuracy=float(value["accuracy"]),
            )
        lower, upper, count, confidence, accuracy = value
        return cls(float(lower), float(upper), int(count), float(confidence), float(accuracy))


@dataclass(frozen=True, slots=True)
class EvalTier:
    """The result of one tier ("routed", "memory", "gemma", "qwen") in one evaluation run.

    Rates are fractions in [0, 1]; latencies are milliseconds.
    """

    tier: str
    n: int
    accuracy: float
    escalation_rate: float = 0.0
    ece: float | None = None  # expected calibration error
    brier: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    calibration: tuple[CalibrationBin, ...] = ()

    @classmethod
    def coerce(cls, value: EvalTier | Mapping[str, Any] | Any) -> EvalTier:
        """Accept an EvalTier, a mapping, or any object with these attribute names."""
        if isinstance(value, EvalTier):
            return value
        if not isinstance(value, Mapping):
            as_dict = getattr(value, "as_dict", None)
            value = as_dict() if callable(as_dict) else dict(vars(value))
        bins = value.get("calibration", value.get("calibration_bins")) or ()
        return cls(
            tier=str(value["tier"]),
            n=int(value.get("n", value.get("count", 0))),
            accuracy=float(value["accuracy"]),
            escalation_rate=float(value.get("escalation_rate", 0.0) or 0.0),
            ece=_opt_float(value.get("ece")),
            brier=_opt_float(value.get("brier")),
            p50_ms=_opt_float(value.get("p50_ms")),
            p95_ms=_opt_float(value.get("p95_ms")),
            calibration=tuple(CalibrationBin.coerce(b) for b in bins),
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class EvalRun:
    """One evaluation run: a dataset and the result of each tier on it."""

    id: int
    ts: float
    dataset: str
    n_items: int
    tiers: tuple[EvalTier, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def tier(self, name: str) -> EvalTier | None:
        """The result of tier ``name`` in this run, if it was evaluated."""
        return next((t for t in self.tiers if t.tier == name), None)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "id": self.id,
            "ts": self.ts,
            "dataset": self.dataset,
            "n_items": self.n_items,
            "tiers": [t.as_dict() for t in self.tiers],
            "meta": dict(self.meta),
        }
