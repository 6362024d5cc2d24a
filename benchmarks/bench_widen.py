"""Benchmark the Gemma tier with the shipped weights against the F16-widened ones.

``gemma_weights = "f16"`` (the default, ``foundups_training/models/widen.py``) loads the
shipped Gemma with its layers' weights widened from 4/6-bit to F16, derived once from the
pinned file. Whether that is faster depends on the CPU's matrix kernels, so this measures
both in one run, on one store, on the same questions (the sample development questions,
never the held-out ones), each asked through the Gemma tier (``tier="gemma"``) by two
routers that differ only in that setting, interleaved so that both see the same machine:

* the baseline: the shipped file (``gemma_weights = "shipped"``);
* the widened file: the median latency as a ratio against the baseline, and how many
  answers differ (the weights are the same numbers; only the arithmetic differs).

    .venv/bin/python benchmarks/bench_widen.py              # index + mine the samples first
    .venv/bin/python benchmarks/bench_widen.py --data-dir D # a data directory already trained

Results go to ``benchmarks/results/widen-<time>.json`` and a table is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from rows import latency_rows, save_rows  # noqa: E402

DEV = HERE.parent / "foundups_training" / "evalsets" / "sample_qa_dev.jsonl"


def main(argv: list[str] | None = None) -> int:
    """Measure; print and save the results."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, help="a trained data directory (else a temp one)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--questions", type=int, default=60, help="the first N dev questions")
    args = ap.parse_args(argv)

    from foundups_training.config import load_settings
    from foundups_training.engine import Trainer
    from foundups_training.records import Query
    from foundups_training.routing.router import Router
    from foundups_training.samples import sample_host, sample_log

    questions = [
        json.loads(line)["query"] for line in DEV.read_text().splitlines() if line.strip()
    ][: args.questions]
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-widen-"))
    settings = replace(load_settings({"data_dir": data_dir}, env={}), n_threads=args.threads)
    variants = ("shipped", "f16")
    latencies: dict[str, list[float]] = {name: [] for name in variants}
    answers: dict[str, list[str]] = {name: [] for name in variants}
    errors: dict[str, int] = dict.fromkeys(variants, 0)
    with Trainer(settings) as trainer:
        if trainer.memory.count() == 0:
            trainer.index(sample_host())
            trainer.mine(sample_log(), host_root=sample_host())
        routers = {
            name: Router.from_settings(replace(settings, gemma_weights=name), trainer.memory)
            for name in variants
        }
        try:
            for router in routers.values():  # load, widen and warm the prefix, unmeasured
                router.answer(Query(questions[0], tier="gemma"))
            for question in questions:
                for name, router in routers.items():  # interleaved: the same conditions
                    answer = router.answer(Query(question, tier="gemma"))
                    answers[name].append(answer.text)
                    if answer.error or answer.tier != "gemma":
                        errors[name] += 1
                        continue
                    latencies[name].append(answer.latency_ms)
        finally:
            for router in routers.values():
                router.close()
    differ = sum(a != b for a, b in zip(answers["shipped"], answers["f16"], strict=True))
    rows = latency_rows("weights", latencies, errors, "shipped")
    for row in rows:
        row["answers_differing"] = differ if row["weights"] != "shipped" else 0
    save_rows("widen", rows)
    return 0 if all(errors[name] == 0 for name in variants) else 1


if __name__ == "__main__":
    sys.exit(main())
