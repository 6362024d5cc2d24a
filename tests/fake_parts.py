"""Fake model part packages, as the Qwen GGUF ships (``<name>/data/partNN.bin``), for the
locator's tests: small blobs instead of 1.1 GB."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

import pytest

from foundups_training.models.locator import PartsSpec


def fake_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blobs: list[bytes], tag: str, prefix: str
) -> tuple[PartsSpec, bytes]:
    """Packages ``<prefix>_<tag>_partN`` on sys.path, one blob each, their spec and the joined
    bytes. ``prefix`` keeps each test file's packages apart (Python caches imported ones)."""
    names = []
    for i, blob in enumerate(blobs, start=1):
        name = f"{prefix}_{tag}_part{i}"
        data = tmp_path / "site" / name / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        (data / f"part{i:02d}.bin").write_bytes(blob)
        names.append(name)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    whole = b"".join(blobs)
    spec = PartsSpec(f"{tag}.gguf", tuple(names), hashlib.sha256(whole).hexdigest(), len(whole))
    return spec, whole
