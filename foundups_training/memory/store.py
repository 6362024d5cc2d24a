"""PatternMemory: the pattern store on ChromaDB (embedded by default, a Chroma server if set).

Each pattern is one Chroma record: the id is the pattern's deterministic id, the document is
the text that gets embedded (context, then decision), and the metadata holds every other
field flattened to what Chroma accepts (str, int, float, bool). The context is recovered
from the document by its stored length, so the text is kept once and round-trips exactly.

Vectors are computed here (:class:`~foundups_training.memory.embedding.MiniLMEncoder`) and
handed to Chroma, so re-seeing a known pattern only updates its metadata and never re-embeds.
The collection still records the registered embedding function, so any chromadb client with
this package installed can open it and query it by text.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from foundups_training.config import Settings
from foundups_training.records import (
    BEFORE_MARK,
    PATTERN_KINDS,
    Near,
    Pattern,
    Recalled,
    Variant,
    merge_instances,
    situation_of,
)
from foundups_training.text import encodable

from .lock import WriterLock
from .readcopy import SQLITE_FILE, StoreCopy, refused_write, writable_store

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from .embedding import MiniLMEncoder
    from .writer import BackgroundWriter

log = logging.getLogger(__name__)

#: The HNSW index, chosen rather than inherited: cosine space (unit vectors, similarity =
#: 1 - distance); ef_construction 200 and 16 neighbours give a good graph for ~10^5
#: vectors; ef_search 96 keeps recall@5 close to exact search for well under a millisecond
#: more per query; larger write batches make bulk mining cheaper.
HNSW_CONFIG: dict[str, Any] = {
    "space": "cosine",
    "ef_construction": 200,
    "max_neighbors": 16,
    "ef_search": 96,
    "batch_size": 500,
    "sync_threshold": 5000,
}

#: A store of fewer patterns than this is searched with :data:`EXACT_EF_SEARCH` (its writer
#: sets it, :meth:`PatternMemory._fit_search`); a bigger one with ``HNSW_CONFIG``'s 96.
#: Chroma adds the patterns written since its last sync (up to ``sync_threshold``) to the
#: graph again each time a process opens the store, not the same way twice
#: (chroma-core/chroma#2675): with 96, the real tree's store (6,110 patterns) missed 7 to 10
#: of a question's exact 32 nearest among the 128 a recall fetches, different ones in each
#: process, so an answer's score could differ between two runs; with 400 none. At 100K
#: patterns 400 cost about 4 ms a recall (docs/memory.md), where 96 stays.
EXACT_SEARCH_UP_TO = 10_000
#: The ``ef_search`` of a store under :data:`EXACT_SEARCH_UP_TO` patterns.
EXACT_EF_SEARCH = 400

#: Metadata keys never filtered on; not indexing them keeps the store smaller.
UNINDEXED_KEYS = ("decision",)


def collection_schema() -> Any:
    """The collection's schema: the registered embedding function, the cosine HNSW index
    with :data:`HNSW_CONFIG`, the full-text index on documents disabled (recall is by
    vector; embedded Chroma 1.5.9 still fills its FTS tables, a server may honour it) and
    no index on the decision text."""
    from chromadb import Schema
    from chromadb.api.types import (
        FtsIndexConfig,
        HnswIndexConfig,
        StringInvertedIndexConfig,
        VectorIndexConfig,
    )

    from .embedding import MiniLMEmbeddingFunction

    hnsw = {key: value for key, value in HNSW_CONFIG.items() if key != "space"}
    schema = Schema()
    schema.create_index(
        VectorIndexConfig(
            space=HNSW_CONFIG["space"],
            embedding_function=MiniLMEmbeddingFunction(),
            hnsw=HnswIndexConfig(**hnsw),
        )
    )
    schema.delete_index(FtsIndexConfig(), key="#document")
    for key in UNINDEXED_KEYS:
        schema.delete_index(StringInvertedIndexConfig(), key=key)
    return schema


#: Patterns handled per round trip (get + add/update) during an upsert.
UPSERT_BATCH = 512
#: Records read per page when scanning the whole store.
SCAN_PAGE = 2000
#: Bumped when the flattened layout or what is embedded changes. 2: a mined pattern's vector
#: is its situation and decision without the "Before:" lines of earlier events (see
#: :func:`embedded_text`); the first write to a layout-1 store re-embeds those patterns.
LAYOUT_VERSION = 2
#: Kinds whose contexts never hold "Before:" lines (the code index's and live chat's): the
#: migration to layout 2 skips them (measured: 94K chat patterns scanned for nothing took
#: 9 s of a 9.7 s open).
_NEVER_BEFORE = ("module_location", "module_doc", "chat_response", "moderation")

#: HTTP timeouts (seconds) against a Chroma server. chromadb builds its session with none at
#: all, so a server that accepts but never answers (stopped, swapping, a dead proxy) held
#: ``open_memory`` and every read forever, on a host DAE's thread no try/except can free.
#: Connecting and waiting for a pooled connection are quick or hopeless; a read or write
#: may be a large batch on a busy server.
SERVER_CONNECT_TIMEOUT = 3.0
SERVER_IO_TIMEOUT = 30.0

_STR_FIELDS = ("kind", "decision", "outcome", "module", "timestamp", "source", "code_ref")


class ReadOnlyMemory(PermissionError):
    """A write was attempted on a memory opened with ``read_only=True``."""


class PartialWrite(RuntimeError):
    """An upsert failed after part of it was stored; ``stored`` holds those patterns' ids.

    Whoever keeps the patterns to try again (the live writer's journal) must leave these
    out: stored twice, a pattern would count its observation twice.
    """

    def __init__(self, stored: frozenset[str], cause: BaseException) -> None:
        super().__init__(f"{len(stored)} patterns stored before the write failed: {cause}")
        self.stored = stored


def merge(stored: Pattern, incoming: Pattern) -> Pattern:
    """Fold a new observation of the same pattern into what is known.

    Support adds up; first/last seen widen; a non-empty incoming outcome (and code
    reference, timestamp) replaces the stored one; verified stays true once true; context
    and decision are kept; so are the first few distinct concrete instances. Every rule is
    associative, so folding observations in chunks gives the same pattern as folding them in
    one pass.
    """
    variants, tally = merge_instances(
        stored.variants, stored.tally, incoming.variants, incoming.tally
    )
    return replace(
        stored,
        seen=stored.seen + incoming.seen,
        first_seen=_min_set(stored.first_seen, incoming.first_seen),
        last_seen=_max_set(stored.last_seen, incoming.last_seen),
        outcome=incoming.outcome or stored.outcome,
        code_ref=incoming.code_ref or stored.code_ref,
        timestamp=incoming.timestamp or stored.timestamp,
        verified=stored.verified or incoming.verified,
        variants=variants,
        tally=tally,
    )


def retext(stored: Pattern, incoming: Pattern) -> Pattern:
    """Fold a new observation of the same pattern in, as :func:`merge` does, but take its
    text: the context and decision are the incoming ones (a rewritten file, README or WSP
    document keeps its id, and its pattern must say what the file says now)."""
    return replace(merge(stored, incoming), context=incoming.context, decision=incoming.decision)


def _min_set(a: str, b: str) -> str:
    # An empty time means "unknown", never "earliest".
    return min(a, b) if a and b else a or b


def _max_set(a: str, b: str) -> str:
    return max(a, b) if a and b else a or b


def document_of(pattern: Pattern) -> str:
    """The stored text: the whole context, then what was decided."""
    context = encodable(pattern.context)
    decision = encodable(pattern.decision)
    return f"{context}\n{decision}" if decision else context


def embedded_text(pattern: Pattern) -> str:
    """The text whose vector recall searches: the situation, then what was decided.

    A mined pattern's context ends with the records that led to it ("Before:" lines, kept
    for the models and for people); their words are about earlier events, so they stay out
    of the vector. Measured on the 32 sample development lookups, exact search: right answer
    first 17 → 19, among the first three 22 → 25.
    """
    context = situation_of(encodable(pattern.context))
    decision = encodable(pattern.decision)
    return f"{context}\n{decision}" if decision else context


def to_record(pattern: Pattern) -> tuple[str, dict[str, str | int | float | bool]]:
    """(document, flat metadata) for a pattern."""
    meta: dict[str, str | int | float | bool] = {
        name: encodable(getattr(pattern, name)) for name in _STR_FIELDS
    }
    meta.update(
        verified=bool(pattern.verified),
        seen=int(pattern.seen),
        first_seen=encodable(pattern.first_seen),
        last_seen=encodable(pattern.last_seen),
        ctx_len=len(encodable(pattern.context)),
        layout=LAYOUT_VERSION,
    )
    if pattern.variants:
        meta["variants"] = encodable(json.dumps([list(v) for v in pattern.variants]))
    if pattern.tally:
        meta["tally"] = json.dumps(list(pattern.tally))
    return document_of(pattern), meta


def _variants(raw: Any) -> tuple[Variant, ...]:
    """Stored instances back as tuples; anything unreadable is dropped, never raised."""
    if not raw:
        return ()
    try:
        data = json.loads(str(raw))
        return tuple(
            (str(v[0]), str(v[1]), str(v[2])) for v in data if isinstance(v, list) and len(v) == 3
        )
    except (ValueError, TypeError):
        return ()


def _tally(raw: Any, kept: int) -> tuple[int, ...]:
    """A stored tally, or () when it is unreadable or does not count the ``kept``
    instances one by one (never raised)."""
    if not raw:
        return ()
    try:
        data = json.loads(str(raw))
        tally = tuple(int(n) for n in data if isinstance(n, int) and n > 0)
    except (ValueError, TypeError):
        return ()
    return tally if len(tally) == kept == len(data) else ()


def from_record(pid: str, document: str | None, meta: Mapping[str, Any] | None) -> Pattern:
    """Rebuild a pattern from a Chroma record written by :func:`to_record`."""
    meta = meta or {}
    document = document or ""
    ctx_len = int(meta.get("ctx_len", len(document)))
    variants = _variants(meta.get("variants"))
    return Pattern(
        id=pid,
        kind=str(meta.get("kind", "")),
        context=document[:ctx_len],
        decision=str(meta.get("decision", "")),
        outcome=str(meta.get("outcome", "")),
        module=str(meta.get("module", "")),
        timestamp=str(meta.get("timestamp", "")),
        source=str(meta.get("source", "")),
        verified=bool(meta.get("verified", False)),
        code_ref=str(meta.get("code_ref", "")),
        seen=int(meta.get("seen", 1)),
        first_seen=str(meta.get("first_seen", "")),
        last_seen=str(meta.get("last_seen", "")),
        variants=variants,
        tally=_tally(meta.get("tally"), len(variants)),
    )


def chroma_where(where: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Accept ``{"kind": "x", "source": "y"}`` as well as Chroma's own ``$and`` form.

    A filter Chroma refuses (a ``$in`` list of mixed types or a tuple, a ``$and`` of one
    clause) is refused here, with Chroma's own check and its ``ValueError``: a recall
    answered from the unfiltered neighbours never asks Chroma, so such a filter worked at
    ``n=1`` and raised at ``n=100``, or once a kind filter's pool share was measured again.
    """
    from chromadb.api.types import validate_where

    if not where:
        return None
    _refuse_unindexed(where)
    if len(where) > 1 and not any(key.startswith("$") for key in where):
        out = {"$and": [{key: value} for key, value in where.items()]}
    else:
        out = dict(where)
    validate_where(out)  # type: ignore[arg-type]
    _refuse_mixed_lists(out)
    return out


