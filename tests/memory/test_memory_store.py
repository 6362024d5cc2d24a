"""PatternMemory against a real embedded chromadb: upsert merge rules, recall, filters."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from foundups_training import signals
from foundups_training.config import Settings, with_overrides
from foundups_training.memory import PatternMemory, ReadOnlyMemory, merge, open_memory
from foundups_training.memory.store import EXACT_EF_SEARCH, HNSW_CONFIG
from foundups_training.records import Pattern

from .helpers import make


def test_upsert_counts_new_ids_and_is_idempotent(memory: PatternMemory) -> None:
    patterns = [make(i) for i in range(6)]
    assert memory.upsert(patterns) == 6
    assert memory.count() == 6
    assert memory.upsert(patterns) == 0
    assert memory.count() == 6
    assert all(memory.get(p.id).seen == 2 for p in patterns)  # type: ignore[union-attr]


def test_same_id_merges_support_times_and_outcome(memory: PatternMemory) -> None:
    first = make(1, outcome="", first_seen="2025-02-01", last_seen="2025-02-03", seen=2)
    memory.upsert([first])
    later = replace(
        first,
        seen=3,
        first_seen="2025-01-15",
        last_seen="2025-02-02",
        outcome="worked",
        context="changed context is ignored",
    )
    memory.upsert([later])
    got = memory.get(first.id)
    assert got is not None
    assert (got.seen, got.first_seen, got.last_seen, got.outcome) == (
        5,
        "2025-01-15",
        "2025-02-03",
        "worked",
    )
    assert got.context == first.context and got.decision == first.decision
    # An empty incoming outcome keeps the stored one; unknown times never win.
    memory.upsert([replace(first, outcome="", seen=1, first_seen="", last_seen="")])
    got = memory.get(first.id)
    assert got is not None
    assert (got.seen, got.outcome, got.first_seen, got.last_seen) == (
        6,
        "worked",
        "2025-01-15",
        "2025-02-03",
    )


def test_duplicates_inside_one_batch_merge_like_separate_upserts(memory: PatternMemory) -> None:
    base = make(2, first_seen="2025-03-02", last_seen="2025-03-02")
    dup = replace(base, first_seen="2025-03-01", last_seen="2025-03-09", outcome="ok")
    assert memory.upsert([base, dup, base]) == 1
    got = memory.get(base.id)
    assert got is not None
    assert (got.seen, got.first_seen, got.last_seen, got.outcome) == (
        3,
        "2025-03-01",
        "2025-03-09",
        "ok",
    )


def test_mining_in_chunks_equals_one_pass(tmp_path: Path) -> None:
    from foundups_training.config import load_settings

    stream = [
        make(
            i % 7,
            outcome="done" if i % 5 == 0 else "",
            first_seen=f"2025-04-{i % 20 + 1:02d}",
            last_seen=f"2025-05-{i % 20 + 1:02d}",
        )
        for i in range(40)
    ]
    results = []
    for chunk in (40, 3, 11):
        mem = open_memory(load_settings({"data_dir": tmp_path / f"c{chunk}"}, env={}))
        new = sum(mem.upsert(stream[i : i + chunk]) for i in range(0, len(stream), chunk))
        results.append((new, sorted(mem.all_patterns(), key=lambda p: p.id)))
        mem.close()
    assert results[0] == results[1] == results[2]
    assert results[0][0] == 7


def test_merge_is_associative() -> None:
    a = make(3, first_seen="2025-01-02", last_seen="2025-01-03", outcome="x")
    b = replace(a, first_seen="", last_seen="2025-01-09", outcome="", verified=True, seen=4)
    c = replace(a, first_seen="2025-01-01", last_seen="", outcome="y", code_ref="m.py:1")
    assert merge(merge(a, b), c) == merge(a, merge(b, c))
    # the kept instances too, the cap included
    many = [tuple(f"{k} {i}" for k in "sdo") for i in range(12)]
    va, vb, vc = (replace(a, variants=tuple(many[i::3])) for i in range(3))
    left, right = merge(merge(va, vb), vc), merge(va, merge(vb, vc))
    assert left == right and len(left.variants) == 8
    assert left.tally == ()  # an instance was left out: no count can be exact
    # below the cap, the tally of each instance adds up, in any grouping
    few = [replace(a, variants=(many[i % 3],), tally=(i + 1,)) for i in range(5)]
    left = merge(merge(merge(few[0], few[1]), merge(few[2], few[3])), few[4])
    right = merge(few[0], merge(few[1], merge(few[2], merge(few[3], few[4]))))
    assert left == right and left.variants == tuple(many[:3]) and left.tally == (5, 7, 3)
    # a side without a tally (a store written before tallies) leaves the count unknown
    assert merge(replace(few[0], tally=()), few[1]).tally == ()


def test_instances_round_trip_and_merge_in_the_store(memory: PatternMemory) -> None:
    """A masked pattern's concrete instances survive the store; a later upsert adds the new
    ones after the stored ones, and one that was kept already (another time) is not added."""
    one = ("Quota exceeded for credential set 1", "tried: Rotating to credential set 2", "ok 1")
    two = ("Quota exceeded for credential set 2", "tried: Rotating to credential set 3", "")
    first = replace(make(4), decision="tried: Rotating to credential set <NUM>", variants=(one,))
    memory.upsert([first])
    memory.upsert([replace(first, variants=(two, (*one[:2], "ok again")))])
    stored = memory.get(first.id)
    assert stored is not None and stored.variants == (one, two)
    assert stored.tally == ()  # these observations carried no tally
    counted = replace(make(5), variants=(one,), tally=(3,))
    memory.upsert([counted])
    memory.upsert([replace(counted, variants=(two, one), tally=(1, 2))])
    stored = memory.get(counted.id)
    assert stored is not None and stored.variants == (one, two) and stored.tally == (5, 1)


def test_unreadable_stored_instances_are_dropped_not_raised() -> None:
    from foundups_training.memory.store import from_record, to_record

    p = replace(make(6), variants=(("a 1", "b 2", "c"),))
    document, meta = to_record(p)
    assert from_record(p.id, document, meta) == p
    for junk in ("not json", "[1, 2]", '[["only two", "items"]]', "{}"):
        assert from_record(p.id, document, {**meta, "variants": junk}).variants == ()
    counted = replace(p, tally=(4,))
    document, meta = to_record(counted)
    assert from_record(p.id, document, meta) == counted
    # a tally that does not count each kept instance once is dropped, never raised
    for junk in ("not json", "[1, 2]", "[0]", '["4"]', "[-1]", "{}"):
        assert from_record(p.id, document, {**meta, "tally": junk}).tally == ()


TRICKY = [
    "",
    "multi\nline\n\ndecision\twith tabs  and  spaces ",
    "unicode: ✅ 🚀 Ünïcödé — 日本語 \u200b zero-width",
    'json-ish {"a": [1, 2]} and quotes \' " \\ backslash',
    "x" * 200_000,
]


@pytest.mark.parametrize("text", TRICKY, ids=["empty", "whitespace", "unicode", "quotes", "200k"])
def test_text_round_trips_exactly(memory: PatternMemory, text: str) -> None:
    pattern = Pattern.make(
        "command",
        "ctx " + text[:50] + "\nsecond line",
        text,
        outcome=text,
        module="modules/x/y",
        code_ref="a/b.py:10",
        verified=True,
        source="manual",
        timestamp="2025-01-01T00:00:00",
    )
    memory.upsert([pattern])
    assert memory.get(pattern.id) == pattern


def test_recall_orders_by_cosine_similarity(memory: PatternMemory) -> None:
    memory.upsert([make(i) for i in range(10)])
    hits = memory.recall("the youtube api quota was exceeded", n=3)
    assert len(hits) == 3
    assert "youtube api quota" in hits[0].pattern.context
    sims = [h.similarity for h in hits]
    assert sims == sorted(sims, reverse=True)
    assert all(-1.0 <= s <= 1.0 + 1e-6 for s in sims)
    # Cosine: the exact document scores ~1.
    exact = memory.recall(f"{hits[0].pattern.context}\n{hits[0].pattern.decision}", n=1)
    assert exact[0].similarity == pytest.approx(1.0, abs=1e-3)


def test_similarity_to_chosen_patterns_equals_recalls(memory: PatternMemory) -> None:
    memory.upsert([make(i) for i in range(10)])
    query = "the youtube api quota was exceeded"
    hits = memory.recall(query, n=10, min_similarity=-1.0)
    chosen = [hits[0].pattern.id, hits[7].pattern.id, "not-stored"]
    sims = memory.similarity(query, chosen)
    assert set(sims) == set(chosen[:2])  # an id that is not stored is left out
    assert sims[hits[0].pattern.id] == pytest.approx(hits[0].similarity, abs=1e-5)
    assert sims[hits[7].pattern.id] == pytest.approx(hits[7].similarity, abs=1e-5)
    assert memory.similarity(query, []) == {} and memory.similarity("", chosen) == {}
    # a pattern that is not stored (a moment of the log) is embedded as a stored one is
    fresh = [hits[0].pattern, hits[7].pattern]
    assert memory.pattern_similarity(query, fresh) == pytest.approx(
        [hits[0].similarity, hits[7].similarity], abs=2e-3
    )
    assert memory.pattern_similarity(query, []) == []


def test_recall_filters_and_threshold(memory: PatternMemory) -> None:
    memory.upsert(
        [make(i, kind="stream", source="log") for i in range(4)]
        + [make(i, kind="moderation", source="live_chat", verified=True) for i in range(4, 8)]
    )
    hits = memory.recall("channel", n=10, where={"kind": "moderation"})
    assert {h.pattern.kind for h in hits} == {"moderation"}
    # min_similarity -1 keeps the (unrelated) patterns whose cosine is negative.
    hits = memory.recall(
        "channel", n=10, where={"kind": "moderation", "verified": True}, min_similarity=-1.0
    )
    assert len(hits) == 4
    hits = memory.recall("channel", n=10, where={"$or": [{"source": "log"}, {"kind": "none"}]})
    assert {h.pattern.source for h in hits} == {"log"}
    assert memory.recall("channel", n=10, min_similarity=1.01) == []
    assert len(memory.recall("channel", n=100, min_similarity=-1.0)) == 8  # n > count is fine


def test_empty_store_and_unknown_ids(memory: PatternMemory) -> None:
    assert memory.recall("anything") == []
    assert memory.get("nope") is None
    assert memory.update_outcome("nope", "x") is False
    assert memory.stats() | {"location": ""} == {
        "total": 0,
        "by_kind": {},
        "by_source": {},
        "verified": 0,
        "location": "",
    }


def test_update_outcome_stats_clear_all_patterns(memory: PatternMemory) -> None:
    patterns = [
        make(
            i,
            kind="stream" if i % 2 else "priority",
            verified=i < 3,
            source="code" if i == 0 else "log",
        )
        for i in range(6)
    ]
    memory.upsert(patterns)
    assert memory.update_outcome(patterns[0].id, "confirmed live")
    assert memory.get(patterns[0].id).outcome == "confirmed live"  # type: ignore[union-attr]
    stats = memory.stats()
    assert stats["total"] == 6
    assert stats["by_kind"] == {"priority": 3, "stream": 3}
    assert stats["by_source"] == {"code": 1, "log": 5}
    assert stats["verified"] == 3
    assert {p.id for p in memory.all_patterns()} == {p.id for p in patterns}
    assert {p.id for p in memory.all_patterns(where={"kind": "stream"})} == {
        p.id for p in patterns if p.kind == "stream"
    }
    assert sorted(memory.ids()) == sorted(p.id for p in patterns)
    assert memory.ids(where={"source": "code"}) == [patterns[0].id]
    # delete: only stored ids count, the rest of the store is untouched and still recalled
    assert memory.delete([patterns[1].id, patterns[1].id, "unknown"]) == 1
    assert memory.get(patterns[1].id) is None and memory.count() == 5
    assert patterns[1].id not in {r.pattern.id for r in memory.recall(patterns[1].context, n=6)}
    assert memory.upsert([patterns[1]]) == 1  # a deleted id is new again
    with pytest.raises(ValueError):
        memory.clear()
    assert memory.count() == 6
    memory.clear(confirm=True)
    assert memory.count() == 0
    assert memory.upsert(patterns[:2]) == 2


def test_pattern_stored_signal(memory: PatternMemory) -> None:
    seen: list[tuple[int, int]] = []

    def receiver(sender: object, **kw: object) -> None:
        seen.append((len(kw["patterns"]), kw["new"]))  # type: ignore[arg-type]
        raise RuntimeError("a broken observer must not break the write")

    signals.pattern_stored.connect(receiver)
    try:
        memory.upsert([make(1), make(2)])
        memory.upsert([make(1)])
    finally:
        signals.pattern_stored.disconnect(receiver)
    assert seen == [(2, 2), (1, 0)]


def test_read_only_refuses_writes(memory: PatternMemory, settings: Settings) -> None:
    memory.upsert([make(1)])
    ro = open_memory(settings, read_only=True)
    try:
        assert ro.count() == 1
        with pytest.raises(ReadOnlyMemory):
            ro.upsert([make(2)])
        with pytest.raises(ReadOnlyMemory):
            ro.writer()
        with pytest.raises(ReadOnlyMemory):
            ro.delete([make(1).id])
        assert ro.count() == 1
    finally:
        ro.close()


def test_read_only_on_a_missing_store_is_empty_and_creates_nothing(settings: Settings) -> None:
    ro = open_memory(settings, read_only=True)
    try:
        assert ro.count() == 0 and ro.recall("x") == [] and ro.stats()["total"] == 0
        assert ro.get("x") is None and list(ro.all_patterns()) == []
        assert not settings.chroma_dir.exists()
        # Once a writer has created the store, the same reader sees it.
        writer = open_memory(settings)
        writer.upsert([make(1)])
        writer.close()
        assert ro.count() == 1
    finally:
        ro.close()


def test_collection_config_is_cosine_hnsw_and_path_free(
    memory: PatternMemory, settings: Settings
) -> None:
    memory.upsert([make(1)])
    memory.close()
    db = sqlite3.connect(settings.chroma_dir / "chroma.sqlite3")
    try:
        (schema,) = db.execute("select schema_str from collections").fetchone()
    finally:
        db.close()
    assert str(settings.data_dir) not in schema and "site-packages" not in schema
    keys = json.loads(schema)["keys"]
    assert keys["#document"]["string"]["fts_index"]["enabled"] is False
    vector = keys["#embedding"]["float_list"]["vector_index"]["config"]
    assert vector["space"] == "cosine"
    assert vector["embedding_function"]["name"] == "foundups_minilm_l6_v2_int8"
    for key in ("ef_construction", "max_neighbors"):
        assert vector["hnsw"][key] == HNSW_CONFIG[key]
    # a store this small is searched exactly (test_memory_search_width.py)
    assert vector["hnsw"]["ef_search"] == EXACT_EF_SEARCH


def test_persistence_across_processes(settings: Settings) -> None:
    pattern = make(4, outcome="kept")
    script = textwrap.dedent(f"""
        import json
        from foundups_training.config import load_settings
        from foundups_training.memory import open_memory
        from foundups_training.records import Pattern
        mem = open_memory(load_settings({{"data_dir": {str(settings.data_dir)!r}}}, env={{}}))
        mem.upsert([Pattern(**json.loads({json.dumps(_fields(pattern))!r}))])
        mem.close()
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    mem = open_memory(settings)
    try:
        assert mem.get(pattern.id) == pattern
        assert mem.recall(pattern.context, n=1)[0].pattern.id == pattern.id
    finally:
        mem.close()


