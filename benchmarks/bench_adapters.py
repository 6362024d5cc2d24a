"""Benchmark: what the adapters cost the host, and how soon a live decision is recallable.

Run: ``python benchmarks/bench_adapters.py [--calls N] [--decisions K]``

1. Added latency on the host's hot path. The stand-in host's ``MessageProcessor.process_message``
   (sync), ``generate_response`` (async) and ``EventHandler.handle_timeout_event`` are called
   wrapped and unwrapped (the wrapper's ``__wrapped__``) alternately in the same run, with the
   whole live path active: bridge → pluggy → training plugin → LiveLearner queue, and its
   background writer embedding into a real ChromaDB store at the same time. Reported: p50/p99
   of each, and the added latency (wrapped minus unwrapped). Target: added p99 ≤ 1 ms.
2. Time to recall: a decision made through a wrapped host call, until ``memory.get(id)``
   returns its pattern (polled every 2 ms) and a recall by its text finds it. Target p95 ≤ 1 s
   (the seed allows 5 s).

Results are printed and written to ``benchmarks/results/adapters.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
STANDIN = REPO / "tests" / "standin_host"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def _summary(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "p50_ms": round(_pct(ms, 50), 4),
        "p95_ms": round(_pct(ms, 95), 4),
        "p99_ms": round(_pct(ms, 99), 4),
        "mean_ms": round(statistics.fmean(ms), 4) if ms else float("nan"),
    }


def _chat_item(i: int) -> dict[str, Any]:
    from datetime import UTC, datetime

    mid = f"bench-{i}"
    return {
        "id": mid,
        "snippet": {
            "messageId": mid,
            "displayMessage": f"hello stream ✊✋🖐 number {i}" if i % 3 else f"just chatting {i}",
            "publishedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "liveChatId": "bench-chat",
        },
        "authorDetails": {"displayName": f"user{i % 97}", "channelId": f"UC-user{i % 97}"},
    }


_WORDS = (
    "sushi ramen tokyo osaka kyoto train visa apartment karaoke festival temple shrine "
    "subway bento matcha anime manga sakura typhoon earthquake onsen ryokan hokkaido "
    "okinawa nagoya fuji bicycle convenience yen salary teacher rent insurance"
).split()


def _distinct_text(k: int) -> str:
    """A chat line unlike the others (so recall by its text can single it out)."""
    import random

    rng = random.Random(k)
    return " ".join(rng.sample(_WORDS, 5)) + f" ✊✋🖐 #{k}"


def _timeout_event(i: int) -> dict[str, Any]:
    return {
        "type": "timeout_event",
        "target_name": f"user{i % 97}",
        "target_channel_id": f"UC-user{i % 97}",
        "moderator_name": "BenchMod",
        "moderator_id": "UC-mod",
        "duration_seconds": 60,
        "deleted_text": f"spam {i}",
    }


def main(argv: list[str] | None = None) -> int:
    """Run both measurements; print and save the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="host calls per method per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (p99 per round reported)")
    parser.add_argument("--decisions", type=int, default=60, help="decisions timed to recall")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "adapters.json"))
    args = parser.parse_args(argv)

    home = tempfile.mkdtemp(prefix="bench-adapters-")
    os.environ["FOUNDUPS_TRAINING_HOME"] = home
    sys.path.insert(0, str(STANDIN))

    from foundups_training.adapters.livechat import LiveChatInstrumentor

    from foundups_training import bridge, plugins
    from foundups_training.config import load_settings
    from foundups_training.engine import Trainer
    from foundups_training.plugin import TrainingPlugin

    plugin = TrainingPlugin(Trainer(load_settings()))

    plugins.use_only(plugin)
    bridge.connect()
    LiveChatInstrumentor().instrument()

    from modules.communication.livechat.src.event_handler import EventHandler
    from modules.communication.livechat.src.message_processor import MessageProcessor

    memory = plugin.trainer.memory  # opened (and the embedder loaded) before timing
    memory.recall("warm up", n=1)
    proc = MessageProcessor(stream_title="Bench stream", bot_channel_id="UC-bot")
    handler = EventHandler()

    # -- 1. added latency -------------------------------------------------------------------
    items = [_chat_item(i) for i in range(args.calls)]
    events = [_timeout_event(i) for i in range(args.calls)]
    pm_plain = MessageProcessor.process_message.__wrapped__
    gr_plain = MessageProcessor.generate_response.__wrapped__
    to_plain = EventHandler.handle_timeout_event.__wrapped__
    processed = [pm_plain(proc, it) for it in items]

    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "latency": {},
    }
    gc.collect()
    # Warm both paths (first calls start the writer thread, import lazily).
    for i in range(50):
        proc.process_message(items[i])
        pm_plain(proc, items[i])

    # A stream, call by call: each message, the bot's answer to it, and a moderator's timeout
    # every tenth message; each host call timed wrapped and unwrapped, alternately.
    loop = asyncio.new_event_loop()
    cases: dict[str, tuple[Callable[[int], Any], Callable[[int], Any]]] = {
        "MessageProcessor.process_message": (
            lambda i: proc.process_message(items[i]),
            lambda i: pm_plain(proc, items[i]),
        ),
        "MessageProcessor.generate_response (async)": (
            lambda i: loop.run_until_complete(proc.generate_response(processed[i])),
            lambda i: loop.run_until_complete(gr_plain(proc, processed[i])),
        ),
        "EventHandler.handle_timeout_event": (
            lambda i: handler.handle_timeout_event(events[i]),
            lambda i: to_plain(handler, events[i]),
        ),
    }
    clock = time.perf_counter
    per_round: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
    all_times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in cases}
    for _round in range(args.rounds):
        times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in cases}
        for i in range(args.calls):
            for name, (wrapped, plain) in cases.items():
                if name.startswith("EventHandler") and i % 10:
                    continue
                first, second = (wrapped, plain) if i % 2 else (plain, wrapped)
                t0 = clock()
                first(i)
                t1 = clock()
                second(i)
                t2 = clock()
                w, p = times[name]
                (w if first is wrapped else p).append(t1 - t0)
                (p if first is wrapped else w).append(t2 - t1)
        for name, (w, p) in times.items():
            ws, ps = _summary(w), _summary(p)
            per_round[name].append(
                {
                    "added_p50_ms": round(ws["p50_ms"] - ps["p50_ms"], 4),
                    "added_p99_ms": round(ws["p99_ms"] - ps["p99_ms"], 4),
                }
            )
            all_times[name][0].extend(w)
            all_times[name][1].extend(p)
    loop.close()
    for name, (w, p) in all_times.items():
        ws, ps = _summary(w), _summary(p)
        rounds = per_round[name]
        results["latency"][name] = {
            "wrapped": ws,
            "unwrapped": ps,
            "added_p50_ms": round(ws["p50_ms"] - ps["p50_ms"], 4),
            "added_p99_ms": round(ws["p99_ms"] - ps["p99_ms"], 4),
            "rounds": rounds,
            "added_p99_ms_median_of_rounds": round(
                statistics.median(r["added_p99_ms"] for r in rounds), 4
            ),
        }
    live = plugin.live
    drain_start = time.perf_counter()
    drained = live.flush(600)
    drain_s = time.perf_counter() - drain_start
    stats = live.stats()
    results["live_learner_after_latency_runs"] = {
        **stats,
        "drained": drained,
        "drain_s": round(drain_s, 2),
    }

    # -- 2. time to recall --------------------------------------------------------------------
    visible: list[float] = []
    recalled = 0
    for k in range(args.decisions):
        item = _chat_item(10_000_000 + k)
        item["snippet"]["displayMessage"] = _distinct_text(k)
        start = time.perf_counter()
        proc.process_message(item)
        pid = f"chat-{item['id']}"
        deadline = start + 10.0
        while memory.get(pid) is None and time.perf_counter() < deadline:
            time.sleep(0.002)
        visible.append(time.perf_counter() - start)
        hits = memory.recall(item["snippet"]["displayMessage"], n=3)
        recalled += any(h.pattern.id == pid for h in hits)
        time.sleep(0.05)  # decisions arrive spaced, as chat does
    results["recall"] = {
        "visible_via_get": _summary(visible),
        "found_by_recall_top3": f"{recalled}/{args.decisions}",
        "target_p95_ms": 1000,
    }
    results["live_learner"] = live.stats()
    plugin.close()

    # -- report -------------------------------------------------------------------------------
    print(
        f"adapter benchmark — {args.rounds} rounds × {args.calls} calls per method "
        "(timeouts: every 10th), stand-in host, wrapped/unwrapped alternated in the same run"
    )
    print(f"{'method':46} {'unwrapped p50/p99':>20} {'wrapped p50/p99':>20} {'added p50/p99':>18}")
    for name, row in results["latency"].items():
        u, w = row["unwrapped"], row["wrapped"]
        print(
            f"{name:46} {u['p50_ms']:9.4f}/{u['p99_ms']:<9.4f} ms"
            f" {w['p50_ms']:8.4f}/{w['p99_ms']:<8.4f} ms"
            f" {row['added_p50_ms']:7.4f}/{row['added_p99_ms']:<7.4f} ms"
        )
        per = ", ".join(f"{r['added_p99_ms']:.3f}" for r in row["rounds"])
        median = row["added_p99_ms_median_of_rounds"]
        print(f"{'':46} added p99 per round: {per} ms (median {median:.3f})")
    d = results["live_learner_after_latency_runs"]
    print(
        f"live writer: {d['submitted']} decisions from the latency run written "
        f"{d['drain_s']:.1f} s after it ended (drained: {d['drained']}); "
        f"{d['patterns_written']} patterns, {d['outcomes_updated']} outcome updates, "
        f"{d['dropped']} dropped"
    )
    v = results["recall"]["visible_via_get"]
    print(
        f"decision → recallable: p50 {v['p50_ms']:.1f} ms, p95 {v['p95_ms']:.1f} ms, "
        f"max p99 {v['p99_ms']:.1f} ms; found by recall top-3: "
        f"{results['recall']['found_by_recall_top3']} (target p95 ≤ 1000 ms)"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
