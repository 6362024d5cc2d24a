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

    # The plugin inside the host reads its settings from the environment: pass the flags on,
    # as absolute paths. The host runs in its own folder, where a relative one (``--data-dir
    # data``, typed where the operator stands) would name another data directory.
    for flag, variable in (("data_dir", "HOME"), ("config_file", "CONFIG")):
        name = f"FOUNDUPS_TRAINING_{variable}"
        given = getattr(args, flag, None) or os.environ.get(name)
        if given:
            os.environ[name] = os.path.abspath(os.path.expanduser(str(given)))
    main_py = Path(args.main_py).expanduser()
    if main_py.is_dir():  # the launcher would say "no such file": say what it is instead
        raise CliError(
            f"{main_py} is a directory; give the host's main.py (e.g. {main_py / 'main.py'})"
        )
    host_args = list(args.host_args or [])
    if host_args[:1] == ["--"]:
        host_args = host_args[1:]
    try:
        return run_host(args.main_py, host_args)
    except HostNotFound as exc:
        raise CliError(str(exc)) from None
