"""Benchmark the pattern memory: embedding, upsert, recall, RSS and disk, against a baseline.

The baseline is chromadb's own ``ONNXMiniLM_L6_V2`` embedding class pointed at the same
model files (it pads every text to 256 tokens), measured in the same run on the same lines.

    .venv/bin/python benchmarks/bench_memory.py            # 10,000 patterns
    .venv/bin/python benchmarks/bench_memory.py --n 100000

Checkpoints at 1K, 10K and N patterns: recall p50/p95 including the query's embedding (ours
and the baseline's), RSS of this writing process, RSS and recall of a fresh read-only
process (what a reader such as ``status`` or the router costs), size on disk, and the 64
nearest patterns of one kind read whole (``recall``, the baseline) against read without
their text (``neighbours``, what the router weighs README passages with). Results go
to ``benchmarks/results/memory-<time>.json`` and a table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from foundups_training.config import Settings, load_settings  # noqa: E402
from foundups_training.records import Pattern  # noqa: E402

MODULES = [
    "communication/livechat",
    "communication/youtube_dae",
    "platform_integration/stream_resolver",
    "ai_intelligence/holo_dae",
    "infrastructure/wre_core",
    "platform_integration/social_media",
    "communication/moderation",
    "gamification/whack_a_magat",
    "infrastructure/idle_automation",
]
ERRORS = [
    "ConnectionResetError: [Errno 104] Connection reset by peer",
    "HttpError 403 quotaExceeded for channel {ch}",
    "TimeoutError: stream check took {n}s",
    "KeyError: 'liveStreamingDetails'",
    "ModuleNotFoundError: No module named '{mod}'",
    "sqlite3.OperationalError: database is locked",
]
TEMPLATES = [
    (
        "priority",
        "[QWEN-SCORE] channel {ch} scored {f} for stream check round {n}",
        "check channel {ch} first",
    ),
    ("stream", "broadcastContent='{bc}' for video {vid} on channel {ch}", "stream is {bc}"),
    ("error_fix", "{err} in modules/{mod}/src/{file}.py line {n}", "retry after {n}s backoff"),
    (
        "wsp_compliance",
        "test file {file}_test.py found outside modules/{mod}/tests/",
        "move it under modules/{mod}/tests (WSP 49)",
    ),
    ("module_location", "which module handles {topic}", "modules/{mod}/"),
    ("moderation", "chat message from {user}: '{msg}' flagged {n} times", "timeout {n}0s"),
]
TOPICS = [
    "stream detection",
    "chat moderation",
    "quota rotation",
    "social posting",
    "priority scoring",
    "idle training",
    "token refresh",
    "banter replies",
]
MESSAGES = [
    "buy followers now",
    "hello everyone",
    "this stream is great",
    "spam spam spam",
    "check my channel",
    "what game is this",
    "lol",
    "free crypto giveaway",
]
QUERIES = [
    "which module handles {topic}",
    "why did the stream check for {ch} fail",
    "how do I fix {err}",
    "is channel {ch} live right now",
    "where do tests for {mod} belong",
    "should I time out {user} for '{msg}'",
]


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        ch=f"UC{rng.randrange(16**6):06x}",
        f=f"{rng.random():.2f}",
        n=rng.randrange(1, 60),
        bc=rng.choice(["live", "none", "upcoming"]),
        vid=f"{rng.randrange(16**8):08x}",
        err=rng.choice(ERRORS).format(ch="UCx", n=rng.randrange(60), mod="x"),
        mod=rng.choice(MODULES),
        file=rng.choice(["main", "dae", "resolver", "quota", "bot"]),
        topic=rng.choice(TOPICS),
        user=f"user{rng.randrange(5000)}",
        msg=rng.choice(MESSAGES),
    )


def make_patterns(n: int, seed: int = 7) -> Iterator[Pattern]:
    """``n`` distinct, log-like patterns across the kinds the miner produces, generated
    lazily (holding 100K Pattern objects would add ~75 MB to the RSS being measured)."""
    rng = random.Random(seed)
    made = 0
    seen: set[str] = set()
    while made < n:
        kind, context, decision = rng.choice(TEMPLATES)
        p = Pattern.make(
            kind,
            _fill(context, rng),
            _fill(decision, rng),
            module="modules/" + rng.choice(MODULES),
            timestamp=f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            source=rng.choice(["log", "log", "code", "live_chat"]),
            verified=rng.random() < 0.3,
        )
        if p.id not in seen:
            seen.add(p.id)
            made += 1
            yield p


def make_queries(n: int, seed: int = 11) -> list[str]:
    """Distinct questions (distinct, so no query cache helps)."""
    rng = random.Random(seed)
    qs: list[str] = []
    while len(qs) < n:
        q = _fill(rng.choice(QUERIES), rng)
        if q not in qs:
            qs.append(q)
    return qs


def rss_mb() -> float:
    """Resident set size of this process in MiB."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    return float("nan")


