"""Benchmark the Gemma tier on a host's labelled questions against its plain questions.

A host DAE may restrict an answer to labels of its own (``Query.labels``: a moderation
decision among "allow", "warn", "timeout" …). Gemma is then shown every label (up to 6,
each up to 120 characters) instead of the best 3 recalled options, so its prompt is longer.
Measured in one run, on one store and one loaded model, each message asked through the
Gemma tier (``tier="gemma"``):

* the baseline: the message with no labels (Gemma picks among recalled options);
* the same message with 3 short labels, and with 6 labels of a sentence each;

each the median latency over the messages, reported as a ratio against the baseline.

    .venv/bin/python benchmarks/bench_labels.py              # index + mine the samples first
    .venv/bin/python benchmarks/bench_labels.py --data-dir D # a data directory already trained

Results go to ``benchmarks/results/labels-<time>.json`` and a table is printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from rows import latency_rows, save_rows  # noqa: E402

#: Chat messages a moderator sees, as a host would ask about each (no real user's text).
MESSAGES = (
    "hello from Tokyo, love the stream!",
    "BUY CHEAP FOLLOWERS at spam-site dot com!!!",
    "is the stream lagging for anyone else?",
    "you are all idiots, this channel is trash",
    "first time here, what is this stream about?",
    "FREE CRYPTO GIVEAWAY click the link in my profile",
    "can you talk about the election results?",
    "lol that was hilarious",
    "same message same message same message same message",
    "when is the next stream scheduled?",
    "go back to your country",
    "thanks for the great content, subscribed!",
)
SHORT = ("allow", "warn", "timeout")
LONG = (
    "allow: an ordinary message, nothing to do",
    "warn: off-topic or mildly rude, remind the viewer of the rules",
    "timeout: insults or harassment of another viewer, five minutes",
    "ban: hate speech, threats or doxxing, remove the viewer",
    "delete: spam, scam links or advertising, remove the message",
    "escalate: unclear, a human moderator should look at it",
)


def _question(message: str) -> str:
    return f"A viewer wrote in the live chat: {message!r}. What should the moderator do?"


def main(argv: list[str] | None = None) -> int:
    """Measure; print and save the results."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, help="a trained data directory (else a temp one)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2, help="times each message is asked")
    args = ap.parse_args(argv)

    from foundups_training.config import load_settings
    from foundups_training.engine import Trainer
    from foundups_training.records import Query
    from foundups_training.samples import sample_host, sample_log

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-labels-"))
    settings = replace(load_settings({"data_dir": data_dir}, env={}), n_threads=args.threads)
    variants = {"no labels": (), "3 short labels": SHORT, "6 long labels": LONG}
    latencies: dict[str, list[float]] = {name: [] for name in variants}
    errors: dict[str, int] = dict.fromkeys(variants, 0)
    with Trainer(settings) as trainer:
        if trainer.memory.count() == 0:
            trainer.index(sample_host())
            trainer.mine(sample_log(), host_root=sample_host())
        # load the model and warm its cached prefix, out of the measurement
        for labels in variants.values():
            trainer.ask(Query(_question(MESSAGES[0]), tier="gemma", labels=labels))
        for _ in range(args.rounds):
            for message in MESSAGES:
                for name, labels in variants.items():  # interleaved: the same conditions
                    answer = trainer.ask(Query(_question(message), tier="gemma", labels=labels))
                    if answer.error or answer.tier != "gemma":
                        errors[name] += 1
                        continue
                    latencies[name].append(answer.latency_ms)
    rows = latency_rows("variant", latencies, errors, "no labels")
    save_rows("labels", rows)
    return 0 if all(errors[name] == 0 for name in variants) else 1


if __name__ == "__main__":
    sys.exit(main())
