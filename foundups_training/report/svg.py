"""Inline SVG charts drawn by hand: line, grouped bar and reliability (calibration) plots.

No plotting dependency: a dashboard that an operator opens from disk, offline, must carry
everything inside one HTML file, and a few hundred lines of SVG text are enough for four
plots. Every chart is a ``<svg class="chart" data-kind=... data-points=N>`` so tests (and
people) can see at a glance what it holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 640
HEIGHT = 300
_MARGIN_LEFT = 58
_MARGIN_RIGHT = 18
_MARGIN_TOP = 52  # room for two rows of legend
_MARGIN_BOTTOM = 46

#: Colour-blind-safe palette (Okabe-Ito), in the order series are drawn.
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
)


@dataclass(frozen=True, slots=True)
class Series:
    """One named line: points in data coordinates."""

    name: str
    points: Sequence[tuple[float, float]]
    color: str = ""
    dashed: bool = False


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [lo, hi] (1, 2, 2.5, 5 × 10^k steps)."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0]
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks: list[float] = []
    value = start
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _fmt_num(value: float) -> str:
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k"
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


class _Frame:
    """Maps data coordinates onto the plot area."""

    def __init__(self, x0: float, x1: float, y0: float, y1: float) -> None:
        self.x0, self.x1 = x0, (x1 if x1 > x0 else x0 + 1.0)
        self.y0, self.y1 = y0, (y1 if y1 > y0 else y0 + 1.0)
        self.left = _MARGIN_LEFT
        self.right = WIDTH - _MARGIN_RIGHT
        self.top = _MARGIN_TOP
        self.bottom = HEIGHT - _MARGIN_BOTTOM

    def px(self, x: float) -> float:
        return self.left + (x - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def py(self, y: float) -> float:
        return self.bottom - (y - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)


def _open(kind: str, points: int, title: str) -> list[str]:
    return [
        f'<svg class="chart" data-kind="{kind}" data-points="{points}" '
        f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
    ]


def _y_axis(frame: _Frame, ticks: Sequence[float], label: str, percent: bool) -> list[str]:
    out = []
    for t in ticks:
        y = frame.py(t)
        text = f"{t * 100:.0f}%" if percent else _fmt_num(t)
        out.append(
            f'<line class="grid" x1="{frame.left}" x2="{frame.right}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="#e5e5e5"/>'
            f'<text x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="11" fill="#555">{text}</text>'
        )
    out.append(
        f'<text x="14" y="{(frame.top + frame.bottom) / 2:.1f}" font-size="12" fill="#333" '
        f'text-anchor="middle" transform="rotate(-90 14 {(frame.top + frame.bottom) / 2:.1f})">'
        f"{escape(label)}</text>"
    )
    out.append(
        f'<line x1="{frame.left}" x2="{frame.left}" y1="{frame.top}" y2="{frame.bottom}" '
        f'stroke="#999"/><line x1="{frame.left}" x2="{frame.right}" y1="{frame.bottom}" '
        f'y2="{frame.bottom}" stroke="#999"/>'
    )
    return out


def _x_label(frame: _Frame, label: str) -> str:
    return (
        f'<text x="{(frame.left + frame.right) / 2:.1f}" y="{HEIGHT - 6}" font-size="12" '
        f'fill="#333" text-anchor="middle">{escape(label)}</text>'
    )


def _legend(names: Sequence[tuple[str, str]]) -> list[str]:
    out = []
    x, y = _MARGIN_LEFT, 8
    for name, color in names:
        width = 36 + 7 * len(name)  # ~7 px per character at 12 px: wrap before the edge
        if x + width > WIDTH - _MARGIN_RIGHT and x > _MARGIN_LEFT:
            x, y = _MARGIN_LEFT, y + 18
        out.append(
            f'<g class="legend-item"><rect x="{x}" y="{y}" width="12" height="12" '
            f'fill="{color}"/><text x="{x + 16}" y="{y + 10}" font-size="12" fill="#333">'
            f"{escape(name)}</text></g>"
        )
        x += width
    return out


def empty_chart(kind: str, title: str, message: str) -> str:
    """A chart frame that says why there is nothing to draw yet."""
    parts = _open(kind, 0, title)
    parts.append(
        f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" '
        f'font-size="14" fill="#777">{escape(message)}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def line_chart(
    series: Sequence[Series],
    *,
    kind: str,
    title: str,
    x_label: str,
    y_label: str,
    x_format: Callable[[float], str] = _fmt_num,
    x_ticks: Sequence[float] | None = None,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    percent: bool = False,
    diagonal: bool = False,
    empty_message: str = "no data yet",
) -> str:
    """Lines with point markers; ``diagonal`` draws y = x (the perfect-calibration line)."""
    pts = [p for s in series for p in s.points]
    if not pts:
        return empty_chart(kind, title, empty_message)
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    if y_range is not None:
        y0, y1 = y_range
    else:
        y0, y1 = min(0.0, min(ys)), max(ys) * 1.1 if max(ys) > 0 else 1.0
    yt = nice_ticks(y0, y1)
    y1 = max(y1, yt[-1])
    x0, x1 = x_range if x_range is not None else (min(xs), max(xs))
    if x1 == x0:  # one point: give it room in the middle
        x0, x1 = x0 - 1, x1 + 1
    frame = _Frame(x0, x1, y0, y1)
    parts = _open(kind, len(pts), title)
    parts += _y_axis(frame, yt, y_label, percent)
    for t in x_ticks if x_ticks is not None else nice_ticks(x0, x1, 5):
        if not x0 <= t <= x1:
            continue
        x = frame.px(t)
        # Labels at the edges lean inwards so long ones (dates) are not cut off.
        anchor = "start" if x - frame.left < 30 else "end" if frame.right - x < 30 else "middle"
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.bottom}" y2="{frame.bottom + 4}" '
            f'stroke="#999"/><text x="{x:.1f}" y="{frame.bottom + 17}" font-size="11" '
            f'fill="#555" text-anchor="{anchor}">{escape(x_format(t))}</text>'
        )
    parts.append(_x_label(frame, x_label))
    if diagonal:
        parts.append(
            f'<line class="diagonal" x1="{frame.px(x0):.1f}" y1="{frame.py(x0):.1f}" '
            f'x2="{frame.px(x1):.1f}" y2="{frame.py(x1):.1f}" stroke="#aaa" '
            f'stroke-dasharray="4 4"/>'
        )
    legend = []
    for i, s in enumerate(series):
        color = s.color or PALETTE[i % len(PALETTE)]
        legend.append((s.name, color))
        if not s.points:
            continue
        coords = " ".join(f"{frame.px(x):.1f},{frame.py(y):.1f}" for x, y in s.points)
        dash = ' stroke-dasharray="6 3"' if s.dashed else ""
        parts.append(f'<g class="series" data-name="{escape(s.name)}">')
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{coords}"/>'
        )
        for x, y in s.points:
            parts.append(
                f'<circle class="point" cx="{frame.px(x):.1f}" cy="{frame.py(y):.1f}" r="3.5" '
                f'fill="{color}"><title>{escape(s.name)}: {_fmt_num(y)}</title></circle>'
            )
        parts.append("</g>")
    parts += _legend(legend)
    parts.append("</svg>")
    return "\n".join(parts)


def bar_chart(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    kind: str,
    title: str,
    x_label: str,
    y_label: str,
    empty_message: str = "no data yet",
) -> str:
    """Grouped bars: one group per category, one bar per series (None = no bar)."""
    values = [v for _, vs in series for v in vs if v is not None]
    if not categories or not values:
        return empty_chart(kind, title, empty_message)
    yt = nice_ticks(0.0, max(values) * 1.1 or 1.0)
    frame = _Frame(0.0, float(len(categories)), 0.0, yt[-1])
    parts = _open(kind, len(values), title)
    parts += _y_axis(frame, yt, y_label, percent=False)
    group_w = (frame.right - frame.left) / len(categories)
    bar_w = group_w * 0.7 / max(1, len(series))
    for ci, category in enumerate(categories):
        gx = frame.left + ci * group_w + group_w * 0.15
        for si, (name, vs) in enumerate(series):
            value = vs[ci] if ci < len(vs) else None
            if value is None:
                continue
            color = PALETTE[si % len(PALETTE)]
            y = frame.py(value)
            parts.append(
                f'<rect class="bar" x="{gx + si * bar_w:.1f}" y="{y:.1f}" '
                f'width="{bar_w - 2:.1f}" height="{frame.bottom - y:.1f}" fill="{color}">'
                f"<title>{escape(category)} {escape(name)}: {_fmt_num(value)}</title></rect>"
                # The value above the bar: a 5 ms bar beside a 3 s one is otherwise invisible.
                f'<text class="bar-value" x="{gx + si * bar_w + (bar_w - 2) / 2:.1f}" '
                f'y="{y - 3:.1f}" font-size="10" fill="#333" text-anchor="middle">'
                f"{_fmt_num(round(value, 1 if value < 10 else 0))}</text>"
            )
        parts.append(
            f'<text x="{frame.left + (ci + 0.5) * group_w:.1f}" y="{frame.bottom + 17}" '
            f'font-size="11" fill="#555" text-anchor="middle">{escape(category)}</text>'
        )
    parts.append(_x_label(frame, x_label))
    parts += _legend([(name, PALETTE[i % len(PALETTE)]) for i, (name, _) in enumerate(series)])
    parts.append("</svg>")
    return "\n".join(parts)
