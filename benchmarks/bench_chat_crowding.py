"""Do the patterns learned live from chat crowd out what the log taught? (memory tier)

Usage (from the repository root)::

    python benchmarks/bench_chat_crowding.py --chat 94000

1. index the shipped sample host and mine the shipped sample log into a fresh data folder
   (the baseline store);
2. answer the sample QA questions (dev and held-out) through the router's memory tier;
3. add CHAT generated chat messages, all distinct and all embedded (the live path writes one
   ``chat_response`` pattern per message), and answer the same questions again.

Reports accuracy and p50 latency for module questions and for the other (log) questions
on both stores, and the ratio of the crowded store's to the baseline's, measured in the
same run. ~7 minutes for 94,000 messages on two cores (embedding is most of it).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SUBJECTS = (
    "this stream", "the chat", "Move2Japan", "UnDaoDu", "FoundUps", "the bot", "the mod",
    "Tokyo", "the camera", "the audio", "the video", "the replay", "my internet", "youtube",
    "the discord", "the food", "the train", "this street", "the weather", "consciousness",
    "the election", "the news", "the music", "your shirt", "the quota", "the channel",
    "the live", "the ban", "the timeout",
)  # fmt: skip
VERBS = (
    "is lagging", "is awesome", "is fake", "keeps freezing", "looks great", "is so slow",
    "crashed again", "is back", "went offline", "is live now", "is not loading", "got banned",
    "is trolling", "needs a fix", "is too loud", "is boring", "made my day", "is broken",
    "rocks", "is the best",
)  # fmt: skip
ASKS = (
    "is this live?", "when is the next stream?", "how do I join?", "who is the mod?",
    "what time is it there?", "can you say hi?", "where is this?", "why is chat so slow?",
    "is the bot working?", "how much is rent?", "what camera is that?", "is this a replay?",
)  # fmt: skip
TAILS = ("lol", "!!", "?", "bro", "pls", "haha", "omg", "for real", "again", "today", "ngl", "")
NAMES = tuple(
    f"{a}{b}"
    for a in ("Kenji", "Dao", "Tokyo", "Sakura", "Neo", "Zen", "Ron", "Yui", "Max", "Luna")
    for b in ("Fan", "Seeker", "Drift", "Lover", "_jp", "99", "X", "Live")
)


def chat_messages(n: int, seed: int = 11) -> list[str]:
    """``n`` distinct chat lines from a small grammar (no near-copies: each is embedded)."""
    rnd = random.Random(seed)
    texts: set[str] = set()
    while len(texts) < n:
        if rnd.random() < 0.3:
            text = f"{rnd.choice(ASKS)} {rnd.choice(TAILS)} {rnd.choice(SUBJECTS)}"
        else:
            text = f"{rnd.choice(SUBJECTS)} {rnd.choice(VERBS)} {rnd.choice(TAILS)}"
        if rnd.random() < 0.5:
            text += f" #{rnd.randint(1, 99_999)}"
        texts.add(" ".join(text.split()))
    out = sorted(texts)
    rnd.shuffle(out)
    return out


def answer_all(router: Any, items: list[Any]) -> dict[str, dict[str, float]]:
    """Memory-tier accuracy and p50 latency, for module questions and for the others."""
    from foundups_training.evaluation.qa import is_right
    from foundups_training.records import Query

    router.answer(Query(items[0].query, tier="memory"))  # warm the encoder and the index
    out: dict[str, dict[str, float]] = {}
    for group in ("module", "log"):
        chosen = [it for it in items if (it.kind == "module_location") == (group == "module")]
        right, latencies = 0, []
        for item in chosen:
            answer = router.answer(Query(item.query, tier="memory"))
            latencies.append(answer.latency_ms)
            right += is_right(answer.text, item.expected, item.kind)
        out[group] = {
            "questions": len(chosen),
            "right": right,
            "p50_ms": round(statistics.median(latencies), 1),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; prints a JSON summary."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chat", type=int, default=94_000, help="chat messages to add")
    p.add_argument("--data-dir", type=Path, help="data folder (else a temporary one)")
    p.add_argument("--out", type=Path, help="write the summary JSON here")
    args = p.parse_args(argv)

    from foundups_training.config import load_settings
    from foundups_training.engine import Trainer
    from foundups_training.evaluation import load_qa
    from foundups_training.records import Pattern
    from foundups_training.samples import sample_host, sample_log

    evalsets = Path(__file__).resolve().parent.parent / "foundups_training" / "evalsets"
    items = [
        *load_qa(evalsets / "sample_qa_dev.jsonl"),
        *load_qa(evalsets / "sample_qa_heldout.jsonl"),
    ]
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-chat-"))
    settings = load_settings({"data_dir": data_dir}, env={})
    summary: dict[str, Any] = {"chat_messages": args.chat}
    with Trainer(settings) as trainer:
        trainer.index(Path(sample_host()))
        trainer.mine(Path(sample_log()), host_root=Path(sample_host()))
        summary["baseline_patterns"] = trainer.memory.count()
        summary["baseline"] = answer_all(trainer.router, items)
        print("baseline", json.dumps(summary["baseline"]), file=sys.stderr, flush=True)

        start = time.perf_counter()
        texts = chat_messages(args.chat)
        rnd = random.Random(3)
        batch = 2_000
        for first in range(0, len(texts), batch):
            trainer.memory.upsert(
                Pattern.make(
                    "chat_response",
                    f"stream: UnDaoDu [MINDFUL]\nauthor: @{rnd.choice(NAMES)} (user)\n"
                    f'message: "{text}"',
                    "respond: banter",
                    module="modules/communication/livechat",
                    source="live_chat",
                )
                for text in texts[first : first + batch]
            )
        summary["chat_write_s"] = round(time.perf_counter() - start, 1)
        summary["crowded_patterns"] = trainer.memory.count()
        summary["crowded"] = answer_all(trainer.router, items)
    for group in ("module", "log"):
        base, crowded = summary["baseline"][group], summary["crowded"][group]
        summary[f"{group}_right_ratio"] = round(crowded["right"] / max(1, base["right"]), 3)
        summary[f"{group}_p50_ratio"] = round(crowded["p50_ms"] / max(0.1, base["p50_ms"]), 2)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
