"""Settings: defaults, then an optional TOML file, then environment variables, then CLI flags.

No drive letters or machine paths live here: the data directory defaults to the platform's
user-data directory (``platformdirs``), and every path can be overridden.

Environment variables (all optional):

========================================  ==================================================
``FOUNDUPS_TRAINING_HOME``                data directory (Chroma store, checkpoint, metrics)
``FOUNDUPS_TRAINING_CONFIG``              TOML file (default: ``<data dir>/config.toml``)
``FOUNDUPS_TRAINING_LOG``                 the operational log to mine (default ``012.txt``)
``FOUNDUPS_TRAINING_HOST_ROOT``           the host's source tree (default: working dir)
``FOUNDUPS_TRAINING_GEMMA_MODEL``         Gemma GGUF path (else the host's variables)
``FOUNDUPS_TRAINING_QWEN_MODEL``          Qwen GGUF path (else the host's variables)
``FOUNDUPS_TRAINING_MODELS_DIR``          where shipped models are assembled (default: the
                                          user cache folder, shared by all data directories)
``FOUNDUPS_TRAINING_CHROMA_URL``          use a Chroma server instead of the embedded store
``FOUNDUPS_TRAINING_CHROMA_TOKEN``        auth token for that server
``FOUNDUPS_TRAINING_QWEN_URL``            OpenAI-compatible server for the Qwen tier
``FOUNDUPS_TRAINING_GEMMA_URL``           OpenAI-compatible server for the Gemma tier
``FOUNDUPS_TRAINING_THRESHOLD``           escalation threshold (default 0.7)
``FOUNDUPS_TRAINING_PLUGINS``             allow-list of plugin names (comma separated)
``FOUNDUPS_TRAINING_DISABLE``             deny-list of plugin names (comma separated)
========================================  ==================================================

Those are the common ones; every setting has its variable (``FOUNDUPS_TRAINING_THREADS``,
``…_IDLE_MINUTES``, ``…_FAST_PATH_SIMILARITY`` …): docs/operations.md lists them all.

The host's own model variables (``LOCAL_MODEL_TRIAGE_PATH``, ``LOCAL_MODEL_CODE_PATH``,
``HOLO_GEMMA_MODEL``, ``HOLO_QWEN_MODEL`` …) are honoured by the model locator.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path, PureWindowsPath
from typing import Any
from urllib.parse import urlsplit

APP_NAME = "foundups-training"

ENV_PREFIX = "FOUNDUPS_TRAINING_"


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which setting and why."""


def default_data_dir() -> Path:
    """The platform's user-data directory for this application."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_models_dir() -> Path:
    """Where shipped models are assembled: the user cache folder, one copy per machine user."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)) / "models"


#: ``gemma_weights``: the shipped Gemma widened to F16 (models/widen.py), or as shipped.
GEMMA_WEIGHTS = ("f16", "shipped")