def _refuse_mixed_lists(where: Any) -> None:
    """ValueError for a ``$in`` / ``$nin`` list whose values are not all of one type.

    Chroma's own check lets ``[2, True]`` through (a bool is an int to Python), then its
    store refuses it ("Invalid where clause"); refused here with the others, before any
    search.
    """
    if not isinstance(where, Mapping):
        return
    for key, value in where.items():
        if key in ("$and", "$or") and isinstance(value, list):
            for clause in value:
                _refuse_mixed_lists(clause)
        elif isinstance(value, Mapping):
            for op, operand in value.items():
                if isinstance(operand, list) and len({type(v) for v in operand}) > 1:
                    raise ValueError(
                        f"the values of a {op} filter on {key!r} must be of one type, "
                        f"got {operand!r}"
                    )


#: A filtered recall first fetches this many unfiltered neighbours (at least twice ``n``),
#: then more, before it lets Chroma filter (see recall): ~2, ~5 and ~30 ms at 100K against
#: ~200 ms. The first size suffices whenever the filter keeps most patterns (the router's
#: "module_location" or "anything but module_location" on a store of one main kind).
PREFILTER_FETCH = (32, 64, 256)

#: A recall filtered on ``kind`` alone (what the router asks) fetches only the neighbours'
#: ids and distances -- ~5 ms for 512 at 100K, where their metadata costs ~30 ms -- and
#: looks their kinds up in a per-process cache (a pattern's id is a hash of its kind and
#: module, so neither ever changes), so it can afford many more neighbours before it lets
#: Chroma filter.
KIND_FETCH = (128, 2048)
#: Ids whose kind and module the cache keeps (least recently used dropped first): ~4 MB.
KIND_CACHE = 20_000
#: A filter that keeps less than this share of the store is left to Chroma's own filtered
#: search, which scans the matching patterns exactly. The unfiltered neighbours cannot be
#: trusted for a small pool: HNSW's graph search among 94K chat patterns did not reach the
#: few hundred log patterns at all, even with 2,048 neighbours fetched (docs/memory.md).
SMALL_POOL_SHARE = 0.05
#: Seconds a pool's share of the store is remembered (it only picks the search strategy).
POOL_SHARE_TTL = 60.0

#: Clause operators the recall can check itself on fetched metadata: whether a match is
#: wanted (True) or excluded (False), and whether the value is a list of alternatives.
_OPS = {"$eq": (True, False), "$ne": (False, False), "$in": (True, True), "$nin": (False, True)}

_Scalar = str | int | float | bool


def simple_filter(
    where: Mapping[str, Any] | None,
) -> list[tuple[str, bool, tuple[Any, ...]]] | None:
    """``where`` as ``[(key, wanted?, values)]`` if it is only ``$eq``/``$ne``/``$in``/``$nin``
    on scalars (a clause matches when the key's value is among ``values``)."""
    if not where:
        return None
    clauses: list[tuple[str, Any]] = []
    items = list(where.items())
    if len(items) == 1 and items[0][0] == "$and" and isinstance(items[0][1], list):
        for clause in items[0][1]:
            if not isinstance(clause, Mapping) or len(clause) != 1:
                return None
            clauses.extend(clause.items())
    else:
        clauses = items
    out: list[tuple[str, bool, tuple[Any, ...]]] = []
    for key, value in clauses:
        wanted, many = True, False
        if isinstance(value, Mapping):
            if len(value) != 1 or next(iter(value)) not in _OPS:
                return None
            op, value = next(iter(value.items()))
            wanted, many = _OPS[op]
        values = tuple(value) if many and isinstance(value, list | tuple) else (value,)
        if key.startswith("$") or (many and not isinstance(value, list | tuple)) or not values:
            return None
        if not all(isinstance(v, _Scalar) for v in values):
            return None
        out.append((key, wanted, values))
    return out


