"""The sha256 of a file, read in 1 MiB blocks (model files are checked against pinned ones)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO


def sha256_file(path: Path) -> str:
    """Hex sha256 of the file's content; ``OSError`` if it cannot be read."""
    with path.open("rb") as fh:
        return sha256_stream(fh)


def sha256_stream(fh: BinaryIO) -> str:
    """Hex sha256 of what ``fh`` holds from where it stands to its end."""
    digest = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()
