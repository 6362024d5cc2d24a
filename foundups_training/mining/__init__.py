"""Mining: the operational log and the host's code into verified patterns.

A file per stage: ``reader`` (bytes → lines, bounded memory), ``checkpoint`` (offset +
fingerprint, atomic), ``parser`` (lines → records), ``redact`` (secrets out), ``templates``
(Drain-style masks), ``extractors`` (the five pattern kinds), ``consolidate`` (counts, not
copies), ``host_index`` (the code index and the verifier), ``miner`` (one run, end to end).

Public surface: :func:`mine_log`, :func:`index_host`, :class:`MineReport`,
:class:`IndexReport`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from foundups_training.mining.host_index import IndexReport, Verifier, index_host
    from foundups_training.mining.miner import MineReport, extract_patterns, mine_log

__all__ = ["IndexReport", "MineReport", "Verifier", "extract_patterns", "index_host", "mine_log"]

#: Where each public name lives. Imported on first use, so that ``mining.redact`` (which
#: the live path and the telemetry writer use on a host's thread) does not bring the whole
#: miner with it.
_HOMES = {
    "IndexReport": "host_index",
    "Verifier": "host_index",
    "index_host": "host_index",
    "MineReport": "miner",
    "extract_patterns": "miner",
    "mine_log": "miner",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{home}"), name)