@dataclass(frozen=True)
class Settings:
    """Everything configurable, resolved. Build with :func:`load_settings`."""

    data_dir: Path
    log_path: Path = Path("012.txt")
    host_root: Path = Path(".")
    gemma_model: str = ""
    qwen_model: str = ""
    gemma_weights: str = "f16"  # or "shipped": see models/widen.py
    models_dir: Path | None = None
    gemma_url: str = ""
    qwen_url: str = ""
    chroma_url: str = ""
    chroma_token: str = ""
    collection: str = "patterns"
    threshold: float = 0.7
    fast_path_similarity: float = 0.9
    n_threads: int = 0  # 0: let the backend choose
    idle_minutes: float = 5.0
    idle_max_cpu: float = 30.0
    idle_max_lines: int = 5000
    idle_max_seconds: float = 60.0
    plugins_allow: tuple[str, ...] = ()
    plugins_deny: tuple[str, ...] = ()
    config_file: Path | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    # Paths inside the data directory: one place decides the layout.
    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def checkpoint_path(self) -> Path:
        return self.data_dir / "checkpoint.json"

    @property
    def commands_checkpoint_path(self) -> Path:
        return self.data_dir / "telemetry_checkpoint.json"

    @property
    def metrics_path(self) -> Path:
        return self.data_dir / "metrics.sqlite3"

    @property
    def telemetry_dir(self) -> Path:
        return self.data_dir / "telemetry"

    @property
    def journal_dir(self) -> Path:
        return self.data_dir / "journal"

    @property
    def models_cache_dir(self) -> Path:
        """Assembled models: shared by every data directory (a model is ~1 GB)."""
        return self.models_dir if self.models_dir is not None else default_models_dir()

    @property
    def legacy_models_dir(self) -> Path:
        """Where earlier builds assembled models (one copy per data directory); still read."""
        return self.data_dir / "models"

    @property
    def calibration_path(self) -> Path:
        return self.data_dir / "calibration.json"

    def ensure_data_dir(self) -> Path:
        """Create the data directory if needed and return it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir


#: A file the demo leaves in its own data directory (``<data dir>/demo``). Settings loaded
#: for a directory holding it use its embedded store, whatever ``chroma_url`` says: the
#: demo's closing hint opens that directory with ``--data-dir``, and with a Chroma server
#: configured its menu would otherwise show, and its "clear" empty, the operator's real
#: collection on that server.
DEMO_MARK = ".foundups-training-demo"

_PATH_FIELDS = {"data_dir", "log_path", "host_root", "config_file", "models_dir"}
_ENV_FIELDS = {
    "HOME": "data_dir",
    "LOG": "log_path",
    "HOST_ROOT": "host_root",
    "GEMMA_MODEL": "gemma_model",
    "QWEN_MODEL": "qwen_model",
    "GEMMA_WEIGHTS": "gemma_weights",
    "MODELS_DIR": "models_dir",
    "GEMMA_URL": "gemma_url",
    "QWEN_URL": "qwen_url",
    "CHROMA_URL": "chroma_url",
    "CHROMA_TOKEN": "chroma_token",
    "COLLECTION": "collection",
    "THRESHOLD": "threshold",
    "FAST_PATH_SIMILARITY": "fast_path_similarity",
    "THREADS": "n_threads",
    "IDLE_MINUTES": "idle_minutes",
    "IDLE_MAX_CPU": "idle_max_cpu",
    "IDLE_MAX_LINES": "idle_max_lines",
    "IDLE_MAX_SECONDS": "idle_max_seconds",
    "PLUGINS": "plugins_allow",
    "DISABLE": "plugins_deny",
}


#: Settings the TOML file cannot hold: the data directory is chosen before the file is read
#: (the file itself usually lives in it), and the file cannot name another file.
_NOT_IN_FILE = {
    "data_dir": "use --data-dir or FOUNDUPS_TRAINING_HOME",
    "config_file": "use --config or FOUNDUPS_TRAINING_CONFIG",
    "extra": "",
}
#: Tables of the TOML file read by other parts of the package (``Settings.extra``).
_TABLES = ("routing",)

#: The values each number may take (both ends included), and why. Without them a negative
#: budget, an infinite wait or a thread count that overflows llama.cpp's C int was accepted
#: and failed far away (or never: ``idle_minutes = inf`` just never trained). 0 keeps the
#: meaning the adapters give it (no limit on lines or seconds, no wait, no CPU gate at 100).
_RANGES: dict[str, tuple[float, float]] = {
    "threshold": (0.0, 1.0),
    "fast_path_similarity": (0.0, math.inf),  # above 1: the fast path is off
    "n_threads": (0, 1024),
    "idle_minutes": (0.0, 525_600.0),  # a year
    "idle_max_cpu": (0.0, 100.0),
    "idle_max_lines": (0, 10**12),
    "idle_max_seconds": (0.0, 31_536_000.0),  # a year
}


def _coerce(name: str, value: Any) -> Any:
    """Convert a raw value (string from env, TOML value, CLI flag) to the field's type.

    Strict where a lenient conversion would hide a mistake: ``true`` is not a number, 1.5
    lines is not a whole number, ``nan`` is not a threshold, and a TOML list is not a path.
    """
    types = {f.name: f.type for f in fields(Settings)}
    kind = str(types[name])
    try:
        if name in _PATH_FIELDS:
            return _path(value)
        if kind == "float":
            number = _number(value, float)
            if math.isnan(number):
                raise ValueError("not a number")
            if math.isinf(number):
                raise ValueError("not a finite number")
            return _in_range(name, number)
        if kind == "int":
            return _in_range(name, _number(value, int))
        if kind.startswith("tuple"):
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise TypeError("a list of names is expected")
            return tuple(value)
        if not isinstance(value, str | os.PathLike):
            raise TypeError("a string is expected")
        text = os.fspath(value)
        if name == "chroma_url" and text:
            _check_chroma_url(text)
        if name == "gemma_weights":
            if text.strip().lower() not in GEMMA_WEIGHTS:
                raise ValueError(" or ".join(GEMMA_WEIGHTS) + " is expected")
            return text.strip().lower()
        return text
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r}: cannot use {value!r} ({exc})") from None


def path_text(text: str) -> str:
    """The path a setting's text names, without the blanks and the one pair of quotes
    around it that no shell took away: cmd's ``set VAR="C:\\Foundups data"`` and a Docker
    ``--env-file`` keep them in the value, and the path was then a folder whose name began
    with a quote, in whatever the working directory was."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def foreign_windows_path(text: str) -> bool:
    """Whether ``text`` is a Windows path (``O:\\…``, ``O:/…``, ``\\\\server\\share``) on a
    system that is not Windows, where it is a relative path: the data directory became a
    folder literally named ``O:\\Foundups-Agent\\training`` where the host was started, and
    the log a file that is never there."""
    if os.name == "nt" or text.startswith("/"):
        return False
    return bool(PureWindowsPath(text).drive)


