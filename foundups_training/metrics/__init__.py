"""Metrics: what was learned and how well it answers, over time (SQLite in the data dir).

Public surface:

- :class:`MetricsStore` — ``MetricsStore(path)``; ``record_snapshot``, ``record_training``,
  ``record_answer``, ``record_eval``, ``record_eval_report``; ``snapshots``,
  ``training_runs``, ``last_training``, ``answers``, ``answer_stats``,
  ``latencies_by_tier``, ``eval_runs``, ``summary``; ``close``.
- :func:`attach_observers` — subscribe the store (and the telemetry writer) to the signals.
- The row records: :class:`TrainingRun`, :class:`EvalTier`, :class:`CalibrationBin`,
  :class:`EvalRun`, :class:`Snapshot`, :class:`AnswerRow`.
"""

from foundups_training.metrics.calibration import calibration_bins
from foundups_training.metrics.observers import MetricsObserver, attach_observers
from foundups_training.metrics.records import (
    AnswerRow,
    CalibrationBin,
    EvalRun,
    EvalTier,
    Snapshot,
    TrainingRun,
)
from foundups_training.metrics.store import SCHEMA_VERSION, MetricsError, MetricsStore, percentile

__all__ = [
    "SCHEMA_VERSION",
    "AnswerRow",
    "CalibrationBin",
    "EvalRun",
    "EvalTier",
    "MetricsError",
    "MetricsObserver",
    "MetricsStore",
    "Snapshot",
    "TrainingRun",
    "attach_observers",
    "calibration_bins",
    "percentile",
]