def disk_mb(path: Path) -> float:
    """Bytes under ``path`` in MiB."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def baseline_embedder(workdir: Path) -> Any:
    """chromadb's ONNXMiniLM_L6_V2 pointed at our hash-checked files (no download)."""
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    from foundups_training.memory.embedding import locate_model, locate_tokenizer

    onnx_dir = workdir / "baseline" / "onnx"
    onnx_dir.mkdir(parents=True, exist_ok=True)
    for name, src in (("model.onnx", locate_model()), ("tokenizer.json", locate_tokenizer())):
        if not (onnx_dir / name).exists():
            os.symlink(src, onnx_dir / name)
    # Files it checks for before deciding to download; it never reads them.
    for name in ("config.json", "special_tokens_map.json", "tokenizer_config.json", "vocab.txt"):
        (onnx_dir / name).touch()
    ef = ONNXMiniLM_L6_V2(preferred_providers=["CPUExecutionProvider"])
    ef.DOWNLOAD_PATH = onnx_dir.parent  # type: ignore[misc]
    return ef


def time_recall(fn: Any, queries: list[str]) -> dict[str, float]:
    """p50/p95 milliseconds of ``fn(query)`` over ``queries`` (after 5 warm-up calls)."""
    for q in queries[:5]:
        fn(q + " warm-up")
    times = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        times.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(pct(times, 0.95), 2)}


def time_pair(
    first: Any, second: Any, queries: list[str], clear: Any, warm: Any = None
) -> dict[str, dict[str, float]]:
    """p50/p95 milliseconds of ``first(query)`` and ``second(query)`` over ``queries``, the
    two alternating which goes first, each embedding its query anew (``clear()`` empties the
    encoder's cache before each call). ``warm(query)``, untimed, before each pair: so that
    neither finds a cache the other filled."""
    times: dict[str, list[float]] = {"first": [], "second": []}
    for i, q in enumerate(queries):
        if warm is not None:
            warm(q)
        order = [("first", first), ("second", second)]
        for name, fn in order if i % 2 == 0 else order[::-1]:
            clear()
            start = time.perf_counter()
            fn(q)
            times[name].append((time.perf_counter() - start) * 1000)
    return {
        name: {"p50_ms": round(statistics.median(t), 2), "p95_ms": round(pct(t, 0.95), 2)}
        for name, t in times.items()
    }


