"""Second review of the host index, on the trees a Windows developer really has: files saved
as UTF-8 with a byte order mark, as UTF-16 (PowerShell's ``>``) or in the ANSI code page,
folders the indexing user may not open, a key in a README heading, the WSP archive beside
the framework, and a tree whose docstrings and READMEs were rewritten since the last index."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from host_edits import rewrite_docs

from foundups_training.mining import Verifier, index_host
from foundups_training.mining.host_index import collect_host_patterns
from foundups_training.records import Pattern, module_summary_id
from foundups_training.samples import sample_host

REPO = Path(__file__).resolve().parents[2]
LIVECHAT = "modules/communication/livechat"


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A private copy of the sample host tree."""
    root = tmp_path / "host"
    shutil.copytree(sample_host(), root)
    return root


@pytest.fixture
def scanning_store(make_store: Any) -> Any:
    """The dict store with the memory's ``all_patterns``, which reads stored text back."""

    class ScanningStore(make_store):  # type: ignore[misc, valid-type]
        def all_patterns(self, where: Mapping[str, Any] | None = None) -> Iterator[Pattern]:
            where = where or {}
            for p in list(self.items.values()):
                if all(getattr(p, key) == value for key, value in where.items()):
                    yield p

    return ScanningStore()


def _contexts(patterns: list[Pattern]) -> str:
    return "\n".join(p.context for p in patterns)


# -- text encodings ----------------------------------------------------------------------------


def test_a_utf8_file_with_a_byte_order_mark_is_read_as_its_text(host: Path) -> None:
    """Notepad and Visual Studio save UTF-8 with a BOM. Python imports such a file, but the
    index skipped it as "not Python", and a README's title was taken for prose: the heading
    ``\\ufeff# Title`` does not start with ``#``."""
    mod = host / "modules/infrastructure/bommed"
    (mod / "src").mkdir(parents=True)
    (mod / "README.md").write_bytes(
        "# Bommed Title\n\nThe bommed module keeps its files with a byte order mark.\n".encode(
            "utf-8-sig"
        )
    )
    (mod / "src" / "bommed.py").write_bytes(
        '"""Bommed docstring: saved by Notepad."""\n\nclass Bommed:\n    """A class."""\n'.encode(
            "utf-8-sig"
        )
    )
    patterns, report = collect_host_patterns(host)
    assert report.skipped == 0
    summary = next(
        p for p in patterns if p.id == module_summary_id("modules/infrastructure/bommed")
    )
    assert "Bommed Title." in summary.context and "# " not in summary.context
    assert "Bommed docstring" in _contexts(patterns)
    assert "\ufeff" not in _contexts(patterns)
    verifier = Verifier(host)
    assert verifier.source("modules/infrastructure/bommed/src/bommed.py") is not None


def test_a_utf16_readme_is_read_as_its_text(host: Path) -> None:
    """Windows PowerShell's ``>`` and ``Out-File`` write UTF-16 with a BOM: the index read
    it as UTF-8 and stored a NUL between every two letters."""
    mod = host / "modules/infrastructure/powershell"
    mod.mkdir(parents=True)
    text = "# PowerShell Notes\n\nThe powershell module was documented from a PowerShell prompt.\n"
    (mod / "README.md").write_text(text, encoding="utf-16")  # BOM, then UTF-16-LE
    (mod / "INTERFACE.md").write_bytes(
        b"\xfe\xff" + text.replace("Notes", "API").encode("utf-16-be")
    )
    patterns, _ = collect_host_patterns(host)
    mine = [p for p in patterns if p.module == "modules/infrastructure/powershell"]
    assert mine and not any("\x00" in p.context or "\ufffd" in p.context for p in mine)
    assert any("documented from a PowerShell prompt" in p.context for p in mine)
    assert {"README", "INTERFACE"} <= {
        p.code_ref.split(":")[0].rsplit("/", 1)[1].split(".")[0]
        for p in mine
        if p.kind == "module_doc"
    }


def test_ansi_text_keeps_its_accents(host: Path) -> None:
    """A README saved in the Windows code page (cp1252), and a Python file that declares
    it: each accent and curly quote became U+FFFD, in the stored text and in what was
    embedded."""
    mod = host / "modules/infrastructure/cafe"
    (mod / "src").mkdir(parents=True)
    ansi = "# Caf\u00e9 Notes\n\nThe caf\u00e9 module serves \u201cespresso\u201d to everyone.\n"
    (mod / "README.md").write_bytes(ansi.encode("cp1252"))
    (mod / "src" / "cafe.py").write_bytes(
        '# -*- coding: cp1252 -*-\n"""Caf\u00e9 docstring \u2013 brewed."""\n'.encode("cp1252")
    )
    # a UTF-8 README with one stray ANSI byte keeps its UTF-8 characters as they are
    mixed = host / "modules/infrastructure/mixed"
    mixed.mkdir(parents=True)
    (mixed / "README.md").write_bytes(
        "# Mixed\n\nThe mixed module says \u00fcber and \u2705 done.".encode() + b" Na\xefve.\n"
    )
    patterns, _ = collect_host_patterns(host)
    text = _contexts(patterns)
    assert "\ufffd" not in text
    assert "The caf\u00e9 module serves \u201cespresso\u201d to everyone." in text
    assert "Caf\u00e9 docstring \u2013 brewed." in text
    assert "says \u00fcber and \u2705 done. Na\u00efve." in text


