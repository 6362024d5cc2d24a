"""Benchmark mining on a generated 30,000-line log in the host's real format.

Measured in one run, on this machine:

* parse + extract + consolidate, lines/s (wall clock and CPU time; best of ``--repeat``);
* the whole ``mine`` (reader, checkpoint, verifier against the sample host tree, upsert into
  the real PatternMemory with its embedding) of the 30,000 lines, in seconds;
* stored vectors against the naive baseline of one pattern per line (what a miner that
  stores every line would embed), and the baseline's embedding time, measured on a sample of
  its lines and scaled to all of them (``--baseline-sample``; 0 skips it);
* verified rate among patterns naming a module; distinct decisions and outcomes kept.

    .venv/bin/python benchmarks/bench_mining.py
    .venv/bin/python benchmarks/bench_mining.py --lines 30000 --repeat 3 --baseline-sample 500

Results go to ``benchmarks/results/mining-<time>.json`` and a table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from loggen import generate  # noqa: E402

from foundups_training.config import load_settings  # noqa: E402
from foundups_training.mining import Verifier, extract_patterns, mine_log  # noqa: E402
from foundups_training.mining.templates import mask  # noqa: E402
from foundups_training.samples import sample_host  # noqa: E402

TARGETS = {
    "parse_extract_lines_per_s": 50_000,
    "mine_seconds": 60.0,
    "stored_per_line": 0.1,
    "verified_rate": 0.70,
}


def bench_extract(lines: list[str], repeat: int) -> dict[str, Any]:
    """parse+extract+consolidate throughput: the first (cold) run and the best of the rest."""
    runs = []
    for _ in range(max(1, repeat)):
        verifier = Verifier(sample_host())  # a fresh verifier: its file cache starts cold
        w0, c0 = time.perf_counter(), time.process_time()
        patterns = extract_patterns(lines, verifier)
        runs.append((time.perf_counter() - w0, time.process_time() - c0))
    best_wall = min(w for w, _ in runs)
    best_cpu = min(c for _, c in runs)
    return {
        "runs": len(runs),
        "cold_wall_s": round(runs[0][0], 3),
        "best_wall_s": round(best_wall, 3),
        "best_cpu_s": round(best_cpu, 3),
        "lines_per_s_cold": round(len(lines) / runs[0][0]),
        "lines_per_s": round(len(lines) / best_wall),
        "lines_per_cpu_s": round(len(lines) / best_cpu),
        "patterns": len(patterns),
    }


def bench_mine(log: Path, data_dir: Path) -> dict[str, Any]:
    """The whole ``mine`` into the real memory, as the CLI runs it (fresh data dir)."""
    from foundups_training.memory import open_memory

    settings = load_settings({"data_dir": data_dir}, env={})
    t0, c0 = time.perf_counter(), time.process_time()
    memory = open_memory(settings)
    opened = time.perf_counter() - t0
    try:
        report = mine_log(
            log, memory, checkpoint_path=settings.checkpoint_path, host_root=sample_host()
        )
        stats = memory.stats()
    finally:
        memory.close()
    total = time.perf_counter() - t0
    # CPU seconds of all this process's threads (the embedder's included): the measure of
    # work that does not depend on how many other jobs share the two cores
    cpu = time.process_time() - c0
    return {
        "open_s": round(opened, 3),
        "mine_s": round(report.duration_s, 3),
        "total_s": round(total, 3),
        "cpu_s": round(cpu, 3),
        "lines": report.lines_processed,
        "patterns_stored": report.patterns_stored,
        "patterns_total": report.patterns_total,
        "by_kind": report.by_kind,
        "verified": report.verified,
        "with_module": report.with_module,
        "verified_rate": round(report.verified_rate, 4),
        "episodes_pending": report.episodes_pending,
        "memory_stats": stats,
    }


def bench_baseline(lines: list[str], sample: int, data_dir: Path) -> dict[str, Any]:
    """The naive miner: one pattern (one vector) per non-empty line."""
    vectors = sum(1 for line in lines if line.strip())
    out: dict[str, Any] = {"vectors": vectors}
    if sample <= 0:
        return out
    from foundups_training.memory import open_memory
    from foundups_training.records import Pattern

    settings = load_settings({"data_dir": data_dir}, env={})
    memory = open_memory(settings)
    try:
        step = max(1, len(lines) // sample)
        picked = [line for line in lines[::step] if line.strip()][:sample]
        patterns = [
            Pattern.make("log_template", line, "", key=f"{i}:{line}")
            for i, line in enumerate(picked)
        ]
        t0 = time.perf_counter()
        memory.upsert(patterns)
        took = time.perf_counter() - t0
    finally:
        memory.close()
    out.update(
        {
            "sample": len(picked),
            "sample_upsert_s": round(took, 3),
            "estimated_upsert_s": round(took * vectors / max(1, len(picked)), 1),
        }
    )
    return out


def distinct_kept(lines: list[str]) -> dict[str, int]:
    """Distinct (kind, decision) and (kind, outcome template) pairs among stored patterns."""
    patterns = [p for p in extract_patterns(lines) if p.kind != "module_location"]
    return {
        "decisions": len({(p.kind, p.decision) for p in patterns}),
        "outcomes": len(
            {(p.kind, mask(p.outcome.split(": ", 1)[-1])) for p in patterns if p.outcome}
        ),
        "with_outcome": sum(1 for p in patterns if p.outcome),
        "episode_patterns": len(patterns),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, write JSON, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=30_000)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline-sample", type=int, default=300)
    ap.add_argument("--no-memory", action="store_true", help="skip the runs into ChromaDB")
    args = ap.parse_args(argv)

    lines = generate(args.lines, args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-mining-") as tmp:
        log = Path(tmp) / "012.txt"
        log.write_text("\n".join(lines) + "\n", encoding="utf-8")
        results: dict[str, Any] = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "machine": {
                "platform": platform.platform(),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_avg_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
            },
            "log": {"lines": len(lines), "bytes": log.stat().st_size, "seed": args.seed},
            "extract": bench_extract(lines, args.repeat),
            "distinct": distinct_kept(lines),
        }
        if not args.no_memory:
            results["mine"] = bench_mine(log, Path(tmp) / "data")
            results["baseline"] = bench_baseline(lines, args.baseline_sample, Path(tmp) / "naive")
        results["machine"]["load_avg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None

    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    out = out_dir / f"mining-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    _print_table(results)
    print(f"\nresults: {out}")
    return 0


def _print_table(r: dict[str, Any]) -> None:
    ex = r["extract"]
    rows = [
        ("log lines", f"{r['log']['lines']:,}", ""),
        (
            "parse+extract lines/s (best wall)",
            f"{ex['lines_per_s']:,}",
            f"target >= {TARGETS['parse_extract_lines_per_s']:,}",
        ),
        ("parse+extract lines/s (cold run)", f"{ex['lines_per_s_cold']:,}", ""),
        ("parse+extract lines per CPU-second", f"{ex['lines_per_cpu_s']:,}", ""),
        ("patterns (one pass)", f"{ex['patterns']:,}", ""),
        (
            "distinct decisions / outcomes kept",
            f"{r['distinct']['decisions']} / {r['distinct']['outcomes']}",
            "",
        ),
    ]
    if "mine" in r:
        m, b = r["mine"], r["baseline"]
        per_line = m["patterns_stored"] / max(1, m["lines"])
        rows += [
            (
                "mine into memory, s (open + mine)",
                f"{m['total_s']:.1f}",
                f"target <= {TARGETS['mine_seconds']:.0f}",
            ),
            ("  same, CPU-seconds (all threads)", f"{m['cpu_s']:.1f}", ""),
            ("stored vectors", f"{m['patterns_stored']:,}", ""),
            ("naive one-per-line vectors", f"{b['vectors']:,}", ""),
            ("stored per line", f"{per_line:.4f}", f"target <= {TARGETS['stored_per_line']}"),
            (
                "vectors saved vs naive",
                f"{b['vectors'] / max(1, m['patterns_stored']):.0f}x fewer",
                "",
            ),
            (
                "verified / naming a module",
                f"{m['verified']} / {m['with_module']} ({100 * m['verified_rate']:.1f}%)",
                f"target >= {100 * TARGETS['verified_rate']:.0f}%",
            ),
        ]
        if "estimated_upsert_s" in b:
            rows.append(
                (
                    f"naive upsert time (est. from {b['sample']} lines)",
                    f"{b['estimated_upsert_s']:.0f} s",
                    f"vs {m['mine_s']:.1f} s mined",
                )
            )
    load = r["machine"].get("load_avg_start")
    if load:
        rows.append(("load average at start (2 cores)", f"{load[0]:.1f}", ""))
    width = max(len(a) for a, _, _ in rows)
    for a, b_, c in rows:
        print(f"{a:<{width}}  {b_:>18}  {c}")


if __name__ == "__main__":
    raise SystemExit(main())
