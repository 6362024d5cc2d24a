"""Third review of the path settings: what a shell would have expanded, and did not.

* A path naming an environment variable that is not set (``$UNSET/models``, ``${NOPE}/x``)
  stayed literal: the plugin created and used a folder named ``$UNSET`` in the working
  directory. It is a configuration error that names the setting and the variable.
* A set variable whose value is empty (``$EMPTY``) made the path empty, the working
  directory, which an empty path is refused for.
* ``~nouser/x`` (a user that does not exist) raised a bare RuntimeError from pathlib.
* The config file's own path was expanded on a side road and got none of those checks.
"""

from __future__ import annotations

import ntpath
import posixpath
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from foundups_training import config
from foundups_training.config import ConfigError, load_settings, with_overrides

UNSET = "FOUNDUPS_REVIEW3_UNSET"


@pytest.fixture(autouse=True)
def _variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(UNSET, raising=False)
    monkeypatch.setenv("FOUNDUPS_REVIEW3_SET", str(tmp_path / "set"))
    monkeypatch.setenv("FOUNDUPS_REVIEW3_EMPTY", "")


@pytest.mark.parametrize("written", [f"${UNSET}/models", f"${{{UNSET}}}/x", f"a/${UNSET}"])
@pytest.mark.parametrize(
    ("variable", "setting"),
    [
        ("HOME", "data_dir"),
        ("LOG", "log_path"),
        ("HOST_ROOT", "host_root"),
        ("MODELS_DIR", "models_dir"),
    ],
)
def test_an_unset_variable_in_a_path_from_the_environment_is_an_error(
    tmp_path: Path, written: str, variable: str, setting: str
) -> None:
    env = {"FOUNDUPS_TRAINING_HOME": str(tmp_path), f"FOUNDUPS_TRAINING_{variable}": written}
    with pytest.raises(ConfigError) as err:
        load_settings(env=env)
    message = str(err.value)
    assert f"setting {setting!r}" in message, message
    assert f"{UNSET} is not set" in message, message
    assert f"from FOUNDUPS_TRAINING_{variable}" in message, message


def test_an_unset_variable_in_the_file_or_a_flag_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'log_path = "${UNSET}/012.txt"\n')
    with pytest.raises(ConfigError, match=rf"c\.toml: setting 'log_path'.*{UNSET} is not set"):
        load_settings({"data_dir": tmp_path, "config_file": str(cfg)}, env={})
    with pytest.raises(ConfigError, match=rf"'data_dir'.*{UNSET} is not set"):
        load_settings({"data_dir": f"${UNSET}/d"}, env={})
    settings = load_settings({"data_dir": tmp_path}, env={})
    with pytest.raises(ConfigError, match=rf"'host_root'.*{UNSET} is not set"):
        with_overrides(settings, host_root=f"${{{UNSET}}}")


@pytest.mark.parametrize("written", [f"${UNSET}/c.toml", "~no_such_user_review3/c.toml"])
def test_the_config_files_path_is_checked_as_the_others_are(tmp_path: Path, written: str) -> None:
    """Before, ``$UNSET/c.toml`` was looked for literally (``No such file or directory``,
    without the reason) and ``~nouser/c.toml`` raised a RuntimeError."""
    env = {"FOUNDUPS_TRAINING_CONFIG": written}
    with pytest.raises(ConfigError) as err:
        load_settings({"data_dir": tmp_path}, env=env)
    message = str(err.value)
    assert "'config_file'" in message and "from FOUNDUPS_TRAINING_CONFIG" in message, message
    with pytest.raises(ConfigError, match="'config_file'"):
        load_settings({"data_dir": tmp_path, "config_file": written}, env={})


def test_a_variable_set_to_nothing_does_not_make_the_path_the_working_directory(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match=r"'data_dir'.*cannot be empty"):
        load_settings(env={"FOUNDUPS_TRAINING_HOME": "$FOUNDUPS_REVIEW3_EMPTY"})
    # An empty variable inside a longer path is what a shell makes of it too.
    env = {
        "FOUNDUPS_TRAINING_HOME": str(tmp_path),
        "FOUNDUPS_TRAINING_LOG": "a$FOUNDUPS_REVIEW3_EMPTY/b",
    }
    assert load_settings(env=env).log_path == Path("a/b")


def test_a_user_that_does_not_exist_is_a_configuration_error(tmp_path: Path) -> None:
    env = {
        "FOUNDUPS_TRAINING_HOME": str(tmp_path),
        "FOUNDUPS_TRAINING_LOG": "~no_such_user_review3/x",
    }
    with pytest.raises(ConfigError, match=r"'log_path'.*~no_such_user_review3"):
        load_settings(env=env)


def test_set_variables_home_and_a_literal_dollar_still_work(tmp_path: Path) -> None:
    env = {
        "FOUNDUPS_TRAINING_HOME": "${FOUNDUPS_REVIEW3_SET}/data",
        "FOUNDUPS_TRAINING_LOG": "~/012.txt",
        "FOUNDUPS_TRAINING_HOST_ROOT": "$FOUNDUPS_REVIEW3_SET/host$/a$-b/$",
    }
    settings = load_settings(env=env)
    assert settings.data_dir == tmp_path / "set" / "data"
    assert settings.log_path == Path("~/012.txt").expanduser()
    assert settings.host_root == tmp_path / "set" / "host$" / "a$-b" / "$"


# -- the references, as each platform's os.path.expandvars finds them ------------------------


class _Recording(dict[str, str]):
    """An environment where every variable is set, noting each one looked up."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def __getitem__(self, key: str) -> str:
        self.asked.append(key)
        return "<value>"


def _random_path(rng: random.Random) -> str:
    alphabet = ["$", "%", "{", "}", "'", "-", "_", "a", "B", "1", "/", "\\", " ", "é", "$$", "%%"]
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 16)))


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Recording]:
    environ = _Recording()
    monkeypatch.setattr(config.os, "environ", environ)
    yield environ


@pytest.mark.parametrize(
    ("windows", "expand"), [(False, posixpath.expandvars), (True, ntpath.expandvars)]
)
def test_the_references_found_are_those_expandvars_looks_up(
    recording: _Recording, windows: bool, expand: Callable[[str], str]
) -> None:
    """Each flavour against the standard library's own expansion, on random paths."""
    rng = random.Random(3)
    for _ in range(3000):
        text = _random_path(rng)
        recording.asked.clear()
        expand(text)
        assert [name for _, name in config._references(text, windows=windows)] == recording.asked, (
            text
        )


@pytest.mark.parametrize(
    ("text", "unset"),
    [
        ("%NOPE%\\models", ["NOPE"]),
        ("$NOPE\\x and ${NOPE2} $NOPE", ["NOPE", "NOPE2"]),
        ("'%NOPE%'\\x", []),  # quoted: ntpath leaves it alone
        ("100%%\\$$5\\50% off", []),  # %% and $$ are a literal % and $; one % is literal
        ("\\\\server\\c$\\x", []),
    ],
)
def test_windows_references(monkeypatch: pytest.MonkeyPatch, text: str, unset: list[str]) -> None:
    for name in ("NOPE", "NOPE2"):
        monkeypatch.delenv(name, raising=False)
    assert config.unset_variables(text, windows=True) == unset