def _fields(p: Pattern) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(p)


def test_bad_url_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="chroma_url"):
        open_memory(with_overrides(settings, chroma_url="localhost:8000"))


def test_seen_counts(memory: PatternMemory) -> None:
    memory.upsert([make(1), make(2), make(1)])
    assert memory.seen_counts([make(1).id, make(2).id, "unknown", make(1).id]) == {
        make(1).id: 2,
        make(2).id: 1,
    }


@pytest.mark.parametrize(
    "where",
    [
        {"kind": "stream"},
        {"kind": "moderation"},  # rare: found only by a wide fetch, or by Chroma's filter
        {"kind": "stream", "verified": True},
        {"$and": [{"kind": {"$eq": "stream"}}, {"source": "log"}]},
        {"verified": 1},  # an int never matches a bool, as in Chroma
        {"kind": {"$ne": "moderation"}},  # the router's filter for lookups
        {"kind": {"$ne": "stream"}},  # keeps only rare patterns
        {"$and": [{"kind": {"$ne": "moderation"}}, {"verified": {"$ne": True}}]},
        {"$or": [{"kind": "moderation"}, {"source": "code"}]},
        {"kind": {"$nin": ["moderation", "module_doc"]}},  # the router's filter for lookups
        {"kind": {"$in": ["moderation", "stream"]}},
        {"$and": [{"kind": {"$nin": ["stream"]}}, {"source": {"$in": ["log", "live_chat"]}}]},
    ],
)
@pytest.mark.parametrize("kind_fetch", [(128, 2048), (4, 8)], ids=["wide", "narrow"])
def test_filtered_recall_equals_chromas_filter(
    memory: PatternMemory, where: dict, kind_fetch: tuple[int, int], monkeypatch
) -> None:
    from foundups_training.memory import store
    from foundups_training.memory.store import chroma_where

    # "narrow": a kind-only filter whose matches are not among the first 8 neighbours
    # falls back to Chroma's own filter
    monkeypatch.setattr(store, "KIND_FETCH", kind_fetch)

    memory.upsert(
        [
            make(i, kind="stream", verified=i % 3 == 0, source="log" if i % 2 else "code")
            for i in range(90)
        ]
        + [make(i, kind="moderation") for i in range(90, 93)]
    )
    ours = memory.recall("stream went live", n=5, where=where, min_similarity=-1.0)
    again = memory.recall("stream went live", n=5, where=where, min_similarity=-1.0)
    assert [r.pattern for r in again] == [r.pattern for r in ours]  # from the kind cache
    col = memory._col()
    vector = memory.encoder.encode_query("stream went live")
    theirs = memory._query(col, vector, 5, chroma_where(where))  # type: ignore[arg-type]
    assert [r.pattern.id for r in ours] == [hit[0] for hit in theirs]