def _same(have: Any, want: Any) -> bool:
    # Chroma keeps bool and int apart (True is not 1); so does this.
    return isinstance(want, bool) == isinstance(have, bool) and have == want


def _matches(
    meta: Mapping[str, Any] | None, clauses: list[tuple[str, bool, tuple[Any, ...]]]
) -> bool:
    meta = meta or {}
    for key, wanted, values in clauses:
        found = key in meta and any(_same(meta[key], v) for v in values)
        # As Chroma 1.5.9: $ne / $nin match a record that lacks the key (it was refused
        # here, so a recall answered from the unfiltered neighbours disagreed with one
        # Chroma filtered).
        if found != wanted:
            return False
    return True


def _filter_keys(where: Any) -> Iterator[str]:
    """Every metadata key a Chroma filter names, through ``$and`` / ``$or``."""
    if isinstance(where, Mapping):
        for key, value in where.items():
            if key in ("$and", "$or") and isinstance(value, list):
                for clause in value:
                    yield from _filter_keys(clause)
            elif not key.startswith("$"):
                yield key


def _refuse_unindexed(where: Mapping[str, Any] | None) -> None:
    """ValueError for a filter on a key of :data:`UNINDEXED_KEYS`, before any search.

    Chroma refuses such a filter, but a recall answered from the unfiltered neighbours
    never asked it: the same filter worked at ``n=1`` and raised at ``n=5``.
    """
    named = sorted(set(_filter_keys(where)) & set(UNINDEXED_KEYS))
    if named:
        raise ValueError(f"cannot filter on {', '.join(named)}: not indexed in the store")


class _Reresolving:
    """A collection that, when Chroma says it no longer exists, is looked up again and the
    call retried once.

    Another process's ``clear`` on a shared server deletes the collection and creates a new
    one (a new id) under the same name; the cached collection then raised ``NotFoundError``
    on every call until this process restarted (the background writer journaled
    everything). In one place here rather than at every call site. A call that failed so
    changed nothing, so retrying it (a write included) is safe.
    """

    def __init__(self, memory: PatternMemory, col: Collection, create: bool) -> None:
        self._memory = memory
        self._current = col
        self._create = create

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._current, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            from chromadb.errors import NotFoundError

            stale = self._current
            try:
                return getattr(stale, name)(*args, **kwargs)
            except NotFoundError:
                fresh = self._memory._reresolved(self._create)
                if fresh is None:
                    raise
                self._current = fresh
                log.info("collection %r was recreated elsewhere; using the new one", fresh.name)
                return getattr(fresh, name)(*args, **kwargs)

        return call


