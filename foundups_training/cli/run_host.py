"""`foundups-training run-host PATH/TO/main.py [ARGS...]`: the host, with the plugin attached."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from foundups_training.cli import CliError


def run(args: argparse.Namespace, settings: Any) -> int:
    """Run the host's main.py after activating the adapters; exits with the host's status.

    Arguments after MAIN_PY go to the host (``--train`` opens this plugin's training menu).
    """
    import os

    from foundups_training.launcher import HostNotFound, run_host

    # The plugin inside the host reads its settings from the environment: pass the flags on.
    # The launcher makes them, and every relative path setting of the environment, absolute
    # before the host's folder becomes the working directory: ``--data-dir data`` names the
    # folder where the operator typed it.
    for flag, variable in (("data_dir", "HOME"), ("config_file", "CONFIG")):
        given = getattr(args, flag, None)
        if given:
            os.environ[f"FOUNDUPS_TRAINING_{variable}"] = str(given)
    main_py = Path(args.main_py).expanduser()
    if main_py.is_dir():  # the launcher would say "no such file": say what it is instead
        raise CliError(
            f"{main_py} is a directory; give the host's main.py (e.g. {main_py / 'main.py'})"
        )
    host_args = list(args.host_args or [])
    if host_args[:1] == ["--"]:
        host_args = host_args[1:]
    try:
        return run_host(args.main_py, host_args, settings)
    except HostNotFound as exc:
        raise CliError(str(exc)) from None