def test_kind_cache_is_bounded_and_forgets_deleted_ids(memory: PatternMemory, monkeypatch) -> None:
    from foundups_training.memory import store

    monkeypatch.setattr(store, "KIND_CACHE", 10)
    patterns = [make(i, kind="stream" if i % 2 else "priority") for i in range(30)]
    memory.upsert(patterns)
    found = memory.recall("stream went live", n=5, where={"kind": "stream"})
    assert len(found) == 5 and all(r.pattern.kind == "stream" for r in found)
    assert 0 < len(memory._kind_cache) <= 10
    cached = next(iter(memory._kind_cache))
    memory.delete([cached])
    assert cached not in memory._kind_cache
    memory.clear(confirm=True)
    assert not memory._kind_cache


def test_a_small_pool_is_searched_by_chromas_own_filter(memory: PatternMemory, monkeypatch) -> None:
    # An HNSW graph built mostly from one kind of pattern may not lead to the few patterns
    # of another kind at all, however many unfiltered neighbours are fetched: a filter that
    # keeps under SMALL_POOL_SHARE of the store is left to Chroma's exact filtered scan.
    memory.upsert(
        [make(i, kind="stream") for i in range(60)] + [make(i, kind="moderation") for i in (60, 61)]
    )
    calls: list[object] = []
    original = memory._recall_by_kind

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args[3])
        return original(*args, **kwargs)

    monkeypatch.setattr(memory, "_recall_by_kind", spy)
    rare = memory.recall("stream went live", n=5, where={"kind": "moderation"})
    assert [r.pattern.kind for r in rare] == ["moderation", "moderation"] and not calls
    common = memory.recall("stream went live", n=5, where={"kind": "stream"})
    assert len(common) == 5 and len(calls) == 1  # most of the store: unfiltered neighbours
    assert memory._pool_shares
    memory.clear(confirm=True)
    assert not memory._pool_shares


