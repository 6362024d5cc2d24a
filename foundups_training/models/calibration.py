"""Turn raw scores into probabilities of being right, per tier (Platt or isotonic).

A raw score is what a tier believes (the probability mass on its chosen option). Raw scores
of small models are not probabilities: Gemma 270M spreads its mass over the option letters
almost regardless of content. A calibration map, fitted on an evaluation set where we know
what was right, makes "0.7" mean "right 7 times in 10" so the escalation threshold means
something. Without a saved calibration every map is the identity.

Stored as JSON at ``Settings.calibration_path``::

    {"version": 1, "tiers": {"gemma": {"method": "platt", "a": 2.1, "b": -0.4, "n": 40}, ...}}

A data directory without that file uses the curves shipped with the package
(``default_calibration.json``, fitted on the real host's development questions), so the
escalation threshold means something before anyone has calibrated; ``eval --calibrate``
on questions of one's own replaces them.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERSION = 1
#: The curves shipped with the package (see the module docstring).
SHIPPED = Path(__file__).with_name("default_calibration.json")
_EPS = 1e-6


def _logit(p: float) -> float:
    p = min(max(p, _EPS), 1 - _EPS)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    z = math.exp(x)
    return z / (1 + z)


@dataclass(frozen=True)
class CurveMap:
    """One tier's map from raw score to calibrated probability."""

    method: str = "identity"  # "identity" | "platt" | "isotonic"
    a: float = 1.0
    b: float = 0.0
    xs: tuple[float, ...] = ()
    ys: tuple[float, ...] = ()
    n: int = 0

    def __call__(self, raw: float) -> float:
        """The calibrated probability for a raw score in [0, 1]."""
        raw = min(max(float(raw), 0.0), 1.0)
        if self.method == "platt":
            return _sigmoid(self.a * _logit(raw) + self.b)
        if self.method == "isotonic" and self.xs:
            return _interp(raw, self.xs, self.ys)
        return raw

    def to_json(self) -> dict[str, Any]:
        """The JSON form (only the fields the method uses)."""
        data: dict[str, Any] = {"method": self.method, "n": self.n}
        if self.method == "platt":
            data.update(a=self.a, b=self.b)
        elif self.method == "isotonic":
            data.update(xs=list(self.xs), ys=list(self.ys))
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CurveMap:
        """Inverse of :meth:`to_json`; unknown methods read as identity."""
        method = str(data.get("method", "identity"))
        if method not in ("identity", "platt", "isotonic"):
            method = "identity"
        return cls(
            method=method,
            a=float(data.get("a", 1.0)),
            b=float(data.get("b", 0.0)),
            xs=tuple(float(x) for x in data.get("xs", ())),
            ys=tuple(float(y) for y in data.get("ys", ())),
            n=int(data.get("n", 0)),
        )