def _path(value: Any) -> Path:
    """A path setting: ``~`` and environment variables (``$HOME``, ``%LOCALAPPDATA%`` on
    Windows) expanded, as a shell would have done for a value typed there; the TOML file
    and a service's environment get no shell, nor take quotes away (:func:`path_text`).
    An empty path (which named the working directory), a NUL character (refused by every
    open later), a variable that is not set (expandvars keeps it: a folder named
    ``$UNSET``), a ``~user`` with no home (a RuntimeError from pathlib) and a Windows path
    elsewhere (:func:`foreign_windows_path`) are mistakes."""
    if not isinstance(value, str | os.PathLike):
        raise TypeError("a path (a string) is expected")
    text = os.fspath(value)
    if not isinstance(text, str):
        raise TypeError("a path (a string) is expected")
    if isinstance(value, str):
        text = path_text(text)
    if "\0" in text:
        raise ValueError("a path cannot hold a NUL character")
    unset = unset_variables(text, windows=os.name == "nt")
    if unset:
        if len(unset) == 1:
            raise ValueError(f"the environment variable {unset[0]} is not set")
        raise ValueError(f"the environment variables {', '.join(unset)} are not set")
    text = os.path.expandvars(text)
    if not text.strip():  # after expanding: ``$EMPTY`` named the working directory too
        raise ValueError("a path cannot be empty")
    if foreign_windows_path(text):
        raise ValueError(
            "a Windows path, and this system is not Windows: give the path it has here"
            " (a mount point such as /mnt/o/...)"
        )
    try:
        return Path(text).expanduser()
    except RuntimeError:  # ``~nouser``: pathlib raises where os.path left it as it was
        raise ValueError(f"no home directory is known for {Path(text).parts[0]!r}") from None


#: A reference to an environment variable as os.path.expandvars reads one: ``$name`` and
#: ``${name}`` (posixpath); on Windows (ntpath) also ``%name%``, where ``$$`` and ``%%`` are a
#: literal ``$`` and ``%``, text in single quotes is not expanded, and an unclosed ``%`` or
#: ``${`` leaves the rest as it is. A match with a group holds a name (maybe empty: a bare
#: ``$``); the others are literal text, skipped as ntpath skips them.
_POSIX_REFERENCE = re.compile(r"\$(\w+|\{[^}]*\})", re.ASCII)
_WINDOWS_REFERENCE = re.compile(
    r"'[^']*'?|%%|\$\$|%(?=[^%]*%)([^%]*)%|%.*|\$\{(?=[^}]*\})([^}]*)\}|\$\{.*|\$([\w-]*)",
    re.ASCII | re.DOTALL,
)


def _references(text: str, *, windows: bool) -> list[tuple[str, str]]:
    """Every variable reference in ``text`` as written, with its name, in order."""
    if not windows:
        return [
            (m[0], m[1].removeprefix("{").removesuffix("}"))
            for m in _POSIX_REFERENCE.finditer(text)
        ]
    found = []
    for m in _WINDOWS_REFERENCE.finditer(text):
        name = next((g for g in m.groups() if g is not None), None)
        if name is not None:
            found.append((m[0], name))
    return found


