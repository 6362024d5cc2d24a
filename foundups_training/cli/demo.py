"""``foundups-training demo``: the main job, end to end, on the samples shipped in the package.

1. index the sample host tree (module locations, WSP rules) — with a progress bar;
2. mine the sample log (the host's real line format) — with a progress bar;
3. answer a handful of the sample development questions (never the held-out ones) through
   the router (Gemma, escalating to Qwen), showing tier, confidence and latency
   (``--no-models``: memory tier only);
4. print the metrics and write the HTML dashboard.

It works in ``<data dir>/demo``, so the demo never mixes sample patterns into the
operator's real memory, and clears that folder's patterns and checkpoints each time. Its
metrics and telemetry history stay: the commands of earlier demo runs are mined again as
``command`` patterns.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foundups_training.cli import CliError, emit, printable
from foundups_training.config import DEMO_MARK, Settings
from foundups_training.text import EXIT_OUTPUT_CLOSED, drop_stdout

if TYPE_CHECKING:
    from foundups_training.memory import StoreLocked

#: Questions asked per kind, and in all: enough to see every tier, short enough to wait for.
PER_KIND = 2
MAX_QUESTIONS = 8


def _say(args: argparse.Namespace, text: str = "") -> None:
    """Print one line of the demo's account (none with ``--json``). A reader that closed
    the pipe (``demo | head``) stops the demo as the signal would have, with no
    ``BrokenPipeError`` line: nothing is left to show the rest to."""
    if getattr(args, "json", False):
        return
    try:
        print(printable(text), flush=True)  # a model's answer may hold escapes
    except BrokenPipeError:
        drop_stdout()
        raise SystemExit(EXIT_OUTPUT_CLOSED) from None


def _samples() -> tuple[Path, Path]:
    """The sample host tree and sample log shipped in the package."""
    try:
        from foundups_training.samples import sample_host, sample_log
    except ImportError as exc:
        raise CliError(f"the shipped samples are missing from this install ({exc})") from exc
    return Path(sample_host()), Path(sample_log())


#: Asked when the package ships no sample QA set: questions about the *sample* host and log
#: (the real-host evaluation sets would only measure what the samples do not contain).
BUILTIN_QUESTIONS: tuple[dict[str, Any], ...] = (
    {
        "id": "demo-1",
        "kind": "module_location",
        "query": "Which module rotates to another YouTube credential set when the quota runs out?",
        "expected": ["modules/platform_integration/youtube_auth"],
    },
    {
        "id": "demo-2",
        "kind": "module_location",
        "query": "Where is the code that finds out whether a channel is live right now?",
        "expected": ["modules/platform_integration/stream_resolver"],
    },
    {
        "id": "demo-3",
        "kind": "wsp_compliance",
        "query": "Is it fine to put a test file outside the module's tests/ folder?",
        "expected": ["WSP 49"],
    },
    {
        "id": "demo-4",
        "kind": "error_fix",
        "query": "What to do after 'Database transaction failed: UNIQUE constraint failed'?",
        "expected": [],
    },
    {
        "id": "demo-5",
        "kind": "reasoning",
        "query": "Why is Move2Japan checked before the other channels?",
        "expected": [],
    },
)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The QA items of one JSONL file (``{"id", "kind", "query", "expected"}`` per line)."""
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and item.get("query"):
            items.append(item)
    return items


def demo_questions() -> tuple[list[dict[str, Any]], str]:
    """The sample QA set's dev split (else all of it, else the built-in questions) and its name.

    Never the held-out split: that one is kept unseen to measure the project.
    """
    try:
        from foundups_training.samples import sample_evalset
    except ImportError:
        return list(BUILTIN_QUESTIONS), "built-in demo questions"
    for split in ("dev", ""):
        path = Path(sample_evalset(split))
        if path.is_file():
            items = read_jsonl(path)
            if items:
                return items, path.name
    return list(BUILTIN_QUESTIONS), "built-in demo questions"