READER = r"""
import json, sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[1] + "/benchmarks")
from bench_memory import make_queries, rss_mb, time_recall, baseline_embedder
rss_python = rss_mb()
import chromadb  # what any process using Chroma pays before the memory layer adds anything
rss_chromadb = rss_mb()
from foundups_training.config import load_settings
from foundups_training.memory import open_memory
from foundups_training.memory.embedding import shared_encoder
mem = open_memory(load_settings({"data_dir": sys.argv[2]}, env={}), read_only=True)
n_queries, n_base = int(sys.argv[3]), int(sys.argv[4])
result = time_recall(lambda q: mem.recall(q, n=5), make_queries(n_queries, seed=99))
result["rss_mb"] = round(rss_mb(), 1)
result["rss_python_mb"] = round(rss_python, 1)
result["rss_after_import_chromadb_mb"] = round(rss_chromadb, 1)
result["memory_layer_mb"] = round(result["rss_mb"] - rss_chromadb, 1)
result["encoder_runtime"] = shared_encoder().runtime
result["count"] = mem.count()
if n_base:
    # The baseline, loaded after our RSS was read: chromadb's class embeds the question,
    # the same collection answers it.
    base = baseline_embedder(Path(tempfile.mkdtemp()))
    col = mem._col(create=False)
    queries = make_queries(n_base, seed=98)
    ours = time_recall(lambda q: mem.recall(q, n=5), queries)
    theirs = time_recall(lambda q: col.query(query_embeddings=base([q]), n_results=5,
                         include=["metadatas", "documents", "distances"]), queries)
    result["same_queries"] = {"ours": ours, "baseline": theirs}
print(json.dumps(result))
"""

EMBED = r"""
import json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[1] + "/benchmarks")
from bench_memory import make_patterns, make_queries, time_recall, baseline_embedder
from foundups_training.memory.embedding import shared_encoder
n = int(sys.argv[2])
docs = [f"{p.context}\n{p.decision}" for p in make_patterns(n, seed=3)]
queries = make_queries(100, seed=97)
def lines_per_s(fn):
    fn(docs[:32])  # warm-up (and any lazy session)
    start = time.perf_counter()
    fn(docs)
    return len(docs) / (time.perf_counter() - start)
ours = shared_encoder()
ours_lps = lines_per_s(ours.encode)
ours_one = time_recall(lambda q: ours.encode([q]), queries)["p50_ms"]
base = baseline_embedder(Path(tempfile.mkdtemp()))
base_lps = lines_per_s(base)
base_one = time_recall(lambda q: base([q]), queries)["p50_ms"]
print(json.dumps({"lines": n, "ours_lines_per_s": round(ours_lps, 1),
                  "baseline_lines_per_s": round(base_lps, 1),
                  "speedup_batch": round(ours_lps / base_lps, 2),
                  "ours_one_query_ms": ours_one, "baseline_one_query_ms": base_one,
                  "speedup_one_query": round(base_one / ours_one, 2)}))
"""


_model_vectors: list[Any] = []


def fill_without_model(mem: Any, batch: list[Pattern], offset: int) -> None:
    """Store ``batch`` with vectors derived from model vectors already in the store.

    Each vector is a stored model vector plus small Gaussian noise, re-normalised (cosine
    ~0.9 to its source, like near-duplicate log lines), so the HNSW index, RSS and disk see
    the same shape of data as with the model; only the embedding time is skipped.
    """
    import numpy as np

    from foundups_training.memory.store import to_record

    col = mem._col()
    if not _model_vectors:
        got = col.get(include=["embeddings"], limit=10_000)
        _model_vectors.append(np.asarray(got["embeddings"], dtype=np.float32))
    source = _model_vectors[0]
    rng = np.random.default_rng(offset)
    picks = source[rng.integers(0, len(source), len(batch))]
    vectors = picks + rng.normal(0, 0.03, picks.shape).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    records = [to_record(p) for p in batch]
    col.add(
        ids=[p.id for p in batch],
        embeddings=vectors,
        documents=[doc for doc, _ in records],
        metadatas=[meta for _, meta in records],
    )


