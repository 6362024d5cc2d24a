"""Mining: the operational log and the host's code into verified patterns.

A file per stage: ``reader`` (bytes → lines, bounded memory), ``checkpoint`` (offset +
fingerprint, atomic), ``parser`` (lines → records), ``redact`` (secrets out), ``templates``
(Drain-style masks), ``extractors`` (the five pattern kinds), ``consolidate`` (counts, not
copies), ``host_index`` (the code index and the verifier), ``miner`` (one run, end to end).

Public surface: :func:`mine_log`, :func:`index_host`, :class:`MineReport`,
:class:`IndexReport`.
"""

from __future__ import annotations

from foundups_training.mining.host_index import IndexReport, Verifier, index_host
from foundups_training.mining.miner import MineReport, extract_patterns, mine_log

__all__ = ["IndexReport", "MineReport", "Verifier", "extract_patterns", "index_host", "mine_log"]
