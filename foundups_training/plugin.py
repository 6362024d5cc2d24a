"""The training plugin: this distribution's own implementation of the three hooks.

Registered through the ``foundups_training`` entry-point group, so ``pip install`` is all it
takes. It builds its Trainer lazily from the settings (env / config file), hands live
decisions to a background learner, mines during idle time, and answers queries.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from foundups_training.hookspecs import hookimpl
from foundups_training.records import Answer, Decision, IdleBudget, IdleReport, Query

if TYPE_CHECKING:
    from foundups_training.engine import Trainer
    from foundups_training.live import LiveLearner

log = logging.getLogger(__name__)


class TrainingPlugin:
    """Hook implementations backed by one lazily-built Trainer."""

    def __init__(self, trainer: Trainer | None = None) -> None:
        self._trainer = trainer
        self._live: LiveLearner | None = None
        self._lock = threading.Lock()

    @property
    def trainer(self) -> Trainer:
        """The Trainer, built from the environment's settings on first use."""
        with self._lock:
            if self._trainer is None:
                from foundups_training.config import load_settings
                from foundups_training.engine import Trainer

                self._trainer = Trainer(load_settings())
                # Opening the metrics store is file I/O: keep it off the DAE's thread (the
                # first caller may be a chat message on the host's hot path).
                threading.Thread(
                    target=_observe, args=(self._trainer,), name="foundups-metrics", daemon=True
                ).start()
            return self._trainer

    @property
    def live(self) -> LiveLearner:
        """The background learner that turns decisions into live patterns."""
        trainer = self.trainer
        with self._lock:
            if self._live is None:
                from foundups_training.live import LiveLearner

                self._live = LiveLearner(trainer)
            return self._live

    @hookimpl
    def on_decision(self, decision: Decision) -> None:
        """Queue the decision for the background learner (never blocks, never raises)."""
        try:
            self.live.submit(decision)
        except Exception:
            log.exception("could not queue decision %s", decision.id)

    @hookimpl
    def on_idle(self, budget: IdleBudget) -> IdleReport | None:
        """Mine the next chunk of the configured log within the budget."""
        return self.trainer.idle(budget)

    @hookimpl
    def on_query(self, query: Query) -> Answer | None:
        """Route the query to memory, Gemma or Qwen."""
        return self.trainer.ask(query)

    def close(self) -> None:
        """Flush the live learner and release the trainer's resources."""
        if self._live is not None:
            self._live.close()
        if self._trainer is not None:
            self._trainer.close()


def _observe(trainer: Trainer) -> None:
    """Record this process's answers, patterns and training runs in the metrics store."""
    try:
        from foundups_training.metrics import attach_observers

        attach_observers(trainer)
    except Exception:  # metrics are optional; learning goes on without them
        log.exception("metrics observers could not be attached")


#: The object the entry point names.
plugin = TrainingPlugin()