def pick_questions(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A few questions of each kind, in a stable order, at most ``MAX_QUESTIONS``."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_kind.setdefault(str(item.get("kind", "")), []).append(item)
    picked: list[dict[str, Any]] = []
    # Round-robin over kinds so a short demo still shows every kind.
    for rank in range(PER_KIND):
        for kind in sorted(by_kind):
            if rank < len(by_kind[kind]) and len(picked) < MAX_QUESTIONS:
                picked.append(by_kind[kind][rank])
    return picked


def _norm(text: str) -> str:
    return re.sub(r"[\\.]", "/", text.lower())


def is_right(answer_text: str, expected: list[str], kind: str = "") -> bool | None:
    """The evaluation harness's rule (None when nothing is expected: not judged)."""
    if not expected:
        return None
    try:
        from foundups_training.evaluation.qa import is_right as rule  # the harness's own rule
    except ImportError:
        got = _norm(answer_text)
        return any(_norm(e) in got for e in expected)
    return bool(rule(answer_text, expected, kind))


def _summary_line(report: Any) -> dict[str, Any]:
    data = report.as_dict() if hasattr(report, "as_dict") else dict(vars(report))
    return {k: v for k, v in data.items() if not isinstance(v, list | tuple) or len(v) < 20}


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the main job on the samples and print what happened (``--json`` for machines)."""
    from foundups_training.memory import StoreLocked
    from foundups_training.status import count_lines

    host, log_file = _samples()
    demo_dir = settings.data_dir / "demo"
    # Always the embedded store in the demo's own folder: with a Chroma server configured
    # (``chroma_url``), the demo's clear would otherwise delete the operator's real
    # collection on that server.
    demo = replace(
        settings,
        data_dir=demo_dir,
        host_root=host,
        log_path=log_file,
        chroma_url="",
        chroma_token="",
    )
    demo.ensure_data_dir()
    # Marked as the demo's: opened later with --data-dir (the hint at the end), it keeps
    # the embedded store too (config.DEMO_MARK).
    (demo_dir / DEMO_MARK).write_text(
        "foundups-training demo: this folder's store is always the embedded one\n",
        encoding="utf-8",
    )
    tier = "memory" if args.no_models else "auto"
    out: dict[str, Any] = {"data_dir": str(demo_dir), "host": str(host), "log": str(log_file)}

    _say(args, "foundups-training demo: the main job on the shipped samples")
    _say(args, f"  data directory: {demo_dir}")
    _say(args, "                  (a folder of its own: your real memory is not touched)")
    _say(args, f"  sample host   : {host}")
    _say(args, f"  sample log    : {log_file} ({count_lines(log_file) or 0:,} lines)")
    _say(
        args,
        "  answers from  : "
        + (
            "memory only (--no-models)" if args.no_models else "Gemma 270M, escalating to Qwen 1.5B"
        ),
    )
    start = time.perf_counter()
    try:
        out = _run_demo(args, demo, tier, out, start)
    except StoreLocked as exc:
        raise CliError(_demo_store_locked(exc, demo_dir), code=1) from None
    if getattr(args, "json", False):
        emit(args, out)
    return 0


def _demo_store_locked(exc: StoreLocked, demo_dir: Path) -> str:
    """Advice for the demo's own store held by another process.

    The general advice (a read-only command, a Chroma server) does not fit here: the demo
    always uses the embedded store in its own folder, so what holds it is another demo (or
    a command pointed at that folder), and it is released when that one ends.
    """
    pid = exc.owner.get("pid")
    stop = f" (process {pid})" if pid else ""
    return (
        f"the demo's own pattern store ({demo_dir / 'chroma'}) is in use by {exc.who}: "
        "another `foundups-training demo` is running, or a command given --data-dir "
        f"{shell_word(demo_dir)}. Wait for it to finish or stop it{stop}, then run the "
        "demo again."
    )


def _run_demo(
    args: argparse.Namespace, demo: Settings, tier: str, out: dict[str, Any], start: float
) -> dict[str, Any]:
    """The demo's four steps on its own data directory; returns what ``--json`` prints."""
    from foundups_training import telemetry
    from foundups_training.engine import Trainer
    from foundups_training.menu import (
        batch_train,
        format_metrics,
        index_tree,
        routed_answer,
    )
    from foundups_training.metrics import attach_observers
    from foundups_training.progress import progress_for
    from foundups_training.records import Query
    from foundups_training.report import write_report

    host, log_file, demo_dir = demo.host_root, demo.log_path, demo.data_dir
    with Trainer(demo) as trainer:
        attach_observers(trainer)
        with telemetry.command("training.demo", {"no_models": bool(args.no_models)}) as result:
            trainer.clear()  # a fresh start: the demo shows a whole run, not a resumed one

            _say(args, "\n[1/4] Indexing the sample host tree")
            with progress_for(args, "  indexing") as bar:
                indexed = index_tree(trainer, host, progress=bar)
            out["index"] = _summary_line(indexed)
            _say(args, "  " + _describe(out["index"]))

            _say(args, "\n[2/4] Mining the sample log")
            with progress_for(args, "  mining  ", unit="bytes") as bar:
                mined = batch_train(trainer, log_file, host_root=host, progress=bar)
            out["mine"] = _summary_line(mined)
            _say(args, "  " + _describe(out["mine"]))
            stats = trainer.memory.stats()
            out["patterns"] = {"total": stats["total"], "by_kind": stats["by_kind"]}
            _say(args, f"  memory now holds {stats['total']:,} patterns:")
            for kind, n in sorted(stats["by_kind"].items(), key=lambda kv: (-kv[1], kv[0])):
                _say(args, f"    {kind:<18} {n:,}")

            _say(args, f"\n[3/4] Answering questions (tier: {tier})")
            items, source = demo_questions()
            questions = pick_questions(items)
            _say(args, f"  {len(questions)} questions from {source}")
            answers = []
            for item in questions:
                answer = routed_answer(
                    trainer, Query(text=item["query"], tier=tier, asked_by="demo")
                )
                right = is_right(
                    answer.text, list(item.get("expected") or []), str(item.get("kind", ""))
                )
                answers.append(
                    {
                        "id": item.get("id"),
                        "kind": item.get("kind"),
                        "query": item["query"],
                        "expected": item.get("expected"),
                        "answer": answer.text,
                        "tier": answer.tier,
                        "model": answer.model,
                        "confidence": round(answer.confidence, 3),
                        "latency_ms": round(answer.latency_ms, 1),
                        "escalated": answer.escalated,
                        "escalation_reason": answer.escalation_reason,
                        "right": right,
                        "error": answer.error,
                    }
                )
                _say(args, f"  Q [{item.get('kind', '?')}] {item['query']}")
                mark = {True: "right", False: "WRONG", None: "?"}[right]
                esc = (
                    f", escalated: {answer.escalation_reason or 'yes'}" if answer.escalated else ""
                )
                _say(
                    args,
                    f"    -> {answer.tier}"
                    f"{f' ({answer.model})' if answer.model not in ('', answer.tier) else ''}, "
                    f"confidence {answer.confidence:.2f}, {answer.latency_ms:,.0f} ms{esc} "
                    f"[{mark}]",
                )
                text = " ".join(answer.text.split())
                _say(args, f"    {text[:200] or '(no answer)'}")
                if answer.error:
                    _say(args, f"    error: {answer.error}")
            out["answers"] = answers
            judged = [a for a in answers if a["right"] is not None]
            correct = sum(1 for a in judged if a["right"])
            out["accuracy"] = round(correct / len(judged), 3) if judged else None
            result.update(questions=len(answers), right=correct, patterns_total=stats["total"])
            if judged:
                # The judged answers are a small evaluation run: the dashboard's accuracy and
                # calibration plots then have something to show after the demo.
                out["eval_run"] = record_demo_eval(trainer.metrics, judged, tier, source)

        _say(args, "\n[4/4] Metrics")
        trainer.metrics.observer.flush()
        summary = trainer.metrics.summary()
        out["metrics"] = summary
        for line in format_metrics(summary):
            _say(args, "  " + line)
        if judged:
            _say(args, f"  Right on these questions: {correct} of {len(judged)}")
        report = write_report(trainer.metrics, demo_dir / "report", trainer.status())
        out["report"] = str(report)
        out["duration_s"] = round(time.perf_counter() - start, 1)
        _say(args, f"  Dashboard: {report}")
        _say(
            args,
            f"\nDone in {out['duration_s']} s. "
            f"Explore it: foundups-training --data-dir {shell_word(demo_dir)} menu",
        )
    return out


def record_demo_eval(store: Any, judged: list[dict[str, Any]], tier: str, source: str) -> int:
    """Record the demo's judged answers as one evaluation run of the tier asked."""
    from foundups_training.metrics import EvalTier, calibration_bins, percentile

    latencies = [a["latency_ms"] for a in judged]
    n = len(judged)
    bins = calibration_bins((a["confidence"], bool(a["right"])) for a in judged)
    # Expected calibration error: the count-weighted gap between confidence and accuracy.
    ece = sum(b.count / n * abs(b.accuracy - b.confidence) for b in bins)
    return int(
        store.record_eval(
            f"demo: {source}",
            [
                EvalTier(
                    tier="routed" if tier == "auto" else tier,
                    n=n,
                    accuracy=sum(bool(a["right"]) for a in judged) / n,
                    escalation_rate=sum(bool(a["escalated"]) for a in judged) / n,
                    brier=sum((a["confidence"] - bool(a["right"])) ** 2 for a in judged) / n,
                    p50_ms=percentile(latencies, 50),
                    p95_ms=percentile(latencies, 95),
                    ece=ece,
                    calibration=bins,
                )
            ],
            meta={"demo": True},
        )
    )


def shell_word(path: Path) -> str:
    """``path`` as one word of a command line to copy (a folder with a space in its name,
    ``C:\\Users\\Jane Doe``, split in two and the command named another data directory)."""
    import os
    import shlex
    import subprocess

    text = str(path)
    return subprocess.list2cmdline([text]) if os.name == "nt" else shlex.quote(text)


def _describe(report: dict[str, Any]) -> str:
    """One line for an index or mine report, from whichever fields it has."""
    parts = []
    for key, label in (
        ("modules", "modules"),
        ("files", "files"),
        ("lines_processed", "lines"),
        ("patterns_stored", "patterns stored"),
        ("verified", "verified"),
    ):
        value = report.get(key)
        if isinstance(value, int):
            parts.append(f"{value:,} {label}")
    duration = report.get("duration_s")
    if isinstance(duration, int | float):
        parts.append(f"{duration:.1f} s")
    return ", ".join(parts) or json.dumps(report, default=str)[:200]