def unset_variables(text: str, *, windows: bool) -> list[str]:
    """The names of the variables ``text`` refers to that are not set: os.path.expandvars
    leaves such a reference as written, and the path then named a folder called ``$UNSET``
    in whatever the working directory was. A bare ``$`` (``c$``, ``$/``) names none."""
    names = (name for _, name in _references(text, windows=windows) if name)
    return list(dict.fromkeys(name for name in names if name not in os.environ))


def _in_range(name: str, number: Any) -> Any:
    """``number`` when it is in the setting's range (see ``_RANGES``)."""
    low, high = _RANGES.get(name, (-math.inf, math.inf))
    if not low <= number <= high:
        if low == 0 and high == 1:
            raise ValueError("must be between 0 and 1")
        if high == math.inf:
            raise ValueError(f"must be at least {low:g}")
        raise ValueError(f"must be from {low:g} to {high:g}")
    return number


def _number(value: Any, kind: type[int] | type[float]) -> Any:
    """``value`` as an int or a float: a number, or a string holding one (the environment's
    values are strings). A bool is refused, and so is a fraction where lines are counted."""
    if isinstance(value, bool):
        raise TypeError("a number is expected, not true/false")
    if isinstance(value, str):
        return kind(value.strip())
    if kind is int and isinstance(value, float):
        if not value.is_integer():
            raise ValueError("a whole number is expected")
        return int(value)
    if not isinstance(value, int | float):
        raise TypeError("a number is expected")
    return kind(value)


def _check_chroma_url(url: str) -> None:
    """Refuse a Chroma URL the client cannot use, when the settings are read rather than
    when the store is first opened: the client takes a scheme, a host and a port, nothing
    else, so a path or a password in the URL would be dropped without a word."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected http(s)://host[:port]")
    try:
        parts.port  # noqa: B018 - parsing the port raises for one that is not a number
    except ValueError as exc:
        raise ValueError(f"expected http(s)://host[:port]: {exc}") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("a Chroma server is named by http(s)://host[:port] alone, no path")
    if parts.username or parts.password:
        raise ValueError("no credentials in the URL: set FOUNDUPS_TRAINING_CHROMA_TOKEN")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    except UnicodeDecodeError as exc:  # tomllib decodes the whole file as UTF-8 first
        raise ConfigError(
            f"config file {path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from None
    # Accept top-level keys, a [foundups_training] table, or both: keys written above the
    # first table header (``threshold = 0.5`` then ``[foundups_training.routing]``) are
    # top-level keys too, and must not be dropped because the table exists.
    table = data.pop("foundups_training", {})
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: [foundups_training] must be a table")
    both = sorted(set(data) & set(table))
    if both:
        raise ConfigError(
            f"config file {path}: {both[0]!r} is set both at the top level and under "
            "[foundups_training]; keep one"
        )
    return {**data, **table}


def _file_settings(path: Path, known: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The settings and the extra tables of the TOML file at ``path``.

    Every key must be a setting or a known table: a typo (``treshold = 0.5``) would
    otherwise leave the default in force without a word.
    """
    from_file: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in _read_toml(path).items():
        if key in _NOT_IN_FILE:
            how = _NOT_IN_FILE[key]
            raise ConfigError(
                f"config file {path}: {key!r} cannot be set in the config file"
                + (f" ({how})" if how else "")
            )
        if key in _TABLES:
            if not isinstance(value, dict):
                raise ConfigError(
                    f"config file {path}: {key!r} must be a table ([foundups_training.{key}])"
                )
            extra[key] = value
        elif key in known:
            try:
                from_file[key] = _coerce(key, value)
            except ConfigError as exc:
                raise ConfigError(f"config file {path}: {exc}") from None
        else:
            names = sorted((known - set(_NOT_IN_FILE)) | set(_TABLES))
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "known: " + ", ".join(names)
            raise ConfigError(f"config file {path}: unknown setting {key!r} ({hint})")
    if "routing" in extra:
        # Checked here, so a bad routing table stops every command with one line, not the
        # first question with a traceback.
        from foundups_training.routing.rules import RoutingRules

        try:
            RoutingRules().updated(extra["routing"])
        except ConfigError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
    return from_file, extra


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings: defaults < TOML file < ``FOUNDUPS_TRAINING_*`` env < ``overrides``.

    ``overrides`` holds CLI flags (``None`` values are ignored).
    """
    env = os.environ if env is None else env
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    known = {f.name for f in fields(Settings)}

    from_env: dict[str, Any] = {}
    for suffix, name in _ENV_FIELDS.items():
        raw = env.get(ENV_PREFIX + suffix)
        if raw not in (None, ""):
            try:
                from_env[name] = _coerce(name, raw)
            except ConfigError as exc:  # name where it came from, as the file's errors do
                raise ConfigError(f"{exc}, from {ENV_PREFIX}{suffix}") from None

    # A flag's path is read as the environment's is (quotes, variables, a Windows path).
    data_dir = (
        _coerce("data_dir", overrides["data_dir"])
        if overrides.get("data_dir")
        else from_env.get("data_dir") or default_data_dir()
    )

    # The file's path is read as the other paths are (variables, ``~``, a Windows path); a
    # blank one still means the default file.
    from_flag = bool(overrides.get("config_file"))
    config_file = overrides["config_file"] if from_flag else env.get(ENV_PREFIX + "CONFIG")
    if isinstance(config_file, str):
        config_file = path_text(config_file)
    if config_file:
        try:
            config_file = _coerce("config_file", config_file)
        except ConfigError as exc:
            raise ConfigError(
                str(exc) if from_flag else f"{exc}, from {ENV_PREFIX}CONFIG"
            ) from None
    config_path = config_file or data_dir / "config.toml"
    from_file: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if config_file or config_path.is_file():
        from_file, extra = _file_settings(config_path, known)

    extra = _env_wins_over_routing_table(extra, {*from_env, *overrides})
    merged: dict[str, Any] = {**from_file, **from_env}
    for key, value in overrides.items():
        if key not in known:
            raise ConfigError(f"unknown setting {key!r}")
        merged[key] = _coerce(key, value)
    merged["data_dir"] = data_dir
    merged["config_file"] = config_path if (config_file or config_path.is_file()) else None
    settings = Settings(**merged, extra=extra) if "extra" not in merged else Settings(**merged)
    if not 0.0 <= settings.threshold <= 1.0:
        raise ConfigError(f"threshold must be between 0 and 1, got {settings.threshold}")
    if settings.chroma_url and is_demo_dir(data_dir):
        settings = replace(settings, chroma_url="", chroma_token="")
    return settings


def is_demo_dir(data_dir: Path) -> bool:
    """Whether ``data_dir`` is the demo's own (it holds :data:`DEMO_MARK`): its store is the
    embedded one, never a configured server's."""
    try:
        return (data_dir / DEMO_MARK).is_file()
    except OSError:  # a folder that cannot be looked into is no demo's
        return False


