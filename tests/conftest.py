"""Shared fixtures: every test gets its own data directory; nothing touches the user's."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from foundups_training.config import Settings, load_settings
from foundups_training.mining import redact as redact_module

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where shipped models are assembled, once per session (FOUNDUPS_TRAINING_TEST_MODELS
    re-uses one folder across runs); never the user's own cache."""
    import os

    shared = os.environ.get("FOUNDUPS_TRAINING_TEST_MODELS")
    return Path(shared) if shared else tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, models_dir: Path
):
    """Point FOUNDUPS_TRAINING_HOME at a fresh folder, the models cache at the session's,
    and clear the plugin env lists."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("FOUNDUPS_TRAINING_HOME", str(home))
    monkeypatch.setenv("FOUNDUPS_TRAINING_MODELS_DIR", str(models_dir))
    monkeypatch.setattr("foundups_training.config.default_models_dir", lambda: models_dir)
    for var in (
        "FOUNDUPS_TRAINING_PLUGINS",
        "FOUNDUPS_TRAINING_DISABLE",
        "FOUNDUPS_TRAINING_CONFIG",
    ):
        monkeypatch.delenv(var, raising=False)
    yield home


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a private data directory and no environment influence."""
    return load_settings({"data_dir": tmp_path / "data"}, env={})


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder copies go to, so a test can see what is left there."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def redacted_lengths(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every text the real ``redact`` is given."""
    lengths: list[int] = []
    real: Callable[[str], str] = redact_module.redact

    def counting(text: str) -> str:
        lengths.append(len(text))
        return real(text)

    monkeypatch.setattr(redact_module, "redact", counting)
    return lengths
