"""``foundups-training eval QA.jsonl``: accuracy, escalation, calibration and latency per tier."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from foundups_training.cli import CliError, emit
from foundups_training.config import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Evaluate the QA file on the chosen tiers; ``--calibrate`` fits and saves calibration."""
    from foundups_training.engine import Trainer
    from foundups_training.evaluation import (
        QAFileError,
        evaluate,
        fit_calibration,
        format_report,
        load_qa,
    )

    try:
        items = load_qa(args.qa)
    except QAFileError as exc:
        raise CliError(str(exc)) from None
    if args.limit is not None:
        if args.limit < 1:
            raise CliError("--limit must be at least 1")
        items = items[: args.limit]
    tiers = [t.strip() for t in str(args.tiers).split(",") if t.strip()]
    unknown = [t for t in tiers if t not in ("routed", "memory", "gemma", "qwen")]
    if unknown or not tiers:
        raise CliError(f"--tiers: unknown tier(s) {', '.join(unknown) or '(none)'}")

    from foundups_training.progress import progress_for

    with Trainer(settings, read_only=True) as trainer:
        router = trainer.router
        with progress_for(args, "evaluating") as bar:
            report = evaluate(router, items, tiers, progress=bar)
        if args.calibrate:
            report.calibration = fit_calibration(report, router.calibration)
            if report.calibration:
                router.calibration.save(settings.calibration_path)
            else:
                report.calibration = {"note": "nothing fitted: run the forced tiers too"}
        try:  # the dashboard plots every evaluation run; a metrics failure loses no result
            trainer.metrics.record_eval_report(report, Path(args.qa).name)
        except Exception as exc:  # noqa: BLE001
            print(f"note: evaluation not recorded in the metrics store: {exc}", file=sys.stderr)
    if args.out:
        report.write_items(args.out)
    emit(args, report.to_json(), format_report(report))
    return 0