#: Settings of the top level that the TOML file's ``[routing]`` table may hold as well.
_ROUTING_TOP_LEVEL = ("threshold", "fast_path_similarity")


def _env_wins_over_routing_table(extra: dict[str, Any], given: set[str]) -> dict[str, Any]:
    """``extra`` without the routing table's keys that an environment variable or an
    override gives too (``given``).

    The routing rules apply the ``[routing]`` table over the top-level settings, so a
    ``threshold`` written there outweighed ``FOUNDUPS_TRAINING_THRESHOLD``: the environment
    wins over the file, wherever in the file the key is written.
    """
    routing = extra.get("routing")
    if not isinstance(routing, dict):
        return extra
    drop = {key for key in _ROUTING_TOP_LEVEL if key in routing and key in given}
    if not drop:
        return extra
    return {**extra, "routing": {k: v for k, v in routing.items() if k not in drop}}


def usable_data_dir(settings: Settings) -> Path:
    """The data directory, created if needed, or a ConfigError saying why it cannot be used.

    For a long-lived writer (the training plugin in the host): a data directory that is a
    file, or that this process cannot create or write, otherwise surfaced later as a bare
    ``FileExistsError`` from whichever part opened first, a traceback from the journal, and
    the same again on every idle cycle and question.
    """
    path = settings.data_dir
    how = "set FOUNDUPS_TRAINING_HOME or --data-dir to a folder this process can write"
    if path.exists() and not path.is_dir():
        raise ConfigError(f"the data directory {path} is a file, not a directory ({how})")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"the data directory {path} cannot be created: {exc.strerror or exc} ({how})"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"the data directory {path} is not writable by this process ({how})")
    return path


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    """A copy of ``settings`` with some fields changed (coerced like CLI flags)."""
    return replace(settings, **{k: _coerce(k, v) for k, v in changes.items() if v is not None})
