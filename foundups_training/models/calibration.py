"""Turn raw scores into probabilities of being right, per tier (Platt or isotonic).

A raw score is what a tier believes (the probability mass on its chosen option). Raw scores
of small models are not probabilities: Gemma 270M spreads its mass over the option letters
almost regardless of content. A calibration map, fitted on an evaluation set where we know
what was right, makes "0.7" mean "right 7 times in 10" so the escalation threshold means
something. Without a saved calibration every map is the identity.

A Platt curve may take a second input, the answer's word coverage (the share of the
question's content words its patterns contain, :mod:`foundups_training.routing.coverage`):
``p = sigmoid(a·logit(raw) + c·coverage + b)``. A curve may also be kept per intent: the
key ``gemma.lookup`` is used for Gemma's log lookups when it exists, ``gemma`` otherwise
(module questions and log questions differ: on the sample log the same raw score is right
far less often for a log lookup than for a module question).

Stored as JSON at ``Settings.calibration_path``::

    {"version": 1, "tiers": {"gemma": {"method": "platt", "a": 2.1, "b": -0.4, "c": 3.0,
                                       "n": 40}, "gemma.lookup": {...}, ...}}

A data directory without that file uses the curves shipped with the package
(``default_calibration.json``, fitted on the real host's development questions), so the
escalation threshold means something before anyone has calibrated; ``eval --calibrate``
on questions of one's own replaces them. So does a data directory whose file cannot be
used (cut short, hand-edited into an invalid curve): identity maps would silently change
every confidence, and so every escalation, so the file is checked when it is read and a
warning names it and says the shipped curves are used.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foundups_training.logs import warn_once

log = logging.getLogger(__name__)

VERSION = 1
#: What a curve's ``method`` may be.
METHODS = ("identity", "platt", "isotonic")
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
    c: float = 0.0  # weight of the word coverage (Platt only; 0 = raw score alone)
    xs: tuple[float, ...] = ()
    ys: tuple[float, ...] = ()
    n: int = 0

    def __post_init__(self) -> None:
        # Checked when the curve is made (read from a file, or fitted), so a curve that
        # cannot map a score never reaches an answer.
        problem = self._problem()
        if problem:
            raise ValueError(problem)

    def _problem(self) -> str:
        """Why this curve cannot be used; empty when it can."""
        if self.method not in METHODS:
            return f"unknown method {self.method!r} (expected one of {', '.join(METHODS)})"
        if not all(math.isfinite(v) for v in (self.a, self.b, self.c)):
            return "a, b and c must be finite numbers"
        if self.method != "isotonic":
            return ""
        if len(self.xs) != len(self.ys):
            return f"{len(self.xs)} xs but {len(self.ys)} ys (each x needs its y)"
        if not all(math.isfinite(v) for v in (*self.xs, *self.ys)):
            return "xs and ys must be finite numbers"
        if any(b < a for a, b in itertools.pairwise(self.xs)):
            return "xs must be in increasing order"
        if any(not 0.0 <= y <= 1.0 for y in self.ys):
            return "ys are probabilities: each must be between 0 and 1"
        if any(b < a for a, b in itertools.pairwise(self.ys)):
            # an isotonic curve that goes down gives a higher score a lower confidence
            return "ys must not go down (an isotonic curve never does)"
        return ""

    def __call__(self, raw: float, coverage: float = 0.0) -> float:
        """The calibrated probability for a raw score (and word coverage) in [0, 1]."""
        raw = unit(raw)
        if self.method == "platt":
            cov = unit(coverage)
            return _sigmoid(self.a * _logit(raw) + self.c * cov + self.b)
        if self.method == "isotonic" and self.xs:
            return _interp(raw, self.xs, self.ys)
        return raw

    def to_json(self) -> dict[str, Any]:
        """The JSON form (only the fields the method uses)."""
        data: dict[str, Any] = {"method": self.method, "n": self.n}
        if self.method == "platt":
            data.update(a=self.a, b=self.b)
            if self.c:
                data.update(c=self.c)
        elif self.method == "isotonic":
            data.update(xs=list(self.xs), ys=list(self.ys))
        return data

    @classmethod
    def from_json(cls, data: Any) -> CurveMap:
        """Inverse of :meth:`to_json`. Raises ValueError saying what is wrong for anything
        that is not a usable curve (an unknown method, a missing or non-numeric field,
        isotonic ``xs`` and ``ys`` of different lengths or going down)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a curve is a JSON object, not {type(data).__name__}")
        try:
            xs, ys = data.get("xs", ()), data.get("ys", ())
            if not isinstance(xs, list | tuple) or not isinstance(ys, list | tuple):
                raise ValueError("xs and ys must be lists of numbers")
            return cls(
                method=str(data.get("method", "identity")),
                a=_real(data.get("a", 1.0)),
                b=_real(data.get("b", 0.0)),
                c=_real(data.get("c", 0.0)),
                xs=tuple(_real(x) for x in xs),
                ys=tuple(_real(y) for y in ys),
                n=int(data.get("n", 0)),
            )
        except (TypeError, ValueError, OverflowError) as exc:
            # OverflowError: ``"n": 1e999`` reads as infinity, which int() refuses with it
            raise ValueError(str(exc)) from None