def _interp(x: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    for i in range(1, len(xs)):
        if x <= xs[i]:
            x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return ys[-1]


def fit_platt(raw: Sequence[float], right: Sequence[bool], l2: float = 0.1) -> CurveMap:
    """Logistic regression of correctness on logit(raw), a little L2 toward the identity.

    Newton's method on two parameters. The targets are Platt's smoothed ones,
    ``(N₊ + 1) / (N₊ + 2)`` for a right answer and ``1 / (N₋ + 2)`` for a wrong one: a small
    development set in which every wrong answer happens to score below every right one
    (seen: 16 questions, which sent the slope to 549 with hard 0/1 targets) then still gives
    a finite curve, and the prior (a=1, b=0) keeps it from going wild otherwise.
    """
    xs = [_logit(r) for r in raw]
    n_right = sum(1 for r in right if r)
    n_wrong = len(right) - n_right
    hit, miss = (n_right + 1) / (n_right + 2), 1 / (n_wrong + 2)
    ys = [hit if r else miss for r in right]

    def loss(a: float, b: float) -> float:
        total = 0.5 * l2 * ((a - 1.0) ** 2 + b * b)
        for x, y in zip(xs, ys, strict=True):
            z = a * x + b  # cross-entropy of sigmoid(z) against y, computed stably
            total += max(z, 0.0) - z * y + math.log1p(math.exp(-abs(z)))
        return total

    a, b = 1.0, 0.0
    for _ in range(100):
        ga = l2 * (a - 1.0)
        gb = l2 * b
        haa, hab, hbb = l2, 0.0, l2
        for x, y in zip(xs, ys, strict=True):
            p = _sigmoid(a * x + b)
            w = p * (1 - p)
            ga += (p - y) * x
            gb += p - y
            haa += w * x * x
            hab += w * x
            hbb += w
        det = haa * hbb - hab * hab
        if det <= 1e-12:
            break
        da = (hbb * ga - hab * gb) / det
        db = (haa * gb - hab * ga) / det
        # Halve the Newton step until it lowers the loss: a full step overshoots when the
        # raw scores sit far from 0.5 (logits of 2 to 7 are common for a peaked model).
        before, step = loss(a, b), 1.0
        while step > 1e-6 and loss(a - step * da, b - step * db) > before:
            step /= 2
        a, b = a - step * da, b - step * db
        if step * (abs(da) + abs(db)) < 1e-8:
            break
    return CurveMap(method="platt", a=a, b=b, n=len(xs))


def fit_isotonic(raw: Sequence[float], right: Sequence[bool]) -> CurveMap:
    """Pool-adjacent-violators: a non-decreasing step map from raw score to accuracy."""
    pairs = sorted(zip(raw, (1.0 if r else 0.0 for r in right), strict=True))
    blocks: list[list[float]] = []  # [sum_y, count, x_min, x_max]
    for x, y in pairs:
        blocks.append([y, 1.0, x, x])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, c, _, hi = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
            blocks[-1][3] = hi
    xs: list[float] = []
    ys: list[float] = []
    for s, c, lo, hi in blocks:
        # Shrink toward 0.5 by one pseudo-count each way: a block of one is not certainty.
        mean = (s + 0.5) / (c + 1.0)
        xs.extend([lo, hi] if hi > lo else [lo])
        ys.extend([mean, mean] if hi > lo else [mean])
    return CurveMap(method="isotonic", xs=tuple(xs), ys=tuple(ys), n=len(pairs))


@dataclass
class Calibration:
    """Per-tier maps; a tier without one is the identity."""

    tiers: dict[str, CurveMap] = field(default_factory=dict)
    path: Path | None = None

    def __call__(self, tier: str, raw: float) -> float:
        """Calibrated probability of ``tier`` being right given its raw score."""
        return self.tiers.get(tier, CurveMap())(raw)

    def fit(
        self,
        samples: Mapping[str, Sequence[tuple[float, bool]]],
        method: str = "platt",
        min_samples: int = 8,
    ) -> dict[str, CurveMap]:
        """Fit each tier with enough samples; returns the new maps."""
        fitted: dict[str, CurveMap] = {}
        for tier, pairs in samples.items():
            if len(pairs) < min_samples:
                continue
            raw = [p for p, _ in pairs]
            right = [r for _, r in pairs]
            curve = fit_isotonic(raw, right) if method == "isotonic" else fit_platt(raw, right)
            fitted[tier] = curve
            self.tiers[tier] = curve
        return fitted

    def save(self, path: Path | None = None) -> Path:
        """Write atomically as JSON."""
        target = Path(path or self.path or "calibration.json")
        target.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": VERSION, "tiers": {k: v.to_json() for k, v in self.tiers.items()}}
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, target)
        self.path = target
        return target

    @classmethod
    def shipped(cls) -> Calibration:
        """The curves shipped with the package (identity maps if the file is unreadable)."""
        return cls.load(SHIPPED)

    @classmethod
    def load_or_shipped(cls, path: Path) -> Calibration:
        """The calibration saved at ``path``; the shipped curves when there is none yet
        (they are saved to ``path`` only when a new fit is)."""
        if Path(path).exists():
            return cls.load(path)
        return cls(tiers=dict(cls.shipped().tiers), path=Path(path))

    @classmethod
    def load(cls, path: Path) -> Calibration:
        """Read a saved calibration; a missing or unreadable file gives identity maps."""
        try:
            data = json.loads(Path(path).read_text())
            tiers = {k: CurveMap.from_json(v) for k, v in dict(data.get("tiers", {})).items()}
        except (OSError, ValueError, TypeError, AttributeError):
            return cls(path=Path(path))
        return cls(tiers=tiers, path=Path(path))
