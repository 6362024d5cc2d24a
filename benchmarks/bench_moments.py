"""Benchmark the reading of a log's moment: the minute index against a whole scan.

A question that names a clock time ("at 15:34 on 20 October …") is answered from the log's
lines at that moment (``routing.moments``). Measured in one run, on generated logs in the
host's real format (``loggen.py``) of growing size:

* the baseline: :func:`window_lines`, which reads the whole file for each question;
* the index (:class:`MinuteIndex`): its first question (the index is made), a question
  on the unchanged log, and a question after 1,000 lines were appended;

each the median of ``--repeat`` questions at different moments, with the ratio of the
indexed question to the whole scan. Both must give the same lines; the run stops if not.

    .venv/bin/python benchmarks/bench_moments.py
    .venv/bin/python benchmarks/bench_moments.py --lines 28800 288000 --repeat 9

Results go to ``benchmarks/results/moments-<time>.json`` and a table is printed.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from loggen import generate  # noqa: E402
from rows import save_rows  # noqa: E402

from foundups_training.routing.moments import MinuteIndex, Moment, window_lines  # noqa: E402

_STAMP = re.compile(r"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)")


def _moments(lines: list[str], n: int) -> list[Moment]:
    """``n`` moments the log has lines at, spread over it."""
    stamped = [m for line in lines if (m := _STAMP.match(line))]
    return [
        Moment(f"{m.group(2)[:5]}:00", m.group(1)[5:])
        for m in stamped[:: max(1, len(stamped) // n)][:n]
    ]


def _ms(fn) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def bench(n_lines: int, repeat: int, seed: int) -> dict[str, float | int]:
    lines = generate(n_lines, seed)
    with tempfile.TemporaryDirectory(prefix="bench-moments-") as tmp:
        log = Path(tmp) / "012.txt"
        log.write_text("\n".join(lines) + "\n", encoding="utf-8")
        moments = _moments(lines, repeat)
        scan = [_ms(lambda m=m: list(window_lines(log, m))) for m in moments]
        index = MinuteIndex()
        first = _ms(lambda: index.window(log, moments[0]))
        warm = [_ms(lambda m=m: index.window(log, m)) for m in moments]
        for m in moments:
            if index.window(log, m) != list(window_lines(log, m)):
                raise SystemExit(f"the index and the whole scan differ at {m}")
        grown = []
        for i, m in enumerate(moments):
            more = generate(1000, seed + 1 + i)
            with log.open("a", encoding="utf-8") as fh:
                fh.write("\n".join(more) + "\n")
            grown.append(_ms(lambda m=m: index.window(log, m)))
    scan_ms = statistics.median(scan)
    return {
        "lines": n_lines,
        "bytes": sum(len(x) + 1 for x in lines),
        "scan_ms": round(scan_ms, 2),
        "index_first_ms": round(first, 2),
        "index_ms": round(statistics.median(warm), 3),
        "index_after_append_ms": round(statistics.median(grown), 3),
        "ratio_index_to_scan": round(statistics.median(warm) / scan_ms, 4),
        "ratio_append_to_scan": round(statistics.median(grown) / scan_ms, 4),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, write JSON, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, nargs="+", default=[28_800, 288_000])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args(argv)
    rows = [bench(n, args.repeat, args.seed) for n in args.lines]
    save_rows("moments", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
