"""``foundups-training plugins``: the plugins found through the entry-point group."""

from __future__ import annotations

import argparse

from foundups_training.cli import emit, hand_to_plugins
from foundups_training.config import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    """List registered plugins and any that failed to load."""
    from foundups_training import plugins

    hand_to_plugins(settings)  # the config file's plugins_allow / plugins_deny count too
    names = plugins.plugin_names()
    errors = [{"plugin": n, "error": e} for n, e in plugins.load_errors]
    lines = [f"registered: {', '.join(names) or '(none)'}"]
    lines += [f"failed    : {e['plugin']}: {e['error']}" for e in errors]
    emit(args, {"plugins": names, "errors": errors}, "\n".join(lines))
    return 0
