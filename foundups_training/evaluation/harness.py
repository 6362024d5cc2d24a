"""The evaluation harness: every tier on the same questions, measured the same way.

Tiers: ``routed`` (the router's own choice), ``memory`` (no model), ``gemma`` and ``qwen``
(forced). Per tier: accuracy (overall and on lookups), escalation rate, expected calibration
error, Brier score, p50/p95 latency and how many answers carried an error; one JSON line per
(item, tier) for the per-item file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from foundups_training.evaluation.qa import QAItem, is_right
from foundups_training.models.calibration import Calibration, CurveMap, fit_platt, unit
from foundups_training.records import Answer, Query

#: Evaluation tier -> the Query.tier that forces it.
TIER_QUERY = {"routed": "auto", "memory": "memory", "gemma": "gemma", "qwen": "qwen"}

#: Kinds that are lookups (the seed's "Gemma handles" set); everything but reasoning.
REASONING_KINDS = frozenset({"reasoning", "why", "intent"})


class Answering(Protocol):
    """A router (or anything) that answers with details; see Router.answer_detailed."""

    def answer_detailed(self, query: Query) -> tuple[Answer, Any]: ...


@dataclass(frozen=True)
class ItemResult:
    """One (question, tier) result: one line of the per-item file."""

    id: str
    tier: str
    kind: str
    query: str
    expected: tuple[str, ...]
    answer: str
    right: bool
    confidence: float
    raw: float
    scorer: str
    answered_by: str
    model: str
    escalated: bool
    escalation_reason: str
    latency_ms: float
    patterns: tuple[str, ...]
    error: str
    intent: str = ""  # what the router took the question for (reasoning, lookup, …)
    coverage: float = 0.0  # share of the question's content words the answer's patterns say


@dataclass
class TierReport:
    """The measures of one tier."""

    tier: str
    n: int = 0
    accuracy: float = 0.0
    lookup_n: int = 0
    lookup_accuracy: float | None = None
    escalation_rate: float = 0.0
    ece: float = 0.0
    brier: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    errors: int = 0
    answered_by: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, float] = field(default_factory=dict)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def ece(confidences: Sequence[float], rights: Sequence[bool], bins: int = 10) -> float:
    """Expected calibration error with equal-width bins (1.0 falls in the last one)."""
    n = len(confidences)
    if n == 0:
        return 0.0
    confidences = [unit(c) for c in confidences]
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [
            i for i, c in enumerate(confidences) if (lo <= c < hi) or (b == bins - 1 and c == 1.0)
        ]
        if not idx:
            continue
        acc = sum(rights[i] for i in idx) / len(idx)
        conf = sum(confidences[i] for i in idx) / len(idx)
        total += abs(acc - conf) * len(idx) / n
    return total


def brier(confidences: Sequence[float], rights: Sequence[bool]) -> float:
    """Mean squared difference between confidence and being right."""
    if not confidences:
        return 0.0
    return sum((unit(c) - float(r)) ** 2 for c, r in zip(confidences, rights, strict=True)) / len(
        confidences
    )


def summarise(tier: str, results: Sequence[ItemResult]) -> TierReport:
    """The tier's measures from its item results."""
    report = TierReport(tier=tier, n=len(results))
    if not results:
        return report
    rights = [r.right for r in results]
    confs = [r.confidence for r in results]
    report.accuracy = sum(rights) / len(results)
    lookups = [r for r in results if r.kind not in REASONING_KINDS]
    report.lookup_n = len(lookups)
    if lookups:
        report.lookup_accuracy = sum(r.right for r in lookups) / len(lookups)
    report.escalation_rate = sum(r.escalated for r in results) / len(results)
    report.ece = ece(confs, rights)
    report.brier = brier(confs, rights)
    latencies = [r.latency_ms for r in results]
    report.p50_ms = percentile(latencies, 50)
    report.p95_ms = percentile(latencies, 95)
    report.errors = sum(bool(r.error) for r in results)
    for r in results:
        report.answered_by[r.answered_by] = report.answered_by.get(r.answered_by, 0) + 1
    kinds: dict[str, list[bool]] = {}
    for r in results:
        kinds.setdefault(r.kind or "?", []).append(r.right)
    report.by_kind = {k: sum(v) / len(v) for k, v in sorted(kinds.items())}
    return report