class PatternMemory:
    """The pattern store. Build it with :func:`open_memory`; close it to release the lock.

    Safe to share between threads: upserts are serialised inside the process (their
    read-merge-write must not interleave); reads run concurrently.
    """

    def __init__(
        self,
        client: ClientAPI | None,
        *,
        connect: Callable[[], ClientAPI | None] | None = None,
        settings: Settings,
        read_only: bool = False,
        lock: WriterLock | None = None,
        location: str = "",
        encoder: MiniLMEncoder | None = None,
        store_copy: StoreCopy | None = None,
    ) -> None:
        self.settings = settings
        self.read_only = read_only
        self.location = location
        self._client = client
        # A reader of a store that does not exist yet connects once it does (never creates).
        self._connect = connect
        self._lock = lock
        # Where a reader of a store it cannot write reads it from (removed on close).
        self._store_copy = store_copy
        if store_copy is not None:
            _copies.add(store_copy)  # a forked child never removes it (_after_fork_in_child)
        self._encoder = encoder
        self._write_lock = threading.RLock()
        self._collection: Collection | None = None
        self._writer: BackgroundWriter | None = None
        self._closed = False
        #: The process that opened the store: a forked child only lets go of it (see close)
        self._pid = os.getpid()
        self._migrated = False  # checked by the first write of this process (see _migrate)
        self._ef_search: int | None = None  # the search width this process last set or saw
        # id -> (kind, module) of patterns seen by kind-filtered recalls (neither changes:
        # both are part of what the id hashes).
        self._kind_cache: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._kind_lock = threading.Lock()
        # filter -> (share of the store it keeps, when measured)
        self._pool_shares: dict[str, tuple[float, float]] = {}

    # -- plumbing -----------------------------------------------------------------------
    @property
    def encoder(self) -> MiniLMEncoder:
        """The process's embedding model, loaded on first use."""
        if self._encoder is None:
            from .embedding import shared_encoder

            self._encoder = shared_encoder(self.settings.n_threads)
        return self._encoder

    def _col(self, create: bool = True) -> Collection | None:
        """The collection; None when reading a store that has none yet.

        It comes wrapped (:class:`_Reresolving`) so that a collection another process deleted
        and recreated (its ``clear`` against a shared server) is looked up again rather than
        failing every call until this process restarts.
        """
        if self._closed:
            raise RuntimeError("the pattern memory is closed")
        if self._collection is not None:
            return self._collection
        col = self._resolve(create)
        if col is None:
            return None
        self._collection = cast("Collection", _Reresolving(self, col, create))
        return self._collection

    def _resolve(self, create: bool) -> Collection | None:
        """Look the collection up (create it if ``create`` and writable); None if a reader
        finds none. An existing one is checked to be this plugin's (:meth:`_check_ours`)."""
        from .embedding import MiniLMEmbeddingFunction

        if self._client is None:
            self._client = self._connect() if self._connect is not None else None
            if self._client is None:
                return None
        name = self.settings.collection
        if self.read_only or not create:
            from chromadb.errors import NotFoundError

            try:
                col = self._client.get_collection(
                    name,
                    embedding_function=MiniLMEmbeddingFunction(),  # type: ignore[arg-type]
                )
            except (NotFoundError, ValueError):
                return None  # nothing written yet; asked again on the next call
        else:
            col = self._client.get_or_create_collection(
                name,
                schema=collection_schema(),
                metadata={"foundups_training_layout": LAYOUT_VERSION},
            )
        self._check_ours(col)
        return col

    def _check_ours(self, col: Collection) -> None:
        """Refuse a collection this plugin did not make (ValueError).

        ``get_or_create`` silently adopts whatever already has the name: a collection in
        another space made every similarity wrong (1 - l2 distance), and another tool's
        records came back as patterns of kind '' and were re-embedded by the layout
        migration. Ours is in cosine space and carries this plugin's embedding function
        (every layout) or its layout marker.
        """
        from .embedding import MiniLMEmbeddingFunction

        config: Mapping[str, Any] = dict(col.configuration or {})
        index = config.get("hnsw") or config.get("spann") or {}
        space = index.get("space", "l2") if isinstance(index, Mapping) else None
        function = config.get("embedding_function")
        named = getattr(function, "name", None)
        ours = (callable(named) and named() == MiniLMEmbeddingFunction.name()) or (
            "foundups_training_layout" in (col.metadata or {})
        )
        if space == HNSW_CONFIG["space"] and ours:
            return
        why = f"its space is {space!r}, not cosine" if ours else "it was not made by this plugin"
        raise ValueError(
            f"the Chroma collection {col.name!r} at {self.location} is not a pattern memory "
            f"({why}); set another `collection` name in the settings (or remove that "
            "collection if nothing else needs it)"
        )

    def _reresolved(self, create: bool) -> Collection | None:
        """The collection looked up again after the cached one was found deleted (another
        process's ``clear``); None if there is none now. What was cached about the old one
        (kinds, pool shares) goes with it."""
        with self._kind_lock:
            self._kind_cache.clear()
            self._pool_shares.clear()
        self._ef_search = None  # the new collection's width is its own
        return self._resolve(create)

    def _migrate(self, col: Collection) -> None:
        """Bring a store written by an earlier layout up to :data:`LAYOUT_VERSION`.

        Layout 1 embedded a mined pattern's whole context, "Before:" lines included: those
        patterns get the vector of :func:`embedded_text`. Run by this process's first write
        (whatever was read before it). Idempotent (the same text gives
        the same vector), so two processes migrating one server's store do no harm; a store
        opened read-only keeps its vectors until a writer opens it.
        """
        with self._write_lock:
            if self._migrated:
                return
            self._fit_search(col)
            meta = dict(col.metadata or {})
            layout = int(meta.get("foundups_training_layout", 1) or 1)
            if layout >= LAYOUT_VERSION:
                self._migrated = True
                return
            start, changed, offset = time.perf_counter(), 0, 0
            while True:
                page = col.get(
                    include=["documents", "metadatas"],  # type: ignore[list-item]
                    limit=SCAN_PAGE,
                    offset=offset,
                    where=chroma_where({"kind": {"$nin": list(_NEVER_BEFORE)}}),
                )
                ids = page["ids"]
                if not ids:
                    break
                offset += len(ids)
                records = zip(ids, page["documents"] or [], page["metadatas"] or [], strict=True)
                stale = [
                    pattern
                    for pattern in (from_record(pid, doc, m) for pid, doc, m in records)
                    if BEFORE_MARK in pattern.context
                ]
                if stale:
                    vectors = self.encoder.encode([embedded_text(p) for p in stale])
                    col.update(ids=[p.id for p in stale], embeddings=vectors)
                    changed += len(stale)
            meta["foundups_training_layout"] = LAYOUT_VERSION
            col.modify(metadata=meta)
            self._migrated = True
            log.info(
                "pattern memory layout %d -> %d: %d mined patterns re-embedded without their "
                "'Before:' lines in %.1f s",
                layout,
                LAYOUT_VERSION,
                changed,
                time.perf_counter() - start,
            )

    def _fit_search(self, col: Collection) -> None:
        """Have the store searched as its size asks (:data:`EXACT_SEARCH_UP_TO`): the
        writer sets it on its first write and whenever a write takes the store across that
        size; the processes that open the store after it search that way. A store that cannot
        be changed keeps searching as it did (only less exactly, or a little slower)."""
        try:
            n = int(col.count())
            want = EXACT_EF_SEARCH if n < EXACT_SEARCH_UP_TO else int(HNSW_CONFIG["ef_search"])
            if want == self._ef_search:
                return
            hnsw: Mapping[str, Any] = (col.configuration or {}).get("hnsw") or {}
            have = hnsw.get("ef_search")
            if have != want:
                col.modify(configuration={"hnsw": {"ef_search": want}})
                log.info("pattern memory: HNSW ef_search %s -> %d (%d patterns)", have, want, n)
            self._ef_search = want
        except Exception as exc:  # noqa: BLE001 - recall works as before
            log.warning("pattern memory: could not set the HNSW search width (%s)", exc)

    def _check_writable(self) -> Collection:
        if self.read_only:
            raise ReadOnlyMemory(f"the pattern memory at {self.location} is open read-only")
        col = self._col()
        assert col is not None
        if not self._migrated:
            # Here, not in _col: a reader's first look (recall, seen_counts) must not pay
            # for it, and a write must never go into a store of the old layout.
            self._migrate(col)
        return col

    # -- writing ------------------------------------------------------------------------
    def upsert(self, patterns: Iterable[Pattern]) -> int:
        """Store patterns; returns how many ids were new.

        A known id is merged (see :func:`merge`), never duplicated, and duplicates inside
        ``patterns`` are merged the same way. Only new patterns are embedded.
        """
        return self._write(patterns, take_text=False)

    def replace_text(self, patterns: Iterable[Pattern]) -> int:
        """Store patterns whose text changed under an id the store may know; returns how
        many ids were new.

        :meth:`upsert` keeps the text of a known id. Here a known id is merged as upsert
        merges it (seen adds up, first/last seen widen, an outcome stays) but takes the
        incoming context and decision (:func:`retext`), embedded again; an unknown id is
        stored as upsert stores it; duplicates inside ``patterns``, the last text winning.
        Each batch is one Chroma upsert, which replaces the document, vector and metadata of
        its ids together: a process killed or a store failing at any point leaves each
        pattern its old text or its new one. (Deleting the old pattern, then adding the new,
        lost the pattern in between.)
        """
        return self._write(patterns, take_text=True)

    def _write(self, patterns: Iterable[Pattern], *, take_text: bool) -> int:
        """Store ``patterns`` a batch at a time, a known id folded in with :func:`merge`, or
        with :func:`retext` if ``take_text``."""
        fold = retext if take_text else merge
        col = self._check_writable()
        new_total = 0
        batch: dict[str, Pattern] = {}
        written: set[str] = set()
        with self._write_lock:
            try:
                for pattern in patterns:
                    held = batch.get(pattern.id)
                    batch[pattern.id] = pattern if held is None else fold(held, pattern)
                    if len(batch) >= UPSERT_BATCH:
                        new_total += self._upsert_batch(col, batch, written, take_text)
                        batch = {}
                if batch:
                    new_total += self._upsert_batch(col, batch, written, take_text)
            except Exception as exc:
                if written:
                    raise PartialWrite(frozenset(written), exc) from exc
                raise
            if new_total:
                self._fit_search(col)  # the store may have grown past EXACT_SEARCH_UP_TO
        return new_total

    def _upsert_batch(
        self,
        col: Collection,
        batch: dict[str, Pattern],
        written: set[str],
        take_text: bool = False,
    ) -> int:
        ids = list(batch)
        found = col.get(ids=ids, include=["metadatas", "documents"])  # type: ignore[list-item]
        metas = dict(zip(found["ids"], found["metadatas"] or [], strict=True))
        stored = {
            pid: from_record(pid, doc, meta)
            for pid, doc, meta in zip(
                found["ids"], found["documents"] or [], found["metadatas"] or [], strict=True
            )
        }
        fold = retext if take_text else merge
        known = [fold(stored[pid], batch[pid]) for pid in ids if pid in stored]
        fresh = [batch[pid] for pid in ids if pid not in stored]
        if take_text:
            self._swap(col, known + fresh, metas)
            written.update(ids)
            self._announce(tuple(known) + tuple(fresh), len(fresh))
            return len(fresh)
        if known:
            # Context and decision are kept, so the document and its vector stay valid.
            col.update(ids=[p.id for p in known], metadatas=[to_record(p)[1] for p in known])
            written.update(p.id for p in known)
        if fresh:
            records = [to_record(p) for p in fresh]
            documents = [doc for doc, _ in records]
            vectors = self.encoder.encode([embedded_text(p) for p in fresh])
            # upsert, not add: on a shared server another writer may have added it meanwhile.
            col.upsert(
                ids=[p.id for p in fresh],
                embeddings=vectors,
                documents=documents,
                metadatas=[meta for _, meta in records],  # type: ignore[misc]
            )
            written.update(p.id for p in fresh)
        self._announce(tuple(known) + tuple(fresh), len(fresh))
        return len(fresh)

    def _swap(
        self,
        col: Collection,
        patterns: list[Pattern],
        metas: Mapping[str, Mapping[str, Any] | None],
    ) -> None:
        """Write ``patterns`` whole (text, vector, metadata) in one Chroma upsert; ``metas``
        holds the stored metadata of those the store knows.

        Chroma's upsert replaces an existing id's document and vector but merges its
        metadata with what was stored, so a key the new record lacks (``variants`` once
        there are none) is written as None, which removes it: the record is then exactly
        :func:`to_record` of the pattern."""
        records = [to_record(p) for p in patterns]
        metadatas: list[dict[str, Any]] = []
        for pattern, (_, meta) in zip(patterns, records, strict=True):
            full: dict[str, Any] = dict(meta)
            full.update({key: None for key in (metas.get(pattern.id) or {}) if key not in meta})
            metadatas.append(full)
        col.upsert(
            ids=[p.id for p in patterns],
            embeddings=self.encoder.encode([embedded_text(p) for p in patterns]),
            documents=[doc for doc, _ in records],
            metadatas=metadatas,  # type: ignore[arg-type]
        )

    @staticmethod
    def _announce(patterns: tuple[Pattern, ...], new: int) -> None:
        try:
            from foundups_training import signals

            signals.pattern_stored.send("memory", patterns=patterns, new=new)
        except Exception:  # an observer must never break a write
            log.exception("pattern_stored receiver failed")

    def seen_counts(self, ids: Iterable[str]) -> dict[str, int]:
        """The stored ``seen`` of each id among ``ids`` (ids not stored are left out).

        One batched read per :data:`UPSERT_BATCH` ids. The miner notes these before a write,
        so a run killed (or failing) halfway through the write can tell which patterns it
        already reached and never counts a line twice.
        """
        col = self._col(create=False)
        wanted = list(dict.fromkeys(ids))
        out: dict[str, int] = {}
        if col is None:
            return out
        for i in range(0, len(wanted), UPSERT_BATCH):
            found = col.get(ids=wanted[i : i + UPSERT_BATCH], include=["metadatas"])  # type: ignore[list-item]
            for pid, meta in zip(found["ids"], found["metadatas"] or [], strict=True):
                out[pid] = int((meta or {}).get("seen", 1))  # type: ignore[arg-type]
        return out

    def update_outcome(self, pattern_id: str, outcome: str) -> bool:
        """Set a pattern's outcome; False when the id is unknown."""
        col = self._check_writable()
        with self._write_lock:
            found = col.get(ids=[pattern_id], include=[])
            if not found["ids"]:
                return False
            col.update(ids=[pattern_id], metadatas=[{"outcome": encodable(outcome)}])
        return True

    def delete(self, ids: Iterable[str]) -> int:
        """Remove these patterns (unknown ids are ignored); returns how many were stored."""
        col = self._check_writable()
        wanted = list(dict.fromkeys(ids))
        removed = 0
        with self._write_lock:
            for i in range(0, len(wanted), UPSERT_BATCH):
                batch = wanted[i : i + UPSERT_BATCH]
                present = col.get(ids=batch, include=[])["ids"]
                if present:
                    col.delete(ids=list(present))
                    removed += len(present)
        with self._kind_lock:
            for pid in wanted:
                self._kind_cache.pop(pid, None)
        return removed

    def clear(self, confirm: bool = False) -> None:
        """Delete every pattern, those waiting in the journal to be stored included. Refuses
        (ValueError) unless ``confirm=True``.

        The background writer is stopped first (a replay of the journal, started when the
        store opened, would otherwise put journaled patterns back after the clear, or race
        it); the next write starts a new one. A replay in another process (server mode) is
        waited for, within bounds, through the replay lock, which is held until the store is
        emptied: :class:`~foundups_training.memory.writer.JournalBusy` if it does not end in
        time, and then nothing is deleted.
        """
        if not confirm:
            raise ValueError("clear() deletes every pattern: call clear(confirm=True)")
        self._check_writable()
        self.stop_writer()
        from .writer import journal_discarded

        with journal_discarded(self.settings.journal_dir) as discarded:
            if discarded:
                log.info("clear: %d journaled patterns discarded", discarded)
            with self._write_lock:
                from chromadb.errors import NotFoundError

                assert self._client is not None
                try:
                    self._client.delete_collection(self.settings.collection)
                except (NotFoundError, ValueError):
                    pass
                self._collection = None
                with self._kind_lock:
                    self._kind_cache.clear()
                    self._pool_shares.clear()
                col = self._col()
                assert col is not None  # _col creates it
                self._fit_search(col)  # a new, empty store: the exact search

    def writer(self) -> BackgroundWriter:
        """The process's background writer for this memory (started on first call)."""
        if self.read_only:
            raise ReadOnlyMemory("a read-only pattern memory has no writer")
        if self._closed:
            # A new writer here would be a thread writing to a closed store, never stopped.
            raise RuntimeError("the pattern memory is closed")
        with self._write_lock:
            if self._writer is None:
                from .writer import BackgroundWriter

                self._writer = BackgroundWriter(self, self.settings.journal_dir)
                self._writer.start()
            return self._writer

    def replay_journal(self) -> bool:
        """Start the background writer if the journal holds patterns; True if it does.

        Its thread replays them (a live batch the store refused, or what could not be stored
        before the last exit), so they are stored soon after the store opens, and never on
        the caller's thread: the caller may be a host DAE's.
        """
        from .writer import journal_pending

        if self.read_only or self._closed or not journal_pending(self.settings.journal_dir):
            return False
        self.writer()
        return True

    def stop_writer(self, timeout: float = 10.0) -> None:
        """Store what the background writer holds (up to ``timeout``), journal the rest, and
        stop its thread; the memory stays open.

        For the process's exit: the thread is a daemon, so whatever it still held would die
        with the process. A later :meth:`writer` starts a new one.
        """
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close(timeout)

    # -- reading ------------------------------------------------------------------------
    def recall(
        self,
        query: str,
        n: int = 5,
        where: Mapping[str, Any] | None = None,
        min_similarity: float = 0.0,
    ) -> list[Recalled]:
        """The ``n`` patterns most similar to ``query`` (cosine similarity, best first).

        ``where`` filters on metadata (``{"kind": "error_fix", "verified": True}`` or any
        Chroma filter); results below ``min_similarity`` are dropped.
        """
        filtered = chroma_where(where)  # refuses a filter Chroma would refuse, whatever n
        col = self._col(create=False)
        if col is None or n <= 0 or not query:
            return []
        vector = self.encoder.encode_query(query)
        clauses = simple_filter(where)
        if clauses is not None and all(key == "kind" for key, _, _ in clauses):
            if self._pool_share(col, where) >= SMALL_POOL_SHARE:
                found = self._recall_by_kind(col, vector, n, clauses, min_similarity)
                if found is not None:
                    return found
        elif clauses is not None:
            # Chroma's filtered search reads the matching ids from SQLite on every query
            # (~0.2 s for a kind filter at 100K patterns). The unfiltered nearest neighbours,
            # filtered here, give the same answer whenever they hold n matches: the filtered
            # ranking is a subsequence of the unfiltered one.
            sizes = sorted(
                {max(PREFILTER_FETCH[0], n * 2), *(max(f, n * 8) for f in PREFILTER_FETCH[1:])}
            )
            for k in sizes:
                hits = self._query(col, vector, k, None)
                matching = [h for h in hits if _matches(h[2], clauses)]
                exhausted = len(hits) < k or (hits and 1.0 - hits[-1][3] < min_similarity)
                if len(matching) >= n or exhausted:
                    return self._recalled(matching[:n], min_similarity)
        return self._recalled(self._query(col, vector, n, filtered), min_similarity)

    def neighbours(self, query: str, n: int, kind: str) -> list[Near]:
        """The ``n`` patterns of ``kind`` nearest ``query`` (best first) without their text:
        ids and distances from the index, kinds and modules from the cache :meth:`recall`
        keeps. For a caller that weighs many and reads few (the router's best passage per
        module: its 64 passages' metadata was ~20 of a module question's ~35 ms on the real
        host's index); :meth:`patterns` reads the few. A kind too rare for the cache's way
        (see :data:`SMALL_POOL_SHARE`), or too far for its widest fetch, is searched by
        Chroma's filter as :meth:`recall` does, its patterns kept."""
        where = {"kind": kind}
        col = self._col(create=False)
        if col is None or n <= 0 or not query:
            return []
        clauses = simple_filter(where)
        assert clauses is not None  # one plain clause
        vector = self.encoder.encode_query(query)
        if self._pool_share(col, where) >= SMALL_POOL_SHARE:
            found = self._nearest_by_kind(col, vector, n, clauses, 0.0)
            if found is not None:  # as recall() keeps them: similarity 0 or more
                near = [(pid, 1.0 - float(dist), k, mod) for pid, dist, k, mod in found]
                return [Near(pid, k, mod, sim) for pid, sim, k, mod in near if sim >= 0.0]
        # What recall() then asks: Chroma's own filtered search, the patterns read.
        hits = self._query(col, vector, n, chroma_where(where))
        return [Near.of(r) for r in self._recalled(hits, 0.0)]

    def patterns(self, ids: Sequence[str]) -> dict[str, Pattern]:
        """The stored patterns of ``ids`` by id, in one read (absent ids left out)."""
        col = self._col(create=False)
        wanted = list(dict.fromkeys(ids))
        if col is None or not wanted:
            return {}
        found = col.get(ids=wanted, include=["metadatas", "documents"])  # type: ignore[list-item]
        return {
            pid: from_record(pid, doc, meta)
            for pid, doc, meta in zip(
                found["ids"], found["documents"] or [], found["metadatas"] or [], strict=True
            )
        }

    def _nearest_by_kind(
        self,
        col: Collection,
        vector: Any,
        n: int,
        clauses: list[tuple[str, bool, tuple[Any, ...]]],
        min_similarity: float,
    ) -> list[tuple[str, float, str, str]] | None:
        """The ``n`` nearest ``(id, distance, kind, module)`` of a ``kind`` filter, from the
        unfiltered neighbours' ids and distances and the kind cache; None when even the
        widest fetch holds fewer than ``n`` matches."""
        for k in sorted({max(KIND_FETCH[0], n * 4), *KIND_FETCH[1:]}):
            result = col.query(
                query_embeddings=[vector],
                n_results=int(k),
                include=["distances"],  # type: ignore[list-item]
            )
            ids = result["ids"][0]
            dists = (result["distances"] or [[]])[0]
            known = self._identities(col, ids)
            kinds = {kind for kind, _ in known.values()}
            wanted = {kind for kind in kinds if _matches({"kind": kind}, clauses)}
            matching = [
                (pid, dist, *known[pid])
                for pid, dist in zip(ids, dists, strict=True)
                if pid in known and known[pid][0] in wanted
            ]
            exhausted = len(ids) < k or bool(dists and 1.0 - dists[-1] < min_similarity)
            if len(matching) >= n or exhausted:
                return matching[:n]
        return None

    def _recall_by_kind(
        self,
        col: Collection,
        vector: Any,
        n: int,
        clauses: list[tuple[str, bool, tuple[Any, ...]]],
        min_similarity: float,
    ) -> list[Recalled] | None:
        """A ``kind``-filtered recall: :meth:`_nearest_by_kind`, then the chosen patterns read;
        None when even the widest fetch holds fewer than ``n`` matches."""
        chosen = self._nearest_by_kind(col, vector, n, clauses, min_similarity)
        if chosen is None:
            return None
        read = self.patterns([pid for pid, *_ in chosen])
        hits = [
            Recalled(read[pid], 1.0 - float(dist))
            for pid, dist, *_ in chosen
            if pid in read  # (deleted meanwhile)
        ]
        return [r for r in hits if r.similarity >= min_similarity]

    def _pool_share(self, col: Collection, where: Mapping[str, Any] | None) -> float:
        """The share of the store that ``where`` keeps, re-measured every POOL_SHARE_TTL s
        (a metadata scan: ~10 ms for one kind at 100K patterns, ~0.2 s for 94K matches)."""
        key = json.dumps(where, sort_keys=True, default=str)
        now = time.monotonic()
        with self._kind_lock:
            held = self._pool_shares.get(key)
        if held is not None and now - held[1] < POOL_SHARE_TTL:
            return held[0]
        total = int(col.count())
        kept = len(col.get(where=chroma_where(where), include=[])["ids"]) if total else 0
        share = kept / total if total else 1.0
        with self._kind_lock:
            self._pool_shares[key] = (share, now)
        return share

    def _identities(self, col: Collection, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """The kind and module of each stored id among ``ids``, from the cache or one
        metadata read."""
        with self._kind_lock:
            cache = self._kind_cache
            known = {pid: cache[pid] for pid in ids if pid in cache}
            for pid in known:
                cache.move_to_end(pid)
        unknown = [pid for pid in ids if pid not in known]
        if unknown:
            found = col.get(ids=unknown, include=["metadatas"])  # type: ignore[list-item]
            fetched = {
                pid: (
                    sys.intern(str((meta or {}).get("kind", ""))),
                    sys.intern(str((meta or {}).get("module", ""))),
                )
                for pid, meta in zip(found["ids"], found["metadatas"] or [], strict=True)
            }
            with self._kind_lock:
                for pid, identity in fetched.items():
                    self._kind_cache[pid] = identity
                while len(self._kind_cache) > KIND_CACHE:
                    self._kind_cache.popitem(last=False)
            known.update(fetched)
        return known

    @staticmethod
    def _query(
        col: Collection, vector: Any, n: int, where: dict[str, Any] | None
    ) -> list[tuple[str, str, Mapping[str, Any], float]]:
        result = col.query(
            query_embeddings=[vector],
            n_results=int(n),
            where=where,  # type: ignore[arg-type]
            include=["metadatas", "documents", "distances"],  # type: ignore[list-item]
        )
        return list(
            zip(
                result["ids"][0],
                (result["documents"] or [[]])[0],
                (result["metadatas"] or [[]])[0],
                (result["distances"] or [[]])[0],
                strict=True,
            )
        )

    @staticmethod
    def _recalled(
        hits: list[tuple[str, str, Mapping[str, Any], float]], min_similarity: float
    ) -> list[Recalled]:
        out: list[Recalled] = []
        for pid, doc, meta, dist in hits:
            similarity = 1.0 - float(dist)
            if similarity >= min_similarity:
                out.append(Recalled(from_record(pid, doc, meta), similarity))
        return out

    def similarity(self, query: str, ids: Sequence[str]) -> dict[str, float]:
        """Cosine similarity of ``query`` to each stored pattern of ``ids`` (absent ids are
        left out). The query's embedding comes from the encoder's cache when ``recall`` has
        just embedded it."""
        col = self._col(create=False)
        wanted = list(dict.fromkeys(ids))
        if col is None or not query or not wanted:
            return {}
        found = col.get(ids=wanted, include=["embeddings"])  # type: ignore[list-item]
        vectors = found.get("embeddings")
        if vectors is None or not len(found["ids"]):
            return {}
        import numpy as np

        q = np.asarray(self.encoder.encode_query(query), dtype=np.float32)
        m = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(m, axis=1) * max(float(np.linalg.norm(q)), 1e-12)
        sims = (m @ q) / np.maximum(norms, 1e-12)
        return {pid: float(s) for pid, s in zip(found["ids"], sims, strict=True)}

    def pattern_similarity(self, query: str, patterns: Sequence[Pattern]) -> list[float]:
        """Cosine similarity of ``query`` to each of ``patterns`` (stored or not), embedded as
        recall embeds a stored one."""
        if not patterns:
            return []
        import numpy as np

        q = np.asarray(self.encoder.encode_query(query), dtype=np.float32)
        m = self.encoder.encode([embedded_text(p) for p in patterns])
        return [float(s) for s in m @ q]

    def get(self, pattern_id: str) -> Pattern | None:
        """The stored pattern with this id, or None."""
        col = self._col(create=False)
        if col is None:
            return None
        found = col.get(ids=[pattern_id], include=["metadatas", "documents"])  # type: ignore[list-item]
        if not found["ids"]:
            return None
        return from_record(
            found["ids"][0], (found["documents"] or [""])[0], (found["metadatas"] or [{}])[0]
        )

    def count(self) -> int:
        """How many patterns are stored."""
        col = self._col(create=False)
        return 0 if col is None else int(col.count())

    def kind_counts(self) -> dict[str, int]:
        """How many patterns of each kind are stored (kinds with none left out), from one
        id-only filtered read per kind: no metadata is read, unlike :meth:`stats` (measured
        on the 6,110 patterns of the real host's index: 1.7 s for ``stats``). Patterns of a
        kind this version does not know are counted under ``""``."""
        col = self._col(create=False)
        if col is None:
            return {}
        counts: dict[str, int] = {}
        for kind in PATTERN_KINDS:
            n = len(col.get(where={"kind": kind}, include=[])["ids"])
            if n:
                counts[kind] = n
        rest = int(col.count()) - sum(counts.values())
        if rest > 0:
            counts[""] = rest
        return counts

    def all_patterns(self, where: Mapping[str, Any] | None = None) -> Iterator[Pattern]:
        """Every stored pattern (optionally filtered), page by page."""
        for pid, doc, meta in self._scan(include_documents=True, where=where):
            yield from_record(pid, doc, meta)

    def ids(self, where: Mapping[str, Any] | None = None) -> list[str]:
        """The ids of every stored pattern (optionally filtered), without their text."""
        col = self._col(create=False)
        if col is None:
            return []
        out: list[str] = []
        while True:
            page = col.get(include=[], limit=SCAN_PAGE, offset=len(out), where=chroma_where(where))
            out += page["ids"]
            if len(page["ids"]) < SCAN_PAGE:
                return out

    def _scan(
        self, *, include_documents: bool, where: Mapping[str, Any] | None = None
    ) -> Iterator[tuple[str, str | None, Mapping[str, Any]]]:
        col = self._col(create=False)
        if col is None:
            return
        include: list[Any] = ["metadatas", "documents"] if include_documents else ["metadatas"]
        offset = 0
        while True:
            page = col.get(
                include=include, limit=SCAN_PAGE, offset=offset, where=chroma_where(where)
            )
            ids = page["ids"]
            if not ids:
                return
            docs = page["documents"] if include_documents else None
            metas = page["metadatas"] or [{}] * len(ids)
            for i, pid in enumerate(ids):
                yield pid, (docs[i] if docs else None), metas[i] or {}
            if len(ids) < SCAN_PAGE:
                return
            offset += len(ids)

    @property
    def read_from_copy(self) -> bool:
        """Whether this reader reads a temporary copy of the store (see :class:`StoreCopy`)."""
        return self._store_copy is not None and self._store_copy.path is not None

    def stats(self) -> dict[str, Any]:
        """Totals: ``total``, ``by_kind``, ``by_source``, ``verified`` (count of verified);
        ``read_from_copy`` (True) only when the store was read from a temporary copy."""
        by_kind: dict[str, int] = {}
        by_source: dict[str, int] = {}
        verified = 0
        total = 0
        for _, _, meta in self._scan(include_documents=False):
            total += 1
            kind = str(meta.get("kind", ""))
            source = str(meta.get("source", ""))
            by_kind[kind] = by_kind.get(kind, 0) + 1
            by_source[source] = by_source.get(source, 0) + 1
            verified += bool(meta.get("verified", False))
        out: dict[str, Any] = {
            "total": total,
            "by_kind": dict(sorted(by_kind.items())),
            "by_source": dict(sorted(by_source.items())),
            "verified": verified,
            "location": self.location,
        }
        if self.read_from_copy:
            out["read_from_copy"] = True
        return out

    # -- lifetime -----------------------------------------------------------------------
    def close(self) -> None:
        """Drain the background writer, close the client and release the writer lock.

        In a forked child (a host's worker closing what it inherited, at its exit say) the
        store only lets go: chromadb's client hung for ever in its close there, the
        writer's queue holds the parent's patterns (journaled again by the child, stored
        twice), the read-only copy and the lock are the parent's."""
        if self._closed:
            return
        if self._pid != os.getpid():
            self._closed = True
            self._writer = self._collection = self._client = self._store_copy = None
            if self._lock is not None:
                self._lock.release()  # a child's release only forgets (memory/lock.py)
            return
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        self._closed = True
        self._collection = None
        closer = getattr(self._client, "close", None) if self._client is not None else None
        if closer is not None:
            try:
                closer()
            except Exception:  # closing must always release the lock
                log.exception("closing the chroma client failed")
        if self._store_copy is not None:
            self._store_copy.remove()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> PatternMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"PatternMemory({self.location!r}, {mode})"


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    # Telemetry would try the network on every start; this store is offline by design.
    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def _server_timeout() -> Any:
    """The httpx timeouts every request to a Chroma server runs under (see
    :data:`SERVER_CONNECT_TIMEOUT`)."""
    import httpx

    return httpx.Timeout(
        SERVER_IO_TIMEOUT, connect=SERVER_CONNECT_TIMEOUT, pool=SERVER_CONNECT_TIMEOUT
    )


def _not_answering(url: str, exc: BaseException) -> TimeoutError:
    """The error for a server that did not answer within :func:`_server_timeout`."""
    return TimeoutError(
        f"the Chroma server at {url} did not answer in time (connect "
        f"{SERVER_CONNECT_TIMEOUT:g} s, read {SERVER_IO_TIMEOUT:g} s): {type(exc).__name__}"
    )


def _timeout_in(exc: BaseException) -> BaseException | None:
    """The ``httpx.TimeoutException`` that ``exc`` is or was raised from, if any: chromadb
    re-raises one as a ``ValueError`` while it builds its client."""
    import httpx

    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        if isinstance(error, httpx.TimeoutException):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def _check_answering(url: str, headers: Mapping[str, str]) -> None:
    """Raise TimeoutError if the server at ``url`` does not answer its heartbeat in time.

    A quick, clear first check: a server that is not there at all fails here, before
    chromadb builds anything. Any other failure is left to the client, which reports it as
    it always has. (The client's own requests are bounded too: :func:`_bounded_sessions`.)
    """
    import httpx

    try:
        # with the client's headers: a server that wants the token wants it on every request
        httpx.get(f"{url}/api/v2/heartbeat", headers=dict(headers), timeout=_server_timeout())
    except httpx.TimeoutException as exc:
        raise _not_answering(url, exc) from exc
    except httpx.HTTPError:
        pass


#: The store copies this process's readers read, for the fork handler below. Weak: a copy
#: freed in this process is removed by its finalizer, as before.
_copies: weakref.WeakSet[StoreCopy] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A forked child never removes its parent's store copies: a child that let go of an
    inherited reader (``close()``, the plugin's own fork handler dropping it) freed the copy,
    whose finalizer deleted the folder the parent was still reading."""
    try:
        for copy in list(_copies):
            remover = getattr(copy, "_remover", None)
            if remover is not None:
                remover.detach()
    except Exception:  # noqa: BLE001 - a fork handler must not fail the host's fork
        pass


if hasattr(os, "register_at_fork"):  # not on Windows, where nothing forks
    os.register_at_fork(after_in_child=_after_fork_in_child)

#: Set on the thread that builds a chromadb ``HttpClient`` in :func:`open_memory`, for as
#: long as it builds it: the timeouts its HTTP sessions get from birth.
_session_scope = threading.local()
_wrap_lock = threading.Lock()


def _wrap_session_birth() -> None:
    """Wrap chromadb's ``FastAPI.__init__`` (once per process) so that a session it makes
    inside :func:`_bounded_sessions` is bounded before its first request.

    ``chromadb.HttpClient`` talks to the server while it is built, with ``timeout=None``:
    chromadb 1.5.9 sends ``GET /api/v2/auth/identity``, then ``/api/v2/tenants/<tenant>``
    and ``/api/v2/tenants/<tenant>/databases/<database>`` through an internal admin client
    that has a session of its own -- all before :func:`_bound_waits` can reach the client's
    session, and the admin's never. A server that answered the heartbeat and then hung held
    ``open_memory`` forever. chromadb has no timeout setting and no hook between making a
    session and using it, hence the wrapper; outside the scope (any other thread, the
    host's own clients) it changes nothing.
    """
    from chromadb.api.fastapi import FastAPI

    with _wrap_lock:
        original = FastAPI.__init__
        if getattr(original, "_foundups_bounded", False):
            return

        @functools.wraps(original)
        def init(self: Any, system: Any) -> None:
            original(self, system)
            timeout = getattr(_session_scope, "timeout", None)
            if timeout is not None:
                _set_timeout(getattr(self, "_session", None), timeout)

        setattr(init, "_foundups_bounded", True)  # noqa: B010 - a function attribute
        setattr(FastAPI, "__init__", init)  # noqa: B010 - mypy refuses a method assignment


def _set_timeout(session: Any, timeout: Any) -> bool:
    """Bound an httpx session chromadb made; False (logged) if it is not one."""
    import httpx

    if isinstance(session, httpx.Client):
        session.timeout = timeout
        return True
    log.warning("cannot bound the HTTP timeouts of a chroma client (its session moved)")
    return False


@contextlib.contextmanager
def _bounded_sessions() -> Iterator[None]:
    """Within: every chromadb HTTP session this thread makes runs under
    :func:`_server_timeout` from its first request (see :func:`_wrap_session_birth`)."""
    _wrap_session_birth()
    _session_scope.timeout = _server_timeout()
    try:
        yield
    finally:
        _session_scope.timeout = None


def _bound_waits(client: ClientAPI, url: str) -> None:
    """Give the client's HTTP session finite timeouts (:func:`_server_timeout`).

    chromadb 1.5.9 keeps it in a private attribute, ``client._server._session`` (an
    ``httpx.Client(timeout=None)``); tests pin that, so a chromadb that moves it fails
    there. Here it only warns: the store still works, without the bound.
    """
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = _server_timeout()
    else:
        log.warning("cannot bound the HTTP timeouts of the chroma client for %s", url)


def open_memory(settings: Settings, read_only: bool = False) -> PatternMemory:
    """Open the pattern memory the settings describe.

    Embedded (``PersistentClient`` under ``settings.chroma_dir``) unless
    ``settings.chroma_url`` names a Chroma server (``HttpClient``, with
    ``settings.chroma_token`` sent as a bearer token). Opening the embedded store for writing
    takes the one-writer lock (:class:`StoreLocked` if another process has it);
    ``read_only=True`` takes no lock, and reads a store this process cannot write from a
    temporary copy (:class:`StoreCopy`: chromadb cannot open a store without writing to it).
    A store opened for writing replays, in the background, what an earlier run left in the
    journal (:meth:`PatternMemory.replay_journal`).
    """
    import chromadb

    # Importing registers the embedding function before any collection is opened.
    from . import embedding as _embedding  # noqa: F401

    if settings.chroma_url:
        url = urlsplit(settings.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(
                f"chroma_url must be http(s)://host[:port], got {settings.chroma_url!r}"
            )
        ssl = url.scheme == "https"
        headers: dict[str, str] = {}
        if settings.chroma_token:
            # Both common transports: a bearer token, and Chroma's own token header.
            headers["Authorization"] = f"Bearer {settings.chroma_token}"
            headers["X-Chroma-Token"] = settings.chroma_token
        safe_url = f"{url.scheme}://{url.hostname}:{url.port or (443 if ssl else 8000)}"
        _check_answering(safe_url, headers)
        try:
            with _bounded_sessions():
                client = chromadb.HttpClient(
                    host=url.hostname,
                    port=url.port or (443 if ssl else 8000),
                    ssl=ssl,
                    headers=headers or None,
                    settings=_chroma_settings(),
                )
        except Exception as exc:
            timeout = _timeout_in(exc)
            if timeout is None:
                raise
            raise _not_answering(safe_url, timeout) from exc
        _bound_waits(client, safe_url)
        memory = PatternMemory(client, settings=settings, read_only=read_only, location=safe_url)
        return _replaying(memory)

    path = Path(settings.chroma_dir)
    if read_only:
        store_copy = StoreCopy(path)

        def connect() -> ClientAPI | None:
            # Reading never creates the store (``status`` on a fresh machine writes nothing).
            if not (path / SQLITE_FILE).is_file():
                return None
            if writable_store(path):
                try:
                    return chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
                except Exception as exc:
                    if not refused_write(exc):
                        raise
            # chromadb cannot open what it cannot write: read a private copy instead
            return chromadb.PersistentClient(
                path=str(store_copy.make()), settings=_chroma_settings()
            )

        return PatternMemory(
            connect(),
            connect=connect,
            settings=settings,
            read_only=True,
            location=str(path),
            store_copy=store_copy,
        )
    lock = WriterLock(path.with_name(path.name + ".lock")).acquire()
    try:
        path.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
    except BaseException:
        lock.release()
        raise
    return _replaying(PatternMemory(client, settings=settings, lock=lock, location=str(path)))


def _replaying(memory: PatternMemory) -> PatternMemory:
    """A memory opened for writing, its journal (if any) being replayed in the background.

    Without this a journal waited for the next *failed* write to start the writer, which on
    a healthy store never came: spilled patterns stayed on disk, unstored, indefinitely.
    """
    if not memory.read_only:
        try:
            memory.replay_journal()
        except Exception as exc:  # noqa: BLE001 - the journal stays; opening must not fail
            log.warning("could not start replaying the journal in %s: %s: %s",
                        memory.settings.journal_dir, type(exc).__name__, exc)  # fmt: skip
    return memory
