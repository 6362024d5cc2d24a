"""Saving and printing a benchmark's rows: ``results/<name>-<time>.json`` and a table."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def save_rows(name: str, rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` (with the time) to ``results/<name>-<time>.json``, print them as a
    table and say where they went; returns the file."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "rows": rows}, indent=2))
    keys = list(rows[0]) if rows else []
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(str(row[k]) for k in keys))
    print(f"\nresults: {out}")
    return out


def latency_rows(
    column: str, latencies: dict[str, list[float]], errors: dict[str, int], baseline: str
) -> list[dict[str, Any]]:
    """One row per variant with answers: its count, errors, p50 and max latency (ms), and
    its p50 as a ratio against ``baseline``'s, measured in the same run."""
    base = statistics.median(latencies[baseline])
    return [
        {
            column: name,
            "n": len(values),
            "errors": errors[name],
            "p50_ms": round(statistics.median(values), 1),
            "max_ms": round(max(values), 1),
            "p50_over_baseline": round(statistics.median(values) / base, 2),
        }
        for name, values in latencies.items()
        if values
    ]
