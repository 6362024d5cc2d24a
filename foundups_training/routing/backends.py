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
        name = path.stem
        if tier == "gemma" and settings.gemma_weights == "f16":
            from foundups_training.models.widen import widened

            # The pinned shipped Gemma only; the answer still names the model it is.
            path = widened(path, settings.models_cache_dir, n_threads=settings.n_threads)
        return shared_model(path, name=name, n_ctx=N_CTX[tier], n_threads=settings.n_threads or 0)

    return build
