"""Pattern memory: ChromaDB that works offline, embedded or shared through a Chroma server.

``open_memory(settings)`` gives a :class:`PatternMemory`; the live path writes through its
:meth:`~PatternMemory.writer` (a :class:`BackgroundWriter`). Importing this package is
cheap: chromadb and onnxruntime load when a memory is opened.
"""

from __future__ import annotations

from .lock import StoreLocked
from .store import PartialWrite, PatternMemory, ReadOnlyMemory, merge, open_memory
from .writer import BackgroundWriter

__all__ = [
    "BackgroundWriter",
    "PartialWrite",
    "PatternMemory",
    "ReadOnlyMemory",
    "StoreLocked",
    "merge",
    "open_memory",
]
