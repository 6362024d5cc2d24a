"""Run the host's ``main.py`` with the plugin attached, without editing one line of it.

``foundups-training run-host PATH/TO/main.py [ARGS...]`` activates the adapters
(:mod:`foundups_training.auto`), then runs ``main.py`` the way ``python main.py`` would: its
folder is the working directory and first on ``sys.path`` (the host imports
``modules.<domain>...`` from its root), ``__name__ == "__main__"``, ``sys.argv`` is the host's.
Flags the host does not know but this plugin offers (``--train``) are translated first, since
the host's argparse rejects unknown flags.
"""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path


class HostNotFound(FileNotFoundError):
    """The path given is not the host's main.py."""


def host_argv(main_py: Path, args: Sequence[str]) -> list[str]:
    """``sys.argv`` for the host: its script path, then its (translated) arguments."""
    from foundups_training.adapters.menu import translate_host_args

    return [str(main_py), *translate_host_args(list(args))]


def run_host(main_py: str | os.PathLike[str], args: Sequence[str] = ()) -> int:
    """Activate the plugin and run the host's main.py; returns its exit status."""
    path = Path(main_py).expanduser().resolve()
    if not path.is_file():
        raise HostNotFound(f"{main_py}: no such file (expected the host's main.py)")
    root = path.parent
    # The host's tree defaults to its folder (the log, 012.txt, to its working directory).
    set_root = "FOUNDUPS_TRAINING_HOST_ROOT" not in os.environ
    if set_root:
        os.environ["FOUNDUPS_TRAINING_HOST_ROOT"] = str(root)

    import foundups_training.auto as auto

    auto.activate()  # idempotent: the import above already did it unless it was imported before

    saved_argv, saved_path, saved_cwd = list(sys.argv), list(sys.path), os.getcwd()
    sys.argv = host_argv(path, args)
    sys.path.insert(0, str(root))
    os.chdir(root)
    try:
        runpy.run_path(str(path), run_name="__main__")
        return 0
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    finally:
        auto.flush_live()
        sys.argv, sys.path[:] = saved_argv, saved_path
        os.chdir(saved_cwd)
        if set_root:
            os.environ.pop("FOUNDUPS_TRAINING_HOST_ROOT", None)
