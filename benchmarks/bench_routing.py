"""Routed vs Gemma-only vs Qwen-only vs memory-only, on a held-out set, in one run.

Usage (from the repository root)::

    python benchmarks/bench_routing.py --host-root /path/to/Foundups-Agent \\
        --dev ../shared/eval/module_qa_dev.jsonl \\
        --dev foundups_training/evalsets/routing_dev_realhost.jsonl \\
        --dev foundups_training/evalsets/routing_calibration_realhost.jsonl \\
        --heldout foundups_training/evalsets/routing_heldout_realhost.jsonl

1. index the host tree into a fresh (or the given) data directory, unless already indexed;
2. fit the calibration on the DEV files only (forced memory/Gemma/Qwen tiers): every
   labelled question outside the held-out file (docs/models.md, "Which questions to
   calibrate on");
3. evaluate the HELD-OUT file on every tier in the same process, same models, same cache,
   and report each target as a ratio against the Qwen-only baseline measured in this run.

``--log`` also mines an operational log (e.g. the shipped sample) before evaluating.
Use ``--qwen qwen-0.5b`` for the small Qwen (faster, for smoke runs).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host-root", type=Path, help="host tree to index (module questions)")
    p.add_argument("--log", type=Path, help="operational log to mine as well")
    p.add_argument("--data-dir", type=Path, help="re-use this data directory (else a temp one)")
    p.add_argument("--dev", type=Path, action="append", default=[], help="QA files to fit on")
    p.add_argument("--heldout", type=Path, required=True, help="held-out QA file")
    p.add_argument("--qwen", default="", help="Qwen GGUF path or qwen-0.5b / qwen-1.5b")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit", type=int, default=None, help="first N held-out items only")
    p.add_argument("--tiers", default="routed,gemma,qwen,memory")
    p.add_argument(
        "--calibrate-tiers",
        default="memory,gemma,qwen",
        help="forced tiers run on the dev files to fit the calibration",
    )
    p.add_argument("--out", type=Path, help="write the summary JSON here")
    p.add_argument("--items", type=Path, help="write the held-out per-item JSONL here")
    p.add_argument("--dev-items", type=Path, help="write the dev (calibration) per-item JSONL here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; prints a table and the targets."""
    args = _args(argv)
    from foundups_training.config import load_settings
    from foundups_training.engine import Trainer
    from foundups_training.evaluation import evaluate, fit_calibration, format_report, load_qa

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-routing-"))
    settings = load_settings({"data_dir": data_dir}, env={})
    settings = replace(
        settings, n_threads=args.threads, qwen_model=args.qwen or settings.qwen_model
    )
    setup: dict[str, float] = {}
    with Trainer(settings) as trainer:
        if args.host_root and trainer.memory.count() == 0:
            start = time.perf_counter()
            report = trainer.index(args.host_root)
            setup["index_s"] = round(time.perf_counter() - start, 1)
            print(
                f"indexed {report.patterns_stored} patterns in {setup['index_s']} s",
                file=sys.stderr,
            )
        if args.log:
            start = time.perf_counter()
            mined = trainer.mine(args.log, host_root=args.host_root)
            setup["mine_s"] = round(time.perf_counter() - start, 1)
            print(f"mined {mined.patterns_stored} patterns", file=sys.stderr)
        router = trainer.router
        calibration: dict[str, object] = {}
        if args.dev:
            dev = [item for path in args.dev for item in load_qa(path)]
            start = time.perf_counter()
            cal_tiers = [t for t in args.calibrate_tiers.split(",") if t]
            dev_report = evaluate(router, dev, cal_tiers)
            calibration = fit_calibration(dev_report, router.calibration)
            if args.dev_items:
                dev_report.write_items(args.dev_items)
            router.calibration.save(settings.calibration_path)
            setup["calibrate_s"] = round(time.perf_counter() - start, 1)
            print(f"calibrated on {len(dev)} dev questions", file=sys.stderr)
        items = load_qa(args.heldout)[: args.limit]
        tiers = [t for t in args.tiers.split(",") if t]
        # Warm both models once so the first held-out question does not pay the load.
        from foundups_training.records import Query

        for tier in ("gemma", "qwen"):
            router.answer(Query(items[0].query, tier=tier))
        report = evaluate(router, items, tiers)
        report.calibration = calibration
        if args.items:
            report.write_items(args.items)
    print(format_report(report))
    t = report.tiers
    summary = {"setup": setup, **report.to_json(), "targets": {}}
    if {"routed", "qwen"} <= set(t):
        routed, qwen = t["routed"], t["qwen"]
        targets = {
            "routed lookup accuracy >= 0.85": (routed.lookup_accuracy or 0) >= 0.85,
            "routed accuracy >= qwen-only - 2 points": routed.accuracy >= qwen.accuracy - 0.02,
            "escalation rate <= 0.30": routed.escalation_rate <= 0.30,
            "routed p50 <= 0.25 x qwen-only p50": routed.p50_ms <= 0.25 * qwen.p50_ms,
            "ECE (routed) <= 0.10": routed.ece <= 0.10,
        }
        if "gemma" in t:
            targets["gemma p50 <= 150 ms"] = t["gemma"].p50_ms <= 150
        summary["targets"] = targets
        summary["ratios"] = {
            "routed_p50_over_qwen_p50": round(routed.p50_ms / qwen.p50_ms, 3)
            if qwen.p50_ms
            else None,
            "routed_minus_qwen_accuracy": round(routed.accuracy - qwen.accuracy, 3),
        }
        print()
        for name, ok in targets.items():
            print(f"{'PASS' if ok else 'MISS'}  {name}")
        print(f"routed p50 / qwen p50 = {summary['ratios']['routed_p50_over_qwen_p50']}")
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