def _run_json(script: str, *args: object) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", script, str(REPO), *map(str, args)],
        check=True,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def reader_process(data_dir: Path, n_queries: int, n_baseline: int = 0) -> dict[str, Any]:
    """Recall and RSS in a fresh read-only process (then the baseline's recall there)."""
    return _run_json(READER, data_dir, n_queries, n_baseline)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="patterns at the last checkpoint")
    ap.add_argument("--queries", type=int, default=200, help="recall queries per checkpoint")
    ap.add_argument(
        "--embed-sample", type=int, default=512, help="lines for the embedding comparison"
    )
    ap.add_argument(
        "--baseline-queries", type=int, default=50, help="recall queries for the baseline"
    )
    ap.add_argument(
        "--embed-limit",
        type=int,
        default=10**9,
        help="embed only the first K patterns with the model; store the rest with vectors "
        "derived from those (perturbed copies): for measuring recall, RSS and disk at sizes "
        "the shared machine cannot embed in time. The JSON records how many were embedded.",
    )
    ap.add_argument("--keep", action="store_true", help="keep the store (printed path)")
    args = ap.parse_args(argv)

    from foundups_training.memory import open_memory
    from foundups_training.memory.embedding import shared_encoder

    workdir = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    settings: Settings = load_settings({"data_dir": workdir / "data"}, env={})
    results: dict[str, Any] = {
        "n": args.n,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        # Other work on a shared machine slows every number; the ratios hold better.
        "load_avg_start": _load(),
    }
    import chromadb
    import onnxruntime

    results["versions"] = {"chromadb": chromadb.__version__, "onnxruntime": onnxruntime.__version__}
    rss_start = rss_mb()
    out_dir = REPO / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"memory-{args.n}-{time.strftime('%Y%m%d-%H%M%S')}.json"

    def save() -> None:
        # Written after every stage, so a run cut short still leaves its numbers.
        out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")

    print(f"storing {args.n} patterns …", flush=True)
    encoder = shared_encoder()
    query_sets = iter(range(1000, 10**6))

    def fresh_queries(k: int = args.queries) -> list[str]:
        # New questions each time and an empty cache: the model is timed, never the cache.
        encoder.clear_cache()
        return make_queries(k, seed=next(query_sets))

    print(f"embedding {args.embed_sample} lines: ours vs chromadb's class …", flush=True)
    results["embedding"] = _run_json(EMBED, args.embed_sample)
    save()

    mem = open_memory(settings)
    checkpoints = sorted({c for c in (1_000, 10_000, args.n) if c <= args.n})
    rows: list[dict[str, Any]] = []
    results["checkpoints"] = rows
    written = 0
    upsert_s = 0.0
    results["rss_before_memory_mb"] = round(rss_start, 1)
    stream = make_patterns(args.n)
    for target in checkpoints:
        chunk_start = time.perf_counter()
        for i in range(written, target, 1000):
            batch = list(islice(stream, min(1000, target - i)))
            if i < args.embed_limit:
                mem.upsert(batch)
            else:
                fill_without_model(mem, batch, i)
        upsert_s += time.perf_counter() - chunk_start
        written = target
        print(
            f"{written} patterns stored ({written / upsert_s:.0f}/s so far); measuring …",
            flush=True,
        )
        row: dict[str, Any] = {"patterns": written, "count": mem.count()}
        row["upsert_per_s"] = round(written / upsert_s, 1)
        row["embedded_by_model"] = min(written, args.embed_limit)
        row["recall"] = time_recall(lambda q: mem.recall(q, n=5), fresh_queries())
        row["recall_filtered"] = time_recall(
            lambda q: mem.recall(q, n=5, where={"kind": "error_fix"}), fresh_queries()
        )
        # What the router does with a module question's 64 nearest README passages: the
        # baseline reads them whole, neighbours() only their ids, kinds and modules. The
        # kind cache is warm for both, as in a process that has answered for a while.
        pair = time_pair(
            lambda q: mem.recall(q, n=64, where={"kind": "error_fix"}),
            lambda q: mem.neighbours(q, 64, "error_fix"),
            fresh_queries(),
            encoder.clear_cache,
            warm=lambda q: mem.neighbours(q, 64, "error_fix"),
        )
        row["kind_64"] = {"recall": pair["first"], "neighbours": pair["second"]}
        row["rss_writer_mb"] = round(rss_mb(), 1)
        row["disk_mb"] = round(disk_mb(settings.chroma_dir), 1)
        row["reader"] = reader_process(settings.data_dir, args.queries, args.baseline_queries)
        rows.append(row)
        save()

    # Re-seeing known patterns: metadata-only merge, no embedding.
    again = list(make_patterns(min(10_000, args.n)))
    start = time.perf_counter()
    mem.upsert(again)
    results["re_upsert_per_s"] = round(len(again) / (time.perf_counter() - start), 1)
    del again
    mem.close()
    save()

    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    results["load_avg_end"] = _load()
    save()
    print_table(results)
    print(f"\nresults: {out}")
    if args.keep:
        print(f"store kept at {workdir}")
    else:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def print_table(r: dict[str, Any]) -> None:
    """A readable summary of one run's results."""
    e = r["embedding"]
    print(
        f"\nembedding, {e['lines']} lines      ours {e['ours_lines_per_s']:>8.1f} lines/s   "
        f"chromadb class {e['baseline_lines_per_s']:>7.1f} lines/s   x{e['speedup_batch']}"
    )
    print(
        f"embedding, one query        ours {e['ours_one_query_ms']:>8.2f} ms        "
        f"chromadb class {e['baseline_one_query_ms']:>7.2f} ms        "
        f"x{e['speedup_one_query']}"
    )
    print(f"re-upsert of known patterns: {r['re_upsert_per_s']}/s (metadata merge, no embedding)")
    for row in r["checkpoints"]:
        k64 = row.get("kind_64")
        if k64:
            ratio = k64["neighbours"]["p50_ms"] / max(k64["recall"]["p50_ms"], 1e-9)
            print(
                f"64 nearest of a kind at {row['patterns']:>7}: recall p50 "
                f"{k64['recall']['p50_ms']:.2f} ms, neighbours {k64['neighbours']['p50_ms']:.2f} "
                f"ms (x{ratio:.2f}, each with its query's embedding)"
            )
    head = (
        f"\n{'patterns':>9} {'upsert/s':>9} {'recall p50':>11} {'p95':>7} {'filtered p50':>13} "
        f"{'RSS writer':>11} {'RSS reader':>11} {'reader p50':>11} {'disk MB':>8} "
        f"{'same queries: ours / chromadb class':>36}  reader = python + chromadb import + layer"
    )
    print(head)
    for row in r["checkpoints"]:
        reader = row.get("reader", {})
        print(
            f"{row['patterns']:>9} {row['upsert_per_s']:>9.1f} "
            f"{row['recall']['p50_ms']:>9.2f}ms {row['recall']['p95_ms']:>5.2f}ms "
            f"{row['recall_filtered']['p50_ms']:>11.2f}ms {row['rss_writer_mb']:>9.1f}MB "
            f"{reader.get('rss_mb', float('nan')):>9.1f}MB "
            f"{reader.get('p50_ms', float('nan')):>9.2f}ms {row['disk_mb']:>8.1f} "
            f"{_same(reader):>36}  {_split(reader)}"
        )


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None  # Windows


def _split(reader: dict[str, Any]) -> str:
    if "memory_layer_mb" not in reader:
        return "-"
    return (
        f"{reader['rss_python_mb']:.0f} + "
        f"{reader['rss_after_import_chromadb_mb'] - reader['rss_python_mb']:.0f} + "
        f"{reader['memory_layer_mb']:.0f} MB ({reader['encoder_runtime']} encoder)"
    )


def _same(reader: dict[str, Any]) -> str:
    same = reader.get("same_queries")
    if not same:
        return "-"
    ours, base = same["ours"]["p50_ms"], same["baseline"]["p50_ms"]
    return f"{ours:.2f} / {base:.2f} ms (x{base / ours:.1f})"


if __name__ == "__main__":
    raise SystemExit(main())
