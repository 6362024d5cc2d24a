"""Run the host's ``main.py`` with the plugin attached, without editing one line of it.

``foundups-training run-host PATH/TO/main.py [ARGS...]`` activates the adapters
(:mod:`foundups_training.auto`), then runs ``main.py`` the way ``python main.py`` would: its
folder is the working directory and first on ``sys.path`` (the host imports
``modules.<domain>...`` from its root), ``__name__ == "__main__"``, ``sys.argv`` is the host's.
Flags the host does not know but this plugin offers (``--train``) are translated first, since
the host's argparse rejects unknown flags. This plugin's relative path settings are made
absolute first, where the operator typed them (:func:`absolute_operator_paths`).
"""

from __future__ import annotations

import os
import runpy
import sys
import threading
import traceback
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from foundups_training.config import Settings

#: This plugin's path settings (``FOUNDUPS_TRAINING_<NAME>``). The operator gives them
#: relative to where they stand; the plugin reads them inside the host, whose working
#: directory is the host's folder.
PATH_VARIABLES = ("HOME", "CONFIG", "LOG", "HOST_ROOT", "MODELS_DIR")
#: The embedding model's files (read from the environment only: ``~`` is expanded, but not
#: ``$VARIABLES``).
LITERAL_PATH_VARIABLES = ("EMBED_MODEL", "EMBED_TOKENIZER", "EMBED_CACHE")
#: The model settings, a path unless the tier's server is set (then they name the model on
#: that server) or they name a shipped model (``qwen-1.5b``): by tier.
MODEL_VARIABLES = {"gemma": "GEMMA_MODEL", "qwen": "QWEN_MODEL"}


class HostNotFound(FileNotFoundError):
    """The path given is not the host's main.py."""


def host_argv(main_py: Path, args: Sequence[str]) -> list[str]:
    """``sys.argv`` for the host: its script path, then its (translated) arguments."""
    from foundups_training.adapters.menu import translate_host_args

    return [str(main_py), *translate_host_args(list(args))]


def absolute_operator_paths(
    env: MutableMapping[str, str], cwd: str, settings: Settings | None = None
) -> dict[str, str]:
    """Make this plugin's relative path settings in ``env`` absolute against ``cwd``.

    ``run-host`` runs the host in the host's folder, and the plugin inside it (and any
    process the host starts, which inherits the environment) would read ``models``,
    ``data`` or ``qwen.gguf`` there instead of where the operator typed them. ``~`` and
    ``$VARIABLES`` are expanded first where the reader expands them (the settings expand
    both, the embedding's variables only ``~``); absolute values are left as they are. A
    model setting stays as it is when it names a model on the tier's server (``…_GEMMA_URL`` /
    ``…_QWEN_URL``, from the environment or ``settings``) or a shipped model. The host's own
    variables (``LOCAL_MODEL_*``, ``HOLO_*``) are the host's: they are read in its folder,
    as it reads them. Returns the values replaced, by variable, to put back afterwards.
    """
    from foundups_training.config import ENV_PREFIX, foreign_windows_path, path_text

    expanded_names = list(PATH_VARIABLES)
    for tier, name in MODEL_VARIABLES.items():
        if not _names_a_model_not_a_path(tier, env.get(ENV_PREFIX + name, ""), env, settings):
            expanded_names.append(name)
    replaced: dict[str, str] = {}
    for name in [*expanded_names, *LITERAL_PATH_VARIABLES]:
        variable = ENV_PREFIX + name
        given = value = env.get(variable, "")
        if name in PATH_VARIABLES:
            # As the settings read it: without quotes around it (joined to the folder they
            # would be part of the path), and a Windows path elsewhere left for the settings
            # to refuse (``<here>/O:\\data`` would be taken without a word).
            value = path_text(value)
            if foreign_windows_path(os.path.expandvars(value)):
                continue
        if not value.strip():
            continue  # unset, as far as the settings are concerned
        path = os.path.expanduser(value)
        if name in expanded_names:
            path = os.path.expanduser(os.path.expandvars(value))
        if not os.path.isabs(path):
            replaced[variable] = given
            env[variable] = os.path.normpath(os.path.join(cwd, path))
    return replaced


def _names_a_model_not_a_path(
    tier: str, value: str, env: MutableMapping[str, str], settings: Settings | None
) -> bool:
    """Whether a tier's model setting is a name (a server's model, a shipped model)."""
    from foundups_training.config import ENV_PREFIX
    from foundups_training.models.locator import SHIPPED_ALIASES

    if tier == "qwen" and value in SHIPPED_ALIASES:
        return True
    url = env.get(f"{ENV_PREFIX}{tier.upper()}_URL", "") or getattr(settings, f"{tier}_url", "")
    return bool(url)


def run_host(
    main_py: str | os.PathLike[str], args: Sequence[str] = (), settings: Settings | None = None
) -> int:
    """Activate the plugin and run the host's main.py; returns its exit status.

    As under ``python main.py``, an exception main.py lets out is shown with its traceback
    (through ``sys.excepthook``) and the status is 1. The working directory, ``sys.argv``,
    ``sys.path`` and the environment are put back afterwards, unless a non-daemon thread the
    host started still runs: the process lives on for it, in the host's folder. ``settings``
    (the CLI's) say whether a model setting names a server's model; without them they are
    loaded here, if they can be.
    """
    path = Path(main_py).expanduser().resolve()
    if not path.is_file():
        raise HostNotFound(f"{main_py}: no such file (expected the host's main.py)")
    root = path.parent
    if settings is None:
        settings = _settings_if_any()
    # Before the working directory changes: relative paths name places from here.
    made_absolute = absolute_operator_paths(os.environ, os.getcwd(), settings)
    absolute = {name: os.environ[name] for name in made_absolute}
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
            for name, value in made_absolute.items():
                if os.environ.get(name) == absolute[name]:  # unless the host set its own
                    os.environ[name] = value


def _settings_if_any() -> Settings | None:
    """The settings, to tell a server's model name from a path; None when they cannot be
    loaded (the plugin says why, inside the host, as it would without the launcher)."""
    try:
        from foundups_training.config import load_settings

        return load_settings()
    except Exception:  # noqa: BLE001 - only the model servers' URLs were wanted
        return None


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
