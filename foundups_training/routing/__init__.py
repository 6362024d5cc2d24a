"""Routing: the rules, and the Router that picks memory, Gemma or Qwen for each question."""

from __future__ import annotations

from foundups_training.routing.router import Candidate, LazyBackend, Router
from foundups_training.routing.rules import RoutingRules

__all__ = ["Candidate", "LazyBackend", "Router", "RoutingRules"]
