"""The dashboard: one self-contained HTML page drawn from the metrics store.

Four plots — patterns over time, accuracy and escalation per evaluation run, latency per
tier, calibration curve — as inline SVG (see :mod:`foundups_training.report.svg`), plus
summary cards and a table of evaluation runs. No scripts and no external resources, so the
file can be mailed, archived or opened offline.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from html import escape
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from foundups_training.metrics import EvalRun, MetricsStore, percentile
from foundups_training.report.svg import Series, bar_chart, line_chart
from foundups_training.text import encodable, from_surrogates

#: The file written inside ``--out``.
REPORT_NAME = "index.html"
#: Ids of the four plots, in page order (tests look for them).
PLOT_IDS: tuple[str, ...] = (
    "plot-patterns",
    "plot-accuracy",
    "plot-latency",
    "plot-calibration",
)
_TIER_ORDER = ("routed", "memory", "gemma", "qwen")
#: Tiers the latency plot draws at most. A plugin's answers name their own tier, any text:
#: one naming a tier per model file or per question must not make a chart of hundreds of
#: bars and a page that grows with every name.
MAX_TIERS = 8


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%m-%d %H:%M")


def _time_format(span_s: float) -> Callable[[float], str]:
    """Tick labels precise enough that five ticks over ``span_s`` seconds differ."""
    pattern = "%H:%M:%S" if span_s < 600 else "%m-%d %H:%M" if span_s > 86400 else "%H:%M"
    return lambda ts: datetime.fromtimestamp(ts, UTC).strftime(pattern)


def _tier_key(name: str) -> tuple[int, str]:
    return (_TIER_ORDER.index(name) if name in _TIER_ORDER else len(_TIER_ORDER), name)


def _figure(plot_id: str, caption: str, svg: str, note: str) -> str:
    return (
        f'<figure class="plot" id="{plot_id}"><figcaption>{escape(caption)}</figcaption>\n'
        f'{svg}\n<p class="note">{escape(note)}</p></figure>'
    )


def patterns_plot(store: MetricsStore) -> str:
    """Pattern totals over time, with the largest kinds as their own lines."""
    snaps = store.snapshots(limit=2000)
    series = [Series("all patterns", [(s.ts, float(s.total)) for s in snaps])]
    kinds: dict[str, int] = {}
    for s in snaps:
        for kind, n in s.by_kind.items():
            kinds[kind] = max(kinds.get(kind, 0), int(n))
    for kind in sorted(kinds, key=lambda k: -kinds[k])[:5]:
        # a snapshot without kinds says nothing of them, but one of 0 patterns (a clear)
        # brings every kind to 0
        points = [(s.ts, float(s.by_kind.get(kind, 0))) for s in snaps if s.by_kind or not s.total]
        series.append(Series(kind, points, dashed=True))
    ticks = None
    fmt: Callable[[float], str] = _when
    if snaps:
        lo, hi = snaps[0].ts, snaps[-1].ts
        ticks = [lo + (hi - lo) * i / 4 for i in range(5)] if hi > lo else [lo]
        fmt = _time_format(hi - lo)
    return line_chart(
        series,
        kind="patterns",
        title="Patterns over time",
        x_label="time (UTC)",
        y_label="patterns",
        x_format=fmt,
        x_ticks=ticks,
        empty_message="no training recorded yet: run `foundups-training mine` or the demo",
    )


def accuracy_plot(runs: list[EvalRun]) -> str:
    """Accuracy of each tier and the routed escalation rate, one point per evaluation run."""
    tiers = sorted({t.tier for r in runs for t in r.tiers}, key=_tier_key)
    series = []
    for tier in tiers:
        points = []
        for i, run in enumerate(runs, 1):
            result = run.tier(tier)
            if result is not None:
                points.append((float(i), result.accuracy))
        series.append(Series(f"{tier} accuracy", points))
    escalation = [
        (float(i), (r.tier("routed") or r.tiers[0]).escalation_rate)
        for i, r in enumerate(runs, 1)
        if r.tiers
    ]
    series.append(Series("escalation rate", escalation, color="#000000", dashed=True))
    labels = {float(i): f"#{r.id}" for i, r in enumerate(runs, 1)}
    return line_chart(
        series,
        kind="accuracy",
        title="Accuracy and escalation per evaluation run",
        x_label="evaluation run",
        y_label="fraction of questions",
        x_format=lambda x: labels.get(x, ""),
        x_ticks=sorted(labels),
        y_range=(0.0, 1.0),
        percent=True,
        empty_message="no evaluation yet: run `foundups-training eval QA.jsonl`",
    )


def latency_plot(store: MetricsStore, runs: list[EvalRun]) -> str:
    """p50 and p95 latency of each tier: live answers when there are any, else the last eval."""
    latencies = store.latencies_by_tier()
    # the main tiers, then the others with the most answers (of the latest counted)
    kept = sorted(latencies, key=lambda t: (t not in _TIER_ORDER, -len(latencies[t]), t))
    hidden = max(0, len(kept) - MAX_TIERS)
    tiers = sorted(kept[:MAX_TIERS], key=_tier_key)
    p50: list[float | None] = [percentile(latencies[t], 50) for t in tiers]
    p95: list[float | None] = [percentile(latencies[t], 95) for t in tiers]
    if not tiers and runs:
        last = runs[-1]
        ordered = sorted(last.tiers, key=lambda t: _tier_key(t.tier))
        tiers = [t.tier for t in ordered]
        p50 = [t.p50_ms for t in ordered]
        p95 = [t.p95_ms for t in ordered]
    return bar_chart(
        tiers,
        [("p50", p50), ("p95", p95)],
        kind="latency",
        title="Answer latency per tier",
        x_label=f"tier ({hidden} more tiers not shown)" if hidden else "tier",
        y_label="milliseconds",
        empty_message="no answers yet: ask something (`foundups-training ask`)",
    )


def calibration_plot(runs: list[EvalRun]) -> str:
    """Reliability diagram of the latest run with calibration bins: confidence vs accuracy."""
    last = next((r for r in reversed(runs) if any(t.calibration for t in r.tiers)), None)
    series: list[Series] = []
    if last is not None:
        for tier in sorted(last.tiers, key=lambda t: _tier_key(t.tier)):
            points = [(b.confidence, b.accuracy) for b in tier.calibration if b.count > 0]
            if points:
                series.append(Series(tier.tier, sorted(points)))
    return line_chart(
        series,
        kind="calibration",
        title="Calibration curve",
        x_label="stated confidence",
        y_label="observed accuracy",
        x_ticks=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
        x_range=(0.0, 1.0),
        x_format=lambda x: f"{x:.1f}",
        y_range=(0.0, 1.0),
        percent=True,
        diagonal=True,
        empty_message="no calibration data yet: run an evaluation",
    )


def _cards(store: MetricsStore, status: Mapping[str, Any] | None) -> str:
    summary = store.summary()
    answers = summary["answers"]
    patterns = summary["patterns"]
    last = summary["last_training"]
    evals = summary["last_eval"]
    status = status or {}
    total = status.get("patterns_total", patterns["total"] if patterns else 0)
    rate = answers["escalation_rate"]
    routed = None
    if evals:
        tiers = {t["tier"]: t for t in evals["tiers"]}
        routed = (tiers.get("routed") or next(iter(tiers.values())))["accuracy"]
    cards = [
        ("patterns", f"{total:,}"),
        ("log lines processed", f"{status.get('lines_processed', summary['lines_processed']):,}"),
        ("answers", f"{answers['answers']:,}"),
        ("escalation rate", "—" if rate is None else f"{rate * 100:.0f}%"),
        ("last eval accuracy", "—" if routed is None else f"{routed * 100:.0f}%"),
        (
            "last training",
            "never"
            if not last
            else datetime.fromtimestamp(last["ts"], UTC).strftime("%Y-%m-%d %H:%M"),
        ),
    ]
    return "\n".join(
        f'<div class="card"><div class="value">{escape(v)}</div>'
        f'<div class="label">{escape(k)}</div></div>'
        for k, v in cards
    )


def _eval_table(runs: list[EvalRun]) -> str:
    if not runs:
        return "<p>No evaluation runs recorded yet.</p>"
    rows = [
        "<table><tr><th>run</th><th>when (UTC)</th><th>dataset</th><th>tier</th><th>n</th>"
        "<th>accuracy</th><th>escalation</th><th>ECE</th><th>Brier</th><th>p50 ms</th>"
        "<th>p95 ms</th></tr>"
    ]

    def cell(value: float | None, fmt: str) -> str:
        return "—" if value is None else format(value, fmt)

    for run in reversed(runs[-20:]):
        for t in sorted(run.tiers, key=lambda t: _tier_key(t.tier)):
            rows.append(
                f"<tr><td>#{run.id}</td><td>{_when(run.ts)}</td><td>{escape(run.dataset)}</td>"
                f"<td>{escape(t.tier)}</td><td>{t.n}</td><td>{t.accuracy:.1%}</td>"
                f"<td>{t.escalation_rate:.1%}</td><td>{cell(t.ece, '.3f')}</td>"
                f"<td>{cell(t.brier, '.3f')}</td><td>{cell(t.p50_ms, '.0f')}</td>"
                f"<td>{cell(t.p95_ms, '.0f')}</td></tr>"
            )
    rows.append("</table>")
    return "\n".join(rows)


def render_report(store: MetricsStore, status: Mapping[str, Any] | None = None) -> str:
    """The dashboard's HTML for everything in ``store`` (``status`` adds live totals)."""
    from foundups_training import __version__

    runs = store.eval_runs(limit=50)
    plots = [
        _figure(
            "plot-patterns",
            "Patterns over time",
            patterns_plot(store),
            "Total patterns in memory after each training run; dashed lines: largest kinds.",
        ),
        _figure(
            "plot-accuracy",
            "Accuracy and escalation per evaluation run",
            accuracy_plot(runs),
            "Share of the evaluation questions answered right, per tier; dashed: share "
            "escalated to Qwen by the router.",
        ),
        _figure(
            "plot-latency",
            "Latency per tier",
            latency_plot(store, runs),
            "Median (p50) and tail (p95) time to answer, from the answers given so far.",
        ),
        _figure(
            "plot-calibration",
            "Calibration curve",
            calibration_plot(runs),
            "Points on the dashed diagonal mean a stated confidence of 0.8 is right 80% of "
            "the time; below it the model is over-confident.",
        ),
    ]
    template = Template(
        resources.files("foundups_training.report").joinpath("template.html").read_text("utf-8")
    )
    return template.substitute(
        version=escape(__version__),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        metrics_path=escape(from_surrogates(str(store.path), "backslashreplace")),
        cards=_cards(store, status),
        plots="\n".join(plots),
        eval_table=_eval_table(runs),
    )


def write_report(
    store: MetricsStore, out_dir: Path | str, status: Mapping[str, Any] | None = None
) -> Path:
    """Write ``index.html`` into ``out_dir`` (created if needed) and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / REPORT_NAME
    html = encodable(render_report(store, status))
    # Write then rename, so a browser refreshing the page never sees half a file; a write
    # or rename that fails (a full disk, a folder named index.html) leaves no temp file.
    # The page is written in a folder of its own that this call creates (a new name, mode
    # 0700), never at a fixed name beside it: ``--out`` may be a shared folder, where a
    # link planted at ``index.html.tmp`` made the report overwrite whatever file it
    # pointed at. The page itself keeps the mode a plain file gets under the umask.
    folder = Path(tempfile.mkdtemp(prefix=f".{REPORT_NAME}.", suffix=".tmp", dir=out))
    tmp = folder / REPORT_NAME
    try:
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    finally:
        with contextlib.suppress(OSError):
            folder.rmdir()
    return path
