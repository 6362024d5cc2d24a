"""Registering a plugin finds its hooks without running anything else of it.

pluggy before 1.7 read every attribute of a plugin with ``getattr`` while looking for hook
implementations, so registering :class:`TrainingPlugin` ran its ``live`` and ``trainer``
properties: the whole trainer (store, embedding model) was built on the registering thread,
and a bad setting raised out of ``register``. ``pyproject.toml`` allows ``pluggy>=1.5``, so
:class:`IsolatingPluginManager` does its own static discovery; on pluggy 1.5 these tests
fail without it (run with pluggy 1.5.0 first on ``PYTHONPATH``), on 1.7 pluggy agrees.
"""

from __future__ import annotations

import types
from typing import Any

from foundups_training.hookspecs import hookimpl

from foundups_training.plugins import IsolatingPluginManager
from foundups_training.records import Decision


class Touchy:
    """A plugin whose properties must never run at registration."""

    def __init__(self) -> None:
        self.read: list[str] = []
        self.seen: list[Decision] = []

    @property
    def expensive(self) -> object:
        self.read.append("expensive")
        raise RuntimeError("built at registration")

    @hookimpl
    def on_decision(self, decision: Decision) -> None:
        self.seen.append(decision)

    @staticmethod
    @hookimpl
    def on_query(query: Any) -> None:
        return None

    @classmethod
    @hookimpl
    def on_idle(cls, budget: Any) -> None:
        return None


def _decision() -> Decision:
    return Decision(id="d1", source="test", action="allow", subject="hello")


def test_registration_reads_no_property_and_finds_every_kind_of_hook() -> None:
    pm = IsolatingPluginManager()
    plugin = Touchy()
    pm.register(plugin, name="touchy")
    assert plugin.read == []
    names = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
    assert names == ["on_decision", "on_idle", "on_query"]
    pm.call_safely("on_decision", decision=_decision())
    assert len(plugin.seen) == 1


def test_a_module_plugin_and_a_plain_attribute_are_read_statically() -> None:
    calls: list[Decision] = []

    @hookimpl
    def on_decision(decision: Decision) -> None:
        calls.append(decision)

    module = types.ModuleType("a_plugin_module")
    module.on_decision = on_decision  # type: ignore[attr-defined]
    module.not_a_hook = 42  # type: ignore[attr-defined]
    pm = IsolatingPluginManager()
    pm.register(module, name="module")
    pm.call_safely("on_decision", decision=_decision())
    assert len(calls) == 1
    assert pm.parse_hookimpl_opts(module, "not_a_hook") is None
    assert pm.parse_hookimpl_opts(module, "missing") is None