@dataclass
class EvalReport:
    """Every tier's report plus the item results."""

    items: int
    tiers: dict[str, TierReport]
    results: list[ItemResult]
    calibration: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The summary as plain data (no per-item rows)."""
        return {
            "items": self.items,
            "tiers": {k: asdict(v) for k, v in self.tiers.items()},
            "calibration": self.calibration,
        }

    def write_items(self, path: Path | str) -> Path:
        """The per-item JSONL file."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        # errors="replace": a question holding a lone surrogate must not cut the file short
        with target.open("w", encoding="utf-8", errors="replace") as fh:
            for r in self.results:
                row = {k: _json_number(v) for k, v in asdict(r).items()}
                fh.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
        return target


def _json_number(value: Any) -> Any:
    """``value``, with a float that is NaN or infinite as None: ``json`` writes those as
    ``NaN`` and ``Infinity``, which jq, JavaScript and every strict parser refuse, and a
    NaN raw score is one the calibration expects (it maps like 0)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def evaluate(
    router: Answering,
    items: Sequence[QAItem],
    tiers: Iterable[str] = ("routed", "memory", "gemma", "qwen"),
    *,
    n_patterns: int = 5,
    progress: Callable[[int, int], None] | None = None,
    warmup: bool = True,
) -> EvalReport:
    """Ask every item of every tier; the kind is NOT given to the router (it must infer).

    A tier named twice is asked once: asked twice, its report counted every question twice
    (``n`` doubled, the per-item file with every row twice).
    """
    tiers = list(dict.fromkeys(tiers))
    for t in tiers:
        if t not in TIER_QUERY:
            raise ValueError(f"unknown tier {t!r} (choose from {', '.join(TIER_QUERY)})")
    if warmup and items:
        # Load the embedder and each model once before timing: p50/p95 measure answering,
        # not the one-off load on the first question (the routed tier may use both models).
        models = {"gemma", "qwen"} if "routed" in tiers else set()
        for tier in sorted({"memory"} | models | {t for t in tiers if t in ("gemma", "qwen")}):
            router.answer_detailed(Query(text=items[0].query, tier=tier, asked_by="eval"))
    results: list[ItemResult] = []
    total, done = len(items) * len(tiers), 0
    for tier in tiers:
        for item in items:
            answer, detail = router.answer_detailed(
                Query(
                    text=item.query, tier=TIER_QUERY[tier], n_patterns=n_patterns, asked_by="eval"
                )
            )
            results.append(
                ItemResult(
                    id=item.id,
                    tier=tier,
                    kind=item.kind,
                    query=item.query,
                    expected=item.expected,
                    answer=answer.text,
                    right=is_right(answer.text, item.expected, item.kind),
                    confidence=float(answer.confidence),
                    raw=float(getattr(detail, "raw", answer.confidence)),
                    scorer=str(getattr(detail, "scorer", "")),
                    answered_by=answer.tier,
                    model=answer.model,
                    escalated=answer.escalated,
                    escalation_reason=answer.escalation_reason,
                    latency_ms=float(answer.latency_ms),
                    patterns=tuple(answer.patterns),
                    error=answer.error,
                    intent=str(getattr(detail, "intent", "")),
                    coverage=float(getattr(detail, "coverage", 0.0)),
                )
            )
            done += 1
            if progress is not None:
                progress(done, total)
    reports = {t: summarise(t, [r for r in results if r.tier == t]) for t in tiers}
    return EvalReport(items=len(items), tiers=reports, results=results)


def calibration_samples(
    results: Iterable[ItemResult], by_intent: bool = False
) -> dict[str, list[tuple[float, bool, float]]]:
    """(raw score, right, word coverage) per scorer, from the forced tiers (one sample per
    question); with ``by_intent``, per ``scorer.intent`` instead.

    A scorer is fitted on the questions it scores when routed: a question the router takes
    for reasoning goes to Qwen's open answer, so the picks that forced memory, Gemma or Qwen
    tiers made for it among lookup candidates (mostly wrong) would only bend the curves of
    those pickers (seen: a negative slope for memory and Gemma with 8 reasoning questions
    among 49).
    """
    samples: dict[str, list[tuple[float, bool, float]]] = {}
    for scorer, intent, sample in _picks(results):
        key = f"{scorer}.{intent}" if by_intent and intent else scorer
        samples.setdefault(key, []).append(sample)
    return samples


def _picks(results: Iterable[ItemResult]) -> Iterable[tuple[str, str, tuple[float, bool, float]]]:
    """(scorer, intent, sample) of every result that calibrates its scorer."""
    for r in results:
        if r.tier == "routed" or not r.scorer or r.error:
            continue
        if not (math.isfinite(r.raw) and math.isfinite(r.coverage)):
            continue  # no curve can be fitted through it (the fit would end in ValueError)
        if r.intent == "reasoning" and r.scorer != "qwen_open":
            continue
        yield r.scorer, r.intent, (r.raw, r.right, r.coverage)


def _loo_losses(
    fit_on: Sequence[tuple[float, bool, float]],
    test: Sequence[int],
    fitter: Callable[[list[tuple[float, bool, float]]], Any],
) -> list[float]:
    """The log loss of each sample in ``test`` (indices into ``fit_on``), predicted by a
    curve fitted on all the other samples: leave-one-out, honest on a small set."""
    out = []
    for i in test:
        curve = fitter([s for j, s in enumerate(fit_on) if j != i])
        raw, right, cov = fit_on[i]
        p = min(max(curve(raw, cov), 1e-6), 1 - 1e-6)
        out.append(-math.log(p if right else 1 - p))
    return out


def _loo_loss(
    fit_on: Sequence[tuple[float, bool, float]],
    test: Sequence[int],
    fitter: Callable[[list[tuple[float, bool, float]]], Any],
) -> float:
    """Mean leave-one-out log loss on the samples ``test`` (see :func:`_loo_losses`)."""
    return sum(_loo_losses(fit_on, test, fitter)) / max(1, len(test))


def _clearly_lower(new: Sequence[float], old: Sequence[float]) -> bool:
    """Whether per-sample losses ``new`` beat ``old`` (the same samples) by more than one
    standard error of their paired differences: the one-standard-error rule of model
    selection, which keeps the simpler model unless the other wins by more than noise."""
    diffs = [b - a for a, b in zip(new, old, strict=True)]
    n = len(diffs)
    if n < 2:
        return False
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1)
    return mean > math.sqrt(var / n)


def fit_calibration(
    report: EvalReport, calibration: Calibration, method: str = "platt", min_samples: int = 8
) -> dict[str, Any]:
    """Fit the calibration from a report's forced-tier results; returns a summary.

    One curve per scorer. A Platt curve takes the word coverage as its second input when
    that predicts the scorer's answers better, by leave-one-out log loss, than the raw
    score alone (measured on the sample log: yes for memory and Gemma, no for Qwen once
    retrieval improved). A scorer also gets a curve of its own for an intent
    (``gemma.lookup``) when that intent has ``min_samples`` questions and the separate curve
    predicts them clearly better, by the same test, than the scorer's pooled curve does:
    by more than one standard error of the per-question differences, since a curve fitted
    on a subset costs parameters and wins near-ties by chance. Curves per intent of an
    earlier fit that no longer win are removed. The losses are in the summary
    (``coverage``, ``per_intent``).
    """
    samples = calibration_samples(report.results)
    fitted = calibration.fit(samples, method=method, min_samples=min_samples)
    picks = list(_picks(report.results))
    summary: dict[str, Any] = {}
    for scorer in list(fitted):
        for key in [k for k in calibration.tiers if k.startswith(f"{scorer}.")]:
            del calibration.tiers[key]  # stale: chosen again below or not at all
        if method != "platt":
            continue
        pooled = [(intent, sample) for name, intent, sample in picks if name == scorer]
        everything = [sample for _, sample in pooled]
        everyone = range(len(everything))
        plain = _loo_loss(everything, everyone, _platt_raw)
        covered = _loo_loss(everything, everyone, _platt)
        summary.setdefault("coverage", {})[scorer] = {
            "loo_loss_raw_score": round(plain, 4),
            "loo_loss_with_coverage": round(covered, 4),
        }
        fitter = _platt if covered < plain else _platt_raw
        calibration.tiers[scorer] = fitted[scorer] = fitter(everything)
        intents = sorted({intent for intent, _ in pooled if intent})
        if len(intents) < 2:
            continue
        for intent in intents:
            index = [i for i, (it, _) in enumerate(pooled) if it == intent]
            if len(index) < min_samples:
                continue
            group = [everything[i] for i in index]
            alone = _loo_losses(group, range(len(group)), fitter)
            together = _loo_losses(everything, index, fitter)
            wins = _clearly_lower(alone, together)
            key = f"{scorer}.{intent}"
            summary.setdefault("per_intent", {})[key] = {
                "loo_loss_own_curve": round(sum(alone) / len(alone), 4),
                "loo_loss_pooled_curve": round(sum(together) / len(together), 4),
                "kept": wins,
            }
            if wins:
                calibration.tiers[key] = fitted[key] = fitter(group)
                samples[key] = group
    for scorer, curve in fitted.items():
        items = samples[scorer]
        after = [curve(raw, cov) for raw, _, cov in items]
        rights = [ok for _, ok, _ in items]
        summary[scorer] = {
            **curve.to_json(),
            "ece_before": round(ece([raw for raw, _, _ in items], rights), 4),
            "ece_after_in_sample": round(ece(after, rights), 4),
        }
    skipped = sorted(set(samples) - set(fitted))
    if skipped:
        summary["skipped (too few samples)"] = skipped
    return summary


def _platt(items: Sequence[tuple[float, bool, float]]) -> CurveMap:
    """A Platt curve on the raw score and the word coverage."""
    return fit_platt([s[0] for s in items], [s[1] for s in items], [s[2] for s in items])


def _platt_raw(items: Sequence[tuple[float, bool, float]]) -> CurveMap:
    """A Platt curve on the raw score alone."""
    return fit_platt([s[0] for s in items], [s[1] for s in items])


def format_report(report: EvalReport) -> str:
    """A fixed-width table for people."""
    head = (
        f"{'tier':<8} {'n':>4} {'acc':>6} {'lookup':>7} {'escal':>6} {'ECE':>6} "
        f"{'Brier':>6} {'p50 ms':>8} {'p95 ms':>8} {'err':>4}  answered by"
    )
    lines = [f"{report.items} questions", head, "-" * len(head)]
    for t in report.tiers.values():
        look = f"{t.lookup_accuracy:7.1%}" if t.lookup_accuracy is not None else f"{'-':>7}"
        by = ", ".join(f"{k} {v}" for k, v in sorted(t.answered_by.items()))
        lines.append(
            f"{t.tier:<8} {t.n:>4} {t.accuracy:6.1%} {look} {t.escalation_rate:6.1%} "
            f"{t.ece:6.3f} {t.brier:6.3f} {t.p50_ms:8.0f} {t.p95_ms:8.0f} {t.errors:>4}  {by}"
        )
    if report.calibration:
        curves = [k for k, v in report.calibration.items() if isinstance(v, dict) and "method" in v]
        lines.append("calibration fitted: " + (", ".join(sorted(curves)) or "none"))
    return "\n".join(lines)