def test_binary_files_with_text_names_give_no_pattern(host: Path) -> None:
    """A binary file saved as ``.py`` or ``.md`` (a renamed archive, a generated blob) is
    not text: no pattern may hold its bytes."""
    mod = host / "modules/infrastructure/blobs"
    (mod / "src").mkdir(parents=True)
    blob = bytes(range(256)) * 8
    (mod / "README.md").write_bytes(blob)
    (mod / "INTERFACE.md").write_bytes(blob)
    (mod / "src" / "blob.py").write_bytes(blob)
    patterns, report = collect_host_patterns(host)
    mine = [p for p in patterns if p.module == "modules/infrastructure/blobs"]
    assert [p.id for p in mine] == [module_summary_id("modules/infrastructure/blobs")]
    assert "\x00" not in mine[0].context and report.skipped == 1


# -- folders and files the indexing user may not open ---------------------------------------

_COLLECT = """
import json, sys
from pathlib import Path
from foundups_training.mining.host_index import collect_host_patterns
patterns, report = collect_host_patterns(Path(sys.argv[1]))
print(json.dumps({"report": report.as_dict(), "modules": sorted({p.module for p in patterns})}))
"""


def _collect_without_root(host: Path) -> subprocess.CompletedProcess[str]:
    """The index run by a user that file modes apply to: ``nobody`` when this is root (root
    ignores them), else this user."""
    cmd = [sys.executable, "-c", _COLLECT, str(host)]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("root ignores file modes, and setpriv is not there to drop to nobody")
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip


