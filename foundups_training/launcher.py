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
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path


class HostNotFound(FileNotFoundError):
    """The path given is not the host's main.py."""


def host_argv(main_py: Path, args: Sequence[str]) -> list[str]:
    """``sys.argv`` for the host: its script path, then its (translated) arguments."""
    from foundups_training.adapters.menu import translate_host_args

    return [str(main_py), *translate_host_args(list(args))]


def run_host(main_py: str | os.PathLike[str], args: Sequence[str] = ()) -> int:
    """Activate the plugin and run the host's main.py; returns its exit status.

    As under ``python main.py``, an exception main.py lets out is shown with its traceback
    (through ``sys.excepthook``) and the status is 1. The working directory, ``sys.argv``,
    ``sys.path`` and the environment are put back afterwards, unless a non-daemon thread the
    host started still runs: the process lives on for it, in the host's folder.
    """
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
    before = set(threading.enumerate())
    sys.argv = host_argv(path, args)
    sys.path.insert(0, str(root))
    os.chdir(root)
    restore = True
    try:
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
        except Exception as exc:  # noqa: BLE001 - the host's error, reported as Python would
            # As ``python main.py``: the host's traceback (from its own frames), status 1.
            # Without it the CLI showed one line, without the file and line that raised.
            _print_uncaught(exc, path)
            return 1
        finally:
            # Threads the host started and left running keep the process alive, as they
            # would under ``python main.py``: they must go on seeing the host's working
            # directory, argv and environment, not the launcher's.
            restore = not _host_threads_running(before)
    finally:
        auto.flush_live()
        if restore:
            sys.argv, sys.path[:] = saved_argv, saved_path
            os.chdir(saved_cwd)
            if set_root:
                os.environ.pop("FOUNDUPS_TRAINING_HOST_ROOT", None)


def _host_threads_running(before: set[threading.Thread]) -> bool:
    """Whether a non-daemon thread started while the host ran is still alive."""
    return any(t.is_alive() and not t.daemon for t in threading.enumerate() if t not in before)


def _print_uncaught(exc: BaseException, path: Path) -> None:
    """Report an exception the host's main.py let out the way Python reports it: through
    ``sys.excepthook`` (the host may have set its own), from the host's first frame on."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != str(path):
        tb = tb.tb_next
    exc = exc.with_traceback(tb)  # the hook prints the exception's own traceback
    try:
        sys.excepthook(type(exc), exc, tb)
    except Exception:  # noqa: BLE001 - a broken hook must not hide the host's error
        traceback.print_exception(type(exc), exc, tb)
