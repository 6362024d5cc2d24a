"""Build a tier's backend from the settings: a model server URL, else the local GGUF."""

from __future__ import annotations

from collections.abc import Callable

from foundups_training.config import Settings
from foundups_training.models.base import Backend

#: Context sizes: Gemma's prompts are short; Qwen's carry a few patterns as turns.
N_CTX = {"gemma": 1024, "qwen": 2048}


def backend_factory(tier: str, settings: Settings) -> Callable[[], Backend]:
    """A zero-argument factory (the router calls it on first use, not at construction)."""
    url = settings.gemma_url if tier == "gemma" else settings.qwen_url

    def build() -> Backend:
        if url:
            from foundups_training.models.http import HttpModel

            configured = settings.gemma_model if tier == "gemma" else settings.qwen_model
            # With a server, the configured "model" is the server-side model name.
            return HttpModel(url, model=configured, name=f"{tier}@{url}")
        from foundups_training.models.llama import shared_model
        from foundups_training.models.locator import locate

        path = locate(tier, settings)
        return shared_model(
            path, name=path.stem, n_ctx=N_CTX[tier], n_threads=settings.n_threads or 0
        )

    return build
