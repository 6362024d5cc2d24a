"""Consolidation: many observations of one situation become one pattern with counts.

Patterns with the same id (same kind, module, template key and decision) are merged with
the memory's own upsert rule, so merging here first and in the store later gives the same
result as storing each observation: ``seen`` adds up, ``first_seen``/``last_seen`` widen, a
later non-empty outcome replaces an earlier one, the first context is kept, and so are the
first few distinct concrete instances (``variants``) with how often each was seen
(``tally``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from foundups_training.records import MAX_VARIANTS, Pattern, Variant, merge_instances


def merge(old: Pattern, new: Pattern) -> Pattern:
    """``old`` and ``new`` (same id) as one pattern: the store's merge rule."""
    first = min((t for t in (old.first_seen, new.first_seen) if t), default="")
    last = max((t for t in (old.last_seen, new.last_seen) if t), default="")
    variants, tally = merge_instances(old.variants, old.tally, new.variants, new.tally)
    return replace(
        old,
        seen=old.seen + new.seen,
        first_seen=first,
        last_seen=last,
        timestamp=new.timestamp or old.timestamp,
        outcome=new.outcome or old.outcome,
        verified=old.verified or new.verified,
        code_ref=old.code_ref or new.code_ref,
        variants=variants,
        tally=tally,
    )


class _Acc:
    """Running counts of one id (cheaper than building a merged Pattern per observation)."""

    __slots__ = ("first", "last", "latest", "outcome", "seen", "tally", "variants")

    def __init__(self) -> None:
        self.seen = 0
        self.first = ""
        self.last = ""
        self.outcome = ""
        self.latest = ""  # the timestamp of the latest observation in file order
        self.variants: tuple[Variant, ...] = ()
        self.tally: tuple[int, ...] = ()

    def add(
        self,
        seen: int,
        first: str,
        last: str,
        outcome: str,
        latest: str,
        variants: tuple[Variant, ...] = (),
        tally: tuple[int, ...] = (),
    ) -> None:
        self.seen += seen
        if variants:
            self.variants, self.tally = merge_instances(self.variants, self.tally, variants, tally)

        if latest:
            # the store keeps the incoming (newest-written) timestamp, not the maximum: a log
            # whose clock stepped back must give the same result in one pass or in chunks
            self.latest = latest
        if first and (not self.first or first < self.first):
            self.first = first
        if last and last > self.last:
            self.last = last
        if outcome:
            self.outcome = outcome

    def count(self, variant: Variant) -> None:
        """One more occurrence of ``variant``: :func:`merge_instances` of one instance seen
        once, without rebuilding the instances when it is kept already (the common case)."""
        situation, decision = variant[0], variant[1]
        for i, kept in enumerate(self.variants):
            if kept[0] == situation and kept[1] == decision:
                tally = self.tally
                if len(tally) == len(self.variants):
                    self.tally = (*tally[:i], tally[i] + 1, *tally[i + 1 :])
                return
        self.variants, self.tally = merge_instances(self.variants, self.tally, (variant,), (1,))


class Consolidator:
    """Accumulates patterns by id, in first-seen order."""

    def __init__(self) -> None:
        self._base: dict[str, Pattern] = {}
        self._acc: dict[str, _Acc] = {}

    def add(self, pattern: Pattern) -> None:
        """Merge one observation (the first one of an id gives its context)."""
        acc = self._acc.get(pattern.id)
        if acc is None:
            self._base[pattern.id] = pattern
            acc = self._acc[pattern.id] = _Acc()
        acc.add(
            pattern.seen,
            pattern.first_seen,
            pattern.last_seen,
            pattern.outcome,
            pattern.timestamp,
            pattern.variants,
            pattern.tally,
        )
        base = self._base[pattern.id]  # a later observation may bring what the first lacked
        if (pattern.verified and not base.verified) or (pattern.code_ref and not base.code_ref):
            self._base[pattern.id] = replace(
                base,
                verified=base.verified or pattern.verified,
                code_ref=base.code_ref or pattern.code_ref,
            )

    def add_all(self, patterns: Iterable[Pattern]) -> None:
        """Merge several observations."""
        for p in patterns:
            self.add(p)

    def observe(
        self, pattern_id: str, timestamp: str, outcome: str = "", variant: Variant | None = None
    ) -> bool:
        """One more observation of a known id; False when the id is not known yet."""
        acc = self._acc.get(pattern_id)
        if acc is None:
            return False
        acc.add(1, timestamp, timestamp, outcome, timestamp)
        if variant:
            acc.count(variant)
        return True

    def takes_variants(self, pattern_id: str) -> bool:
        """Whether an instance of ``pattern_id`` could still be kept (saves building one)."""
        acc = self._acc.get(pattern_id)
        return acc is None or len(acc.variants) < MAX_VARIANTS

    def bump(self, pattern: Pattern, timestamp: str, variant: Variant | None = None) -> None:
        """One more observation of ``pattern`` (built once, counted many times)."""
        acc = self._acc.get(pattern.id)
        if acc is not None:  # inlined observe(): this runs for nearly every line
            acc.seen += 1
            if variant is not None and len(acc.variants) < MAX_VARIANTS:
                acc.count(variant)
            if timestamp:
                if not acc.first or timestamp < acc.first:
                    acc.first = timestamp
                if timestamp > acc.last:
                    acc.last = timestamp
                acc.latest = timestamp
            return
        if not self.observe(pattern.id, timestamp, variant=variant):
            self.add(
                replace(
                    pattern,
                    first_seen=timestamp,
                    last_seen=timestamp,
                    timestamp=timestamp,
                    variants=(variant,) if variant is not None else (),
                    tally=(1,) if variant is not None else (),
                )
            )

    def patterns(self) -> list[Pattern]:
        """The consolidated patterns, first-seen order."""
        out = []
        for pid, base in self._base.items():
            acc = self._acc[pid]
            out.append(
                replace(
                    base,
                    seen=acc.seen,
                    first_seen=acc.first,
                    last_seen=acc.last,
                    timestamp=acc.latest or base.timestamp,
                    outcome=acc.outcome,
                    variants=acc.variants,
                    tally=acc.tally,
                )
            )
        return out

    def clear(self) -> None:
        """Forget everything (after a successful upsert)."""
        self._base.clear()
        self._acc.clear()

    def __contains__(self, pattern_id: object) -> bool:
        return pattern_id in self._acc

    def __len__(self) -> int:
        return len(self._acc)
