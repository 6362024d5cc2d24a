"""Reliability-diagram bins from (confidence, right) pairs, for the calibration curve."""

from __future__ import annotations

from collections.abc import Iterable

from foundups_training.metrics.records import CalibrationBin


def calibration_bins(
    pairs: Iterable[tuple[float, bool]], n_bins: int = 10
) -> tuple[CalibrationBin, ...]:
    """Equal-width bins over [0, 1]; empty bins are left out (nothing to plot there).

    A confidence of exactly 1.0 falls in the last bin, not in a bin of its own.
    """
    counts = [0] * n_bins
    conf_sum = [0.0] * n_bins
    right_sum = [0] * n_bins
    for confidence, right in pairs:
        c = min(1.0, max(0.0, float(confidence)))
        i = min(n_bins - 1, int(c * n_bins))
        counts[i] += 1
        conf_sum[i] += c
        right_sum[i] += bool(right)
    return tuple(
        CalibrationBin(
            lower=i / n_bins,
            upper=(i + 1) / n_bins,
            count=counts[i],
            confidence=conf_sum[i] / counts[i],
            accuracy=right_sum[i] / counts[i],
        )
        for i in range(n_bins)
        if counts[i]
    )