def test_folders_the_user_cannot_open_are_skipped_not_fatal() -> None:
    """A module folder or the WSP folder with no access for the indexing user (another
    account's checkout, a folder locked by a sync tool): ``Path.is_file`` raised
    PermissionError on its README and the whole index failed."""
    base = Path(tempfile.mkdtemp(prefix="fdt-hostidx-", dir="/tmp"))
    base.chmod(0o755)
    locked: list[Path] = []
    try:
        root = base / "host"
        shutil.copytree(sample_host(), root)
        for p in [root, *root.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        locked = [root / "modules/communication/livechat", root / "WSP_framework"]
        for folder in locked:
            folder.chmod(0o000)
        done = _collect_without_root(root)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["report"]["modules"] == 16
        assert "modules/infrastructure/database" in result["modules"]
        assert result["report"]["wsp_documents"] == 0
    finally:
        for folder in locked:
            folder.chmod(0o755)
        shutil.rmtree(base)


# -- secrets ---------------------------------------------------------------------------------


def test_a_key_in_a_heading_never_reaches_a_code_reference(host: Path) -> None:
    """A passage's code reference names its heading; the heading was redacted in the
    context but stored as it is in ``code_ref``."""
    key = "AIzaSyD3mO7kEyNoTrEaL1234567890abcdefgh"
    readme = host / LIVECHAT / "README.md"
    readme.write_text(
        readme.read_text(encoding="utf-8") + f"\n## Setup with YOUTUBE_API_KEY={key}\n\n"
        "The module reads this key from the environment each time the daemon starts.\n",
        encoding="utf-8",
    )
    wsp = next((host / "WSP_framework/src").glob("WSP_49_*.md"))
    wsp.write_text(
        wsp.read_text(encoding="utf-8")
        + f"\n## Keys: client_secret=GOCSPX-AbCdEfGhIjKlMnOpQrStUv and {key}\n\n"
        "Keys live in the environment file and never in the code or its documents.\n",
        encoding="utf-8",
    )
    patterns, _ = collect_host_patterns(host)
    assert any("reads this key" in p.context for p in patterns)
    assert any("Keys live in the environment" in p.context for p in patterns)
    stored = [" ".join((p.context, p.decision, p.outcome, p.code_ref)) for p in patterns]
    assert not [s for s in stored if "AIzaSyD3m" in s or "GOCSPX-AbCd" in s]


# -- the WSP archive ---------------------------------------------------------------------------


def test_the_wsp_archive_copy_of_a_framework_document_is_not_indexed_twice(host: Path) -> None:
    """The real host keeps ``WSP_knowledge/src`` as the archive of ``WSP_framework/src``:
    the same documents under the same names. Each was indexed twice, as two patterns of
    the same text, which then took two of the few places a recall returns."""
    framework = host / "WSP_framework/src"
    archive = host / "WSP_knowledge/src"
    shutil.copytree(framework, archive)
    (archive / "WSP_71_Secrets_Management_Protocol.md").write_text(
        "# WSP 71: Secrets Management Protocol\n\nKeys are kept in the environment file only.\n",
        encoding="utf-8",
    )
    patterns, report = collect_host_patterns(host)
    wsp = [p for p in patterns if p.kind == "wsp_compliance"]
    texts = [(p.context, p.decision) for p in wsp]
    assert len(texts) == len(set(texts))
    assert report.wsp_documents == 4  # the three in force, and the one only archived
    assert any(p.decision.startswith("WSP 71") for p in wsp)
    assert not any(p.code_ref.startswith("WSP_knowledge/src/WSP_49") for p in wsp)


# -- a README named in lower case ------------------------------------------------------------


def test_a_lower_case_readme_gives_its_passages_too(host: Path) -> None:
    """The summary was read from ``readme.md``, but the passages only from ``README.md``:
    on a case-sensitive checkout the module had a summary and no ``module_doc``."""
    mod = host / "modules/infrastructure/lower"
    mod.mkdir(parents=True)
    (mod / "readme.md").write_text(
        "# Lower\n\nThe lower module names its readme in lower case, as git keeps it.\n",
        encoding="utf-8",
    )
    patterns, _ = collect_host_patterns(host)
    docs = [p for p in patterns if p.module == "modules/infrastructure/lower"]
    assert any(p.kind == "module_doc" for p in docs)
    summary = next(p for p in docs if p.id == module_summary_id("modules/infrastructure/lower"))
    assert summary.code_ref == "modules/infrastructure/lower/readme.md"


# -- indexing again after the text changed ----------------------------------------------------


def test_a_rewritten_docstring_readme_or_wsp_document_replaces_the_stored_text(
    host: Path, scanning_store: Any
) -> None:
    """A file's, a class's and a module's summary and a WSP document's patterns have ids
    made from their path, not their text, and the store keeps the text of a known id. So
    after a docstring or README was rewritten, indexing again kept the old text for good:
    "which module handles X?" went on answering from what the code no longer says."""
    store = scanning_store
    index_host(host, store)
    rewrite_docs(host)
    again = index_host(host, store)
    now = {p.id: p for p in collect_host_patterns(host)[0]}
    stored = {pid: p for pid, p in store.items.items() if p.source == "code"}
    assert set(stored) == set(now)
    assert {pid: p.context for pid, p in stored.items()} == {
        pid: p.context for pid, p in now.items()
    }
    text = _contexts(list(stored.values()))
    for old in ("Live chat core: polls", "Polls liveChatMessages for one", "YouTube live stream's"):
        assert old not in text
    assert "Each module now lives" in text and "Every module lives" not in text
    # the summary keeps the id the router looks it up by, and every count goes on
    assert "Twitch" in store.items[module_summary_id(LIVECHAT)].context
    assert store.items[module_summary_id(LIVECHAT)].seen == 2
    core_rel = f"{LIVECHAT}/src/livechat_core.py"
    rewritten = [p for p in stored.values() if p.code_ref.startswith(core_rel)]
    assert len(rewritten) == 2 and {p.seen for p in rewritten} == {2}
    assert again.patterns_total == store.count() == len(now)
    # and a third index of the unchanged tree changes no text
    before = {pid: p.context for pid, p in store.items.items()}
    index_host(host, store)
    assert {pid: p.context for pid, p in store.items.items()} == before
    assert store.items[module_summary_id(LIVECHAT)].seen == 3


@pytest.mark.slow
def test_the_real_memory_gets_the_rewritten_text_too(host: Path, tmp_path: Path) -> None:
    """The same through ChromaDB: the summary keeps its id, its text and embedding are new."""
    from foundups_training.config import load_settings
    from foundups_training.memory import open_memory

    memory = open_memory(load_settings({"data_dir": tmp_path / "data"}, env={}))
    try:
        index_host(host, memory)
        readme = host / LIVECHAT / "README.md"
        readme.write_text(
            readme.read_text(encoding="utf-8").replace(
                "Reads a YouTube live stream's chat", "Reads a Twitch stream's chat"
            ),
            encoding="utf-8",
        )
        index_host(host, memory)
        summary = memory.get(module_summary_id(LIVECHAT))
        assert summary is not None and "Twitch" in summary.context and summary.seen == 2
        now = {p.id: p.context for p in collect_host_patterns(host)[0]}
        assert {p.id: p.context for p in memory.all_patterns(where={"source": "code"})} == now
    finally:
        memory.close()
