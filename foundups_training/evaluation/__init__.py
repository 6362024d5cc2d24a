"""Evaluation: QA files, the "right" rule, and the per-tier harness behind ``eval``."""

from __future__ import annotations

from foundups_training.evaluation.harness import (
    EvalReport,
    ItemResult,
    TierReport,
    evaluate,
    fit_calibration,
    format_report,
)
from foundups_training.evaluation.qa import QAFileError, QAItem, is_right, load_qa, parse_lines

__all__ = [
    "EvalReport",
    "ItemResult",
    "QAFileError",
    "QAItem",
    "TierReport",
    "evaluate",
    "fit_calibration",
    "format_report",
    "is_right",
    "load_qa",
    "parse_lines",
]
