"""The dashboard: one self-contained page with four plots, rendered in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from foundups_training.cli import main
from foundups_training.metrics import MetricsStore, TrainingRun
from foundups_training.records import Answer
from foundups_training.report import PLOT_IDS, REPORT_NAME, render_report, write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Svgs(HTMLParser):
    """Collects, per plot figure, its chart's kind and point count and its drawn shapes."""

    def __init__(self) -> None:
        super().__init__()
        self.figure: str | None = None
        self.plots: dict[str, dict[str, int | str]] = {}
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "figure" and a.get("id"):
            self.figure = a["id"]
            self.plots[self.figure] = {"circle": 0, "rect.bar": 0, "polyline": 0}
        elif tag == "svg" and self.figure:
            self.plots[self.figure]["points"] = int(a.get("data-points") or 0)
        elif self.figure and tag in ("circle", "polyline"):
            self.plots[self.figure][tag] += 1  # type: ignore[operator]
        elif self.figure and tag == "rect" and a.get("class") == "bar":
            self.plots[self.figure]["rect.bar"] += 1  # type: ignore[operator]
        if tag in ("script", "link", "img") or (a.get("src") or "").startswith("http"):
            self.external.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self.figure = None


def _fill(store: MetricsStore) -> None:
    for i, total in enumerate((40, 120, 260)):
        store.record_snapshot(
            total,
            {"module_location": total // 2, "stream": total // 4},
            "batch",
            ts=1_790_000_000 + i * 3600,
        )
    store.record_training(TrainingRun(ts=1_790_000_000, kind="batch", lines_processed=900))
    for tier, ms in (("memory", 4), ("gemma", 350), ("qwen", 2900)):
        for k in range(5):
            store.record_answer("q", Answer("a", tier, latency_ms=ms + k, escalated=tier == "qwen"))
    for k in range(3):
        store.record_eval(
            "qa.jsonl",
            [
                {
                    "tier": t,
                    "n": 20,
                    "accuracy": 0.5 + 0.1 * k,
                    "escalation_rate": 0.25,
                    "calibration": [
                        (b / 4, (b + 1) / 4, 5, b / 4 + 0.1, b / 4 + 0.05) for b in range(4)
                    ],
                }
                for t in ("routed", "gemma", "qwen")
            ],
            ts=1_790_000_000 + k * 3600,
        )


def _parse(html: str) -> _Svgs:
    parser = _Svgs()
    parser.feed(html)
    return parser


def test_all_four_plots_have_data(tmp_path) -> None:
    with MetricsStore(tmp_path / "m.sqlite3") as store:
        _fill(store)
        html = render_report(store)
    parsed = _parse(html)
    assert list(parsed.plots) == list(PLOT_IDS)
    assert parsed.plots["plot-patterns"]["points"] == 3 + 3 * 2  # total + two kinds
    assert parsed.plots["plot-accuracy"]["circle"] == 3 * 3 + 3  # 3 tiers + escalation
    assert parsed.plots["plot-latency"]["rect.bar"] == 6  # p50 + p95 for 3 tiers
    assert parsed.plots["plot-calibration"]["circle"] == 3 * 4
    assert parsed.external == []  # self-contained: no scripts, no links, no images


def test_an_empty_store_says_what_to_do(tmp_path) -> None:
    with MetricsStore(tmp_path / "m.sqlite3") as store:
        html = render_report(store)
    parsed = _parse(html)
    assert all(p["points"] == 0 for p in parsed.plots.values())
    assert "run an evaluation" in html and "foundups-training mine" in html


def test_untrusted_text_is_escaped(tmp_path) -> None:
    with MetricsStore(tmp_path / "m.sqlite3") as store:
        store.record_eval("<script>alert(1)</script>", [{"tier": "<b>", "n": 1, "accuracy": 1}])
        html = render_report(store)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_report_verb_writes_index_html(settings, tmp_path, capsys) -> None:
    out = tmp_path / "dash"
    settings.data_dir.mkdir()  # report never creates one (test_op_review_fixes, #9)
    assert main(["--data-dir", str(settings.data_dir), "report", "--out", str(out)]) == 0
    assert (out / REPORT_NAME).is_file()
    assert str(out / REPORT_NAME) in capsys.readouterr().out


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (run `bash scripts/ensure-system-deps.sh` as root)",
)
def test_chromium_renders_the_plots(tmp_path) -> None:
    with MetricsStore(tmp_path / "m.sqlite3") as store:
        _fill(store)
        page = write_report(store, tmp_path / "out")
    dom = _chromium(["--dump-dom", page.resolve().as_uri()], tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    parsed = _parse(dom.stdout)  # the DOM as the browser built it, not our text
    assert list(parsed.plots) == list(PLOT_IDS)
    for plot_id, found in parsed.plots.items():
        assert found["points"] > 0, plot_id
        assert found["circle"] or found["rect.bar"], plot_id
    shot = tmp_path / "shot.png"
    run = _chromium(
        ["--window-size=1400,1200", f"--screenshot={shot}", page.resolve().as_uri()],
        tmp_path / "profile2",
    )
    assert run.returncode == 0, run.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1400, 1200)
    # A blank page compresses to a few KB; four plots with text and colours do not.
    assert len(data) > 40_000
    assert re.search(rb"IDAT", data)