def test_neighbours_are_the_filtered_recall_without_the_text(
    memory: PatternMemory, monkeypatch
) -> None:
    """``neighbours`` gives what a kind-filtered recall gives (ids, order, similarities,
    kinds, modules) from the index and the kind cache, reading no document; ``patterns``
    reads the few wanted."""
    memory.upsert(
        [make(i, kind="stream", module=f"modules/platform/m{i % 4}") for i in range(40)]
        + [make(i, kind="priority") for i in range(40, 80)]
    )
    query = "stream went live"
    recalled = memory.recall(query, n=6, where={"kind": "stream"})
    from chromadb.api.models.Collection import Collection

    reads: list[list[str]] = []
    original_get = Collection.get

    def get(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(list(kwargs.get("include") or []))
        return original_get(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "get", get)
    near = memory.neighbours(query, 6, "stream")
    assert [(n.id, n.kind, n.module) for n in near] == [
        (r.pattern.id, r.pattern.kind, r.pattern.module) for r in recalled
    ]
    assert [n.similarity for n in near] == pytest.approx([r.similarity for r in recalled])
    assert all(n.pattern is None for n in near)
    assert not any("documents" in include for include in reads)  # no text read
    wanted = [near[0].id, near[2].id, "no-such-id"]
    assert memory.patterns(wanted) == {r.pattern.id: r.pattern for r in recalled[:3:2]}
    assert memory.neighbours("", 6, "stream") == [] and memory.neighbours(query, 0, "x") == []
    assert memory.patterns([]) == {}


def test_neighbours_of_a_small_pool_are_recalled_whole(memory: PatternMemory) -> None:
    memory.upsert(
        [make(i, kind="stream") for i in range(60)] + [make(i, kind="moderation") for i in (60, 61)]
    )
    near = memory.neighbours("stream went live", 5, "moderation")
    assert [n.kind for n in near] == ["moderation", "moderation"]
    assert all(n.pattern is not None and n.pattern.id == n.id for n in near)


def test_neighbours_too_far_for_the_widest_fetch_ask_chromas_filter_once(
    memory: PatternMemory, monkeypatch
) -> None:
    """When the widest fetch holds too few of the kind, neighbours asks Chroma's filtered
    search, as recall does, without walking the fetches again (before: it called recall,
    which did: 1.35 x recall's time at 10K patterns in bench_memory)."""
    memory.upsert([make(i, kind="stream") for i in range(30)])
    expected = memory.recall("stream went live", n=5, where={"kind": "stream"})
    walks: list[int] = []

    def too_far(*args, **kwargs):  # type: ignore[no-untyped-def]
        walks.append(1)
        return None

    monkeypatch.setattr(memory, "_nearest_by_kind", too_far)
    near = memory.neighbours("stream went live", 5, "stream")
    assert len(walks) == 1
    assert [n.pattern for n in near] == [r.pattern for r in expected]


def test_kind_counts_agree_with_the_full_stats(memory) -> None:  # type: ignore[no-untyped-def]
    """The cheap per-kind count (ids only) that idle cycles record gives what ``stats``
    gives by reading every pattern's metadata; a kind this version does not know is ""."""
    assert memory.kind_counts() == {}
    memory.upsert([make(i, kind) for i, kind in enumerate(["error_fix"] * 3 + ["priority"] * 2)])
    memory.upsert([replace(make(9, "error_fix"), kind="from_a_newer_version")])
    counts = memory.kind_counts()
    assert counts == {"error_fix": 3, "priority": 2, "": 1}
    stats = memory.stats()
    assert sum(counts.values()) == stats["total"]
    assert {k: n for k, n in stats["by_kind"].items() if k in counts} == {
        "error_fix": 3,
        "priority": 2,
    }