def unit(value: float) -> float:
    """``value`` clipped to [0, 1], NaN read as 0 (no belief): ``min``/``max`` pass a NaN
    through, and a NaN score became a NaN confidence (which no threshold catches), or the
    isotonic curve's highest probability; the evaluation's ECE and Brier read a confidence
    the same way."""
    v = float(value)
    return 0.0 if math.isnan(v) else min(max(v, 0.0), 1.0)


def _real(value: Any) -> float:
    """A JSON number as a float; a string, a bool or null is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{value!r} is not a number")
    return float(value)


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


def fit_platt(
    raw: Sequence[float],
    right: Sequence[bool],
    coverage: Sequence[float] | None = None,
    l2: float = 0.1,
) -> CurveMap:
    """Logistic regression of correctness on logit(raw) (and the word coverage, when given),
    with a little L2 toward the identity (a=1, c=0, b=0).

    Newton's method on two or three parameters. The targets are Platt's smoothed ones,
    ``(N₊ + 1) / (N₊ + 2)`` for a right answer and ``1 / (N₋ + 2)`` for a wrong one: a small
    development set in which every wrong answer happens to score below every right one
    (seen: 16 questions, which sent the slope to 549 with hard 0/1 targets) then still gives
    a finite curve, and the prior keeps it from going wild otherwise.
    """
    # Scores are read as the curve reads them (clipped to 0-1, NaN as 0): min/max pass a
    # NaN through, and one NaN coverage made every weight NaN.
    rows = [[_logit(unit(r))] for r in raw]
    if coverage is not None:
        for row, cov in zip(rows, coverage, strict=True):
            row.append(unit(cov))
    for row in rows:
        row.append(1.0)  # the intercept b
    n_right = sum(1 for r in right if r)
    n_wrong = len(right) - n_right
    hit, miss = (n_right + 1) / (n_right + 2), 1 / (n_wrong + 2)
    ys = [hit if r else miss for r in right]
    k = len(rows[0]) if rows else (3 if coverage is not None else 2)
    centre = [1.0] + [0.0] * (k - 1)

    def loss(w: Sequence[float]) -> float:
        total = 0.5 * l2 * sum((wi - ci) ** 2 for wi, ci in zip(w, centre, strict=True))
        for row, y in zip(rows, ys, strict=True):
            z = sum(wi * xi for wi, xi in zip(w, row, strict=True))
            # cross-entropy of sigmoid(z) against y, computed stably
            total += max(z, 0.0) - z * y + math.log1p(math.exp(-abs(z)))
        return total

    w = list(centre)
    for _ in range(100):
        grad = [l2 * (wi - ci) for wi, ci in zip(w, centre, strict=True)]
        hess = [[l2 if i == j else 0.0 for j in range(k)] for i in range(k)]
        for row, y in zip(rows, ys, strict=True):
            p = _sigmoid(sum(wi * xi for wi, xi in zip(w, row, strict=True)))
            weight = p * (1 - p)
            for i in range(k):
                grad[i] += (p - y) * row[i]
                for j in range(k):
                    hess[i][j] += weight * row[i] * row[j]
        delta = _solve(hess, grad)
        if delta is None:
            break
        # Halve the Newton step until it lowers the loss: a full step overshoots when the
        # raw scores sit far from 0.5 (logits of 2 to 7 are common for a peaked model).
        before, step = loss(w), 1.0
        while step > 1e-6 and loss(_moved(w, delta, step)) > before:
            step /= 2
        w = _moved(w, delta, step)
        if step * sum(abs(d) for d in delta) < 1e-8:
            break
    c = w[1] if k == 3 else 0.0
    return CurveMap(method="platt", a=w[0], b=w[-1], c=c, n=len(rows))


def _moved(w: Sequence[float], delta: Sequence[float], step: float) -> list[float]:
    return [wi - step * di for wi, di in zip(w, delta, strict=True)]


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float] | None:
    """``matrix⁻¹ · vector`` by Gaussian elimination with partial pivoting (None if singular)."""
    n = len(vector)
    m = [[*row, vector[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-12:
            return None
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            for cc in range(col, n + 1):
                m[r][cc] -= f * m[col][cc]
    out = [0.0] * n
    for r in range(n - 1, -1, -1):
        out[r] = (m[r][n] - sum(m[r][cc] * out[cc] for cc in range(r + 1, n))) / m[r][r]
    return out


def fit_isotonic(raw: Sequence[float], right: Sequence[bool]) -> CurveMap:
    """Pool-adjacent-violators: a non-decreasing step map from raw score to accuracy.

    Equal raw scores are pooled before PAV: one score has one accuracy. Sorted by (score,
    right), the wrong answers of a tied score came before its right ones, never violated
    the order, and left two steps at the same x: the curve gave that score the accuracy
    of its wrong answers alone (0.25 for one right and one wrong at 0.2, not 0.5).

    Each block's probability is its accuracy shrunk toward 0.5, and the blocks are pooled
    while that shrunk value goes down, not only while the plain accuracy does: shrinking
    moves a small block further than a large one, so blocks in order by accuracy (9 of 10
    right, then 1 of 1) could come out 0.86 then 0.75, a curve that goes down.

    Scores are fitted as the curve reads them, clipped to 0-1 with NaN as 0: fitted apart,
    -0.2 and 0 kept steps of their own, and -0.2 was read as 0 and given 0's step.
    """
    pairs = sorted(zip((unit(x) for x in raw), (1.0 if r else 0.0 for r in right), strict=True))
    tied: list[list[float]] = []  # [sum_y, count, x, x] per distinct raw score
    for x, y in pairs:
        if tied and tied[-1][2] == x:
            tied[-1][0] += y
            tied[-1][1] += 1.0
        else:
            tied.append([y, 1.0, x, x])
    blocks: list[list[float]] = []  # [sum_y, count, x_min, x_max]
    for block in tied:
        blocks.append(block)
        while len(blocks) > 1 and _shrunk(blocks[-2]) > _shrunk(blocks[-1]):
            s, c, _, hi = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
            blocks[-1][3] = hi
    xs: list[float] = []
    ys: list[float] = []
    for block in blocks:
        lo, hi, mean = block[2], block[3], _shrunk(block)
        xs.extend([lo, hi] if hi > lo else [lo])
        ys.extend([mean, mean] if hi > lo else [mean])
    return CurveMap(method="isotonic", xs=tuple(xs), ys=tuple(ys), n=len(pairs))


def _shrunk(block: Sequence[float]) -> float:
    """A block's accuracy shrunk toward 0.5 by one pseudo-count each way: a block of one
    is not certainty."""
    return (block[0] + 0.5) / (block[1] + 1.0)


#: One evaluation sample: (raw score, right) or (raw score, right, word coverage).
Sample = tuple[float, bool] | tuple[float, bool, float]


@dataclass
class Calibration:
    """Per-scorer maps (optionally per intent); a scorer without one is the identity."""

    tiers: dict[str, CurveMap] = field(default_factory=dict)
    path: Path | None = None

    def __call__(self, tier: str, raw: float, coverage: float = 0.0, intent: str = "") -> float:
        """Calibrated probability of ``tier`` being right given its raw score and coverage,
        by the curve for ``tier.intent`` when there is one, else by the one for ``tier``."""
        return self.curve(tier, intent)(raw, coverage)

    def curve(self, tier: str, intent: str = "") -> CurveMap:
        """The curve that scores ``tier``'s answers to questions of ``intent``."""
        if intent and f"{tier}.{intent}" in self.tiers:
            return self.tiers[f"{tier}.{intent}"]
        return self.tiers.get(tier, CurveMap())

    def fit(
        self,
        samples: Mapping[str, Sequence[Sample]],
        method: str = "platt",
        min_samples: int = 8,
    ) -> dict[str, CurveMap]:
        """Fit each key (``tier`` or ``tier.intent``) with enough samples; returns the new
        maps. A Platt curve takes the coverage as its second input when every sample of its
        key carries one."""
        fitted: dict[str, CurveMap] = {}
        for key, items in samples.items():
            if len(items) < min_samples:
                continue
            raw = [s[0] for s in items]
            right = [bool(s[1]) for s in items]
            cov = [float(s[2]) for s in items if len(s) > 2]
            if method == "isotonic":
                curve = fit_isotonic(raw, right)
            else:
                curve = fit_platt(raw, right, cov if len(cov) == len(items) else None)
            fitted[key] = curve
            self.tiers[key] = curve
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
        """The curves shipped with the package (identity maps, with a warning, if the file
        is unusable: a broken install)."""
        return cls.load(SHIPPED)

    @classmethod
    def load_or_shipped(cls, path: Path) -> Calibration:
        """The calibration saved at ``path``; the shipped curves when there is none yet, or
        when the file cannot be used (one warning names it and says why). Either way the
        result keeps ``path``, so the next ``eval --calibrate`` saves a good file there."""
        try:
            return cls.read(path)
        except FileNotFoundError:
            pass
        except CalibrationError as exc:
            warn_once(
                log,
                f"{exc}; using the curves shipped with the package instead. "
                "`foundups-training eval DEV.jsonl --calibrate` writes a new one; "
                "deleting the file keeps the shipped curves",
            )
        return cls(tiers=dict(cls.shipped().tiers), path=Path(path))

    @classmethod
    def load(cls, path: Path) -> Calibration:
        """Read a saved calibration; identity maps when the file is missing, or when it
        cannot be used (with a warning naming it)."""
        try:
            return cls.read(path)
        except FileNotFoundError:
            pass
        except CalibrationError as exc:
            warn_once(log, f"{exc}; using identity maps (raw scores as confidences)")
        return cls(path=Path(path))

    @classmethod
    def read(cls, path: Path) -> Calibration:
        """Read and check a saved calibration. Raises FileNotFoundError when there is no
        file, and :class:`CalibrationError`, naming the file and what is wrong, when it
        cannot be used (unreadable, not JSON, another version, an invalid curve)."""
        path = Path(path)
        try:
            # utf-8-sig: a file saved by Windows Notepad starts with a BOM, which JSON refuses
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise
        except (OSError, UnicodeDecodeError) as exc:
            raise CalibrationError(path, getattr(exc, "strerror", None) or str(exc)) from None
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            # RecursionError: brackets nested thousands deep, as garbage can be
            raise CalibrationError(path, f"not valid JSON ({str(exc)[:200]})") from None
        if not isinstance(data, dict) or not isinstance(data.get("tiers"), dict):
            raise CalibrationError(path, 'no "tiers" object')
        if data.get("version", VERSION) != VERSION:
            raise CalibrationError(
                path, f"version {data['version']!r}; this package reads version {VERSION}"
            )
        tiers: dict[str, CurveMap] = {}
        for key, value in data["tiers"].items():
            try:
                tiers[str(key)] = CurveMap.from_json(value)
            except ValueError as exc:
                raise CalibrationError(path, f"curve {key!r}: {exc}") from None
        return cls(tiers=tiers, path=path)

    @classmethod
    def problem(cls, path: Path) -> str:
        """Why the calibration file at ``path`` is not used (for ``status``); empty when
        it is used or when there is none."""
        try:
            cls.read(path)
        except FileNotFoundError:
            return ""
        except CalibrationError as exc:
            return str(exc)
        return ""


class CalibrationError(ValueError):
    """A calibration file that cannot be used; the message names it and says why."""

    def __init__(self, path: Path, why: str) -> None:
        self.path = Path(path)
        self.why = why
        super().__init__(f"calibration file {path} cannot be used: {why}")
