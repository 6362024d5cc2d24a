"""The host's training menu and commands lead to this plugin.

Wrapped (host package ``modules.ai_intelligence.training_system.scripts``):

- ``launch.run_training_system()`` — main menu option 11 and ``--training-menu`` — opens the
  plugin's interactive menu (:func:`foundups_training.menu.run_menu`) on the process's one
  Trainer (the one the live learner writes through: the embedded store has one writer);
- ``training_commands.execute_training_command(command, targets, json_output)`` —
  ``--training-command``: ``batch`` runs one training batch through ``on_idle`` (no idle
  trigger: the operator asked), ``status`` prints what was learned, ``ask`` answers the
  question given as ``--targets``; the host's own commands (``utf8_scan`` …) run unchanged.

Both host functions are broken in the host today (they import a name main.py does not
define), so they are replaced, not observed. If the plugin's side is missing (its menu not
installed) the host's original runs, as it would have without this adapter.

``--train`` is not a host flag: the launcher turns it into ``--training-menu`` before the
host's strict argparse sees it (:func:`translate_host_args`).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from foundups_training.adapters.base import Instrumentor, Target, describe

log = logging.getLogger(__name__)

LAUNCH = "modules.ai_intelligence.training_system.scripts.launch"
COMMANDS = "modules.ai_intelligence.training_system.scripts.training_commands"

#: The plugin's verbs reachable through ``--training-command``.
PLUGIN_COMMANDS = ("batch", "status", "ask")

#: Launcher flags the host's argparse does not know, and what they become.
HOST_FLAG_ALIASES = {"--train": "--training-menu"}


def translate_host_args(args: Sequence[str]) -> list[str]:
    """Map this plugin's launcher flags (``--train``) to the host's own before it parses."""
    out: list[str] = []
    for arg in args:
        mapped = HOST_FLAG_ALIASES.get(arg, arg)
        if mapped in HOST_FLAG_ALIASES.values() and mapped in out:
            continue  # "--train --training-menu" is one request, not two
        out.append(mapped)
    return out


def current_trainer() -> Any:
    """The Trainer of the registered training plugin (one per process: one store writer)."""
    from foundups_training.plugins import get_plugin_manager

    plugin = get_plugin_manager().get_plugin("training")
    trainer = getattr(plugin, "trainer", None)
    if trainer is None:
        from foundups_training.plugin import plugin as default_plugin

        trainer = default_plugin.trainer
    return trainer


def _plugin_menu() -> Callable[..., int] | None:
    try:
        from foundups_training.menu import run_menu  # type: ignore[attr-defined]
    except ImportError:
        return None
    return run_menu  # type: ignore[no-any-return]


def run_batch(json_output: bool = False, out: Any = None) -> dict[str, Any] | None:
    """One training batch through ``on_idle``; prints and returns the host-shaped response."""
    from foundups_training.adapters.idle import run_idle_cycle

    report = run_idle_cycle(check_triggers=False, reason="batch")
    if report is None:
        return None
    response: dict[str, Any] = {
        "command": "batch",
        "status": "ok" if report.success else "error",
        "result": report.as_host_result(),
    }
    out = out or sys.stdout
    if json_output:
        print(json.dumps(response, indent=2, default=str), file=out)
    else:
        r = response["result"]
        line = (
            f"[INFO] Training batch: {r['patterns_stored']} patterns from "
            f"{r['lines_processed']} lines in {r['duration']:.1f}s"
        )
        if "progress" in r:
            line += f" (progress {r['progress']})"
        if "error" in r:
            line += f" — {r['error']}"
        print(line, file=out)
    return response


def _run_status(json_output: bool, out: Any) -> dict[str, Any]:
    status = current_trainer().status()
    response = {"command": "status", "status": "ok", "result": status}
    if json_output:
        print(json.dumps(response, indent=2, default=str), file=out)
    else:
        for key, value in status.items():
            print(f"  {key}: {value}", file=out)
    return response


def _run_ask(question: str, json_output: bool, out: Any) -> dict[str, Any]:
    from foundups_training import bridge
    from foundups_training.records import Query

    bridge.connect()
    answer = bridge.ask(Query(text=question, asked_by="host"), sender="menu")
    result = {
        "text": getattr(answer, "text", ""),
        "tier": getattr(answer, "tier", "none"),
        "confidence": getattr(answer, "confidence", 0.0),
        "error": getattr(answer, "error", "no plugin answered" if answer is None else ""),
    }
    response = {"command": "ask", "status": "ok" if answer else "error", "result": result}
    if json_output:
        print(json.dumps(response, indent=2, default=str), file=out)
    else:
        print(f"[{result['tier']} {result['confidence']:.2f}] {result['text']}", file=out)
    return response


class MenuInstrumentor(Instrumentor):
    """Routes the host's training menu and training commands to this plugin."""

    name = "menu"
    targets = (
        Target(LAUNCH, "run_training_system", "_wrap_menu"),
        Target(COMMANDS, "execute_training_command", "_wrap_command"),
    )

    def _wrap_menu(
        self, wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict
    ) -> Any:
        if not _accepts(wrapped, args, kwargs):
            return wrapped(*args, **kwargs)  # the host's own TypeError, raised by the host
        run_menu = self.observe("menu_import", _plugin_menu)
        trainer = self.observe("menu_trainer", current_trainer) if run_menu else None
        if run_menu is None or trainer is None:
            return wrapped(*args, **kwargs)
        try:
            run_menu(trainer)
        except Exception as exc:  # noqa: BLE001 - back to the host's menu, with one line
            self.record_error("menu", exc)
            print(f"[ERROR] training menu failed: {describe(exc)}", file=sys.stderr)
        return None  # the host's run_training_system returns None

    def _wrap_command(
        self, wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict
    ) -> Any:
        if not _accepts(wrapped, args, kwargs):
            return wrapped(*args, **kwargs)  # the host's own TypeError, raised by the host
        # Reading the host's arguments runs its objects' __str__/__bool__: under observe, so
        # one that raises sends the call to the host's own function, not the error to the host.
        parsed = self.observe("command_args", _command_args, args, kwargs)
        if parsed is None or parsed[0] not in PLUGIN_COMMANDS:
            return wrapped(*args, **kwargs)
        command, targets, json_output = parsed
        out = _Written(sys.stdout)
        try:
            if command == "batch":
                response = run_batch(json_output, out)
            elif command == "status":
                response = _run_status(json_output, out)
            else:
                response = _run_ask(targets, json_output, out)
        except Exception as exc:  # noqa: BLE001 - the host must never see our failures
            self.record_error(command, exc)
            if out.written:
                # The operator has the command's output already: the host's own command
                # would print its answer (or its error) after it, or run the batch again.
                with contextlib.suppress(Exception):  # a closed stderr: counted above
                    said = f"[ERROR] training command {command} failed: {describe(exc)}"
                    print(said, file=sys.stderr)
                return None
            response = None
        if response is None:
            return wrapped(*args, **kwargs)
        return None  # the host's execute_training_command prints and returns None


class _Written:
    """A text stream that remembers whether anything was written through it."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.written = False

    def write(self, text: str) -> int:
        n = self._stream.write(text)
        self.written = self.written or bool(text)
        return int(n or 0)

    def flush(self) -> None:
        self._stream.flush()


def _accepts(function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether the host's ``function`` takes these arguments (True when its signature cannot
    be read). A replaced function must still reject a call the host's own would reject,
    rather than open the plugin's menu for it."""
    try:
        signature = inspect.signature(function)
    except Exception:  # noqa: BLE001 - no signature to check against: let the call through
        return True
    try:
        signature.bind(*args, **kwargs)
    except TypeError:
        return False
    return True


def _command_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str, bool]:
    """(command, targets, json_output) as plain values; may raise on the host's objects."""
    names = ("command", "targets", "json_output")
    values = dict(zip(names, args, strict=False))
    values.update({k: v for k, v in kwargs.items() if k in names})
    targets = values.get("targets")
    return (
        str(values.get("command") or ""),
        "" if targets is None else str(targets),
        bool(values.get("json_output", False)),
    )
