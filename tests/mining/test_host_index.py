"""The host code index and the verifier: what they read, and what they refuse to read."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from foundups_training.mining import Verifier, index_host
from foundups_training.mining.host_index import collect_host_patterns, safe_relative
from foundups_training.records import Pattern, module_summary_id
from foundups_training.samples import sample_host


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A private copy of the sample host tree (tests may add files and links to it)."""
    root = tmp_path / "host"
    shutil.copytree(sample_host(), root)
    return root


def test_index_sample_host(store) -> None:  # type: ignore[no-untyped-def]
    report = index_host(sample_host(), store)
    assert report.modules == 16 and report.wsp_documents == 3 and report.files >= 16
    assert report.patterns_stored == store.count() == report.patterns_total
    pats = list(store.items.values())
    summaries = {p.module: p for p in pats if p.code_ref.endswith("README.md")}
    auth = summaries["modules/platform_integration/youtube_auth"]
    assert (
        auth.kind == "module_location"
        and auth.decision == "modules/platform_integration/youtube_auth/"
    )
    assert "quota" in auth.context and auth.verified and auth.source == "code"
    # The router finds each module's summary by this id (summary weighting).
    modules = {p.module for p in pats if p.kind == "module_location"}
    assert len(modules) == 16
    assert all(module_summary_id(m) in store.items for m in modules)
    assert store.items[module_summary_id(auth.module)] is auth
    classes = [
        p
        for p in pats
        if p.code_ref.startswith(
            "modules/communication/livechat/src/livechat_core.py:LiveChatCore:"
        )
    ]
    assert classes and "Polls liveChatMessages" in classes[0].context
    wsp = [p for p in pats if p.kind == "wsp_compliance"]
    assert any("tests/" in p.context and p.decision.startswith("WSP 49") for p in wsp)
    # indexing again raises counts, never duplicates
    again = index_host(sample_host(), store)
    assert again.patterns_total == report.patterns_total
    assert store.items[auth.id].seen == 2


def test_reindex_removes_what_the_tree_no_longer_yields(host: Path, store) -> None:  # type: ignore[no-untyped-def]
    first = index_host(host, store)
    assert first.patterns_removed == 0
    mined = Pattern.make("error_fix", "Error: database locked", "tried: retry", source="log")
    store.upsert([mined])
    old_db = "modules/infrastructure/database"
    # WSP 3 moves a module to another domain, and one README is rewritten.
    shutil.move(host / old_db, host / "modules/platform_integration/database")
    readme = host / "modules/platform_integration/youtube_auth/README.md"
    readme.write_text(readme.read_text() + "\nRotates the OAuth token files nightly.\n")
    again = index_host(host, store)
    modules = {p.module for p in store.items.values() if p.source == "code"}
    assert old_db not in modules and "modules/platform_integration/database" in modules
    assert again.patterns_removed > 0
    assert again.patterns_total == store.count() == again.patterns_stored + 1  # + the mined one
    assert store.items[mined.id] == mined  # patterns from the log are never pruned
    # exactly what the tree yields now: the README's passages as rewritten, no earlier one
    now = {p.id for p in collect_host_patterns(host)[0]}
    assert {pid for pid, p in store.items.items() if p.source == "code"} == now
    rel = str(readme.relative_to(host))
    passages = [p.context for p in store.items.values() if p.code_ref.startswith(rel)]
    assert any("nightly" in c for c in passages)


def test_reindex_keeps_everything_when_asked_or_when_the_tree_is_empty(
    host: Path,
    tmp_path: Path,
    store,  # type: ignore[no-untyped-def]
) -> None:
    index_host(host, store)
    total = store.count()
    shutil.rmtree(host / "modules/infrastructure/database")
    kept = index_host(host, store, prune=False)
    assert kept.patterns_removed == 0 and store.count() == total
    empty = tmp_path / "empty"
    empty.mkdir()
    mistyped = index_host(empty, store)  # no modules/ at all: a wrong root, not an empty host
    assert mistyped.modules == 0 and mistyped.patterns_removed == 0
    assert store.count() == total and mistyped.warnings


def test_host_code_is_parsed_never_imported(host: Path) -> None:
    bomb = host / "modules/infrastructure/database/src/bomb.py"
    bomb.write_text('"""Imports would explode."""\nraise SystemExit("imported!")\n')
    broken = host / "modules/infrastructure/database/src/broken.py"
    broken.write_text("def (:\n")
    patterns, report = collect_host_patterns(host)
    assert any(
        p.code_ref.startswith("modules/infrastructure/database/src/bomb.py") for p in patterns
    )
    assert report.skipped == 1


def test_links_and_paths_leaving_the_root_are_refused(host: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "src").mkdir(parents=True)
    (outside / "README.md").write_text("# SECRET-OUTSIDE\n\nSECRET-OUTSIDE text.\n")
    (outside / "src" / "leak.py").write_text('"""SECRET-OUTSIDE docstring."""\n')
    # a whole module that is a link, and a file link inside a real module
    os.symlink(outside, host / "modules/communication/leaky", target_is_directory=True)
    os.symlink(outside / "src/leak.py", host / "modules/communication/livechat/src/leak.py")
    patterns, _ = collect_host_patterns(host)
    assert not any("SECRET-OUTSIDE" in p.context for p in patterns)
    root = host.resolve()
    assert safe_relative(root, "modules/communication/livechat/src/leak.py") is None
    assert safe_relative(root, "../outside/src/leak.py") is None
    assert safe_relative(root, str(outside / "src/leak.py")) is None
    assert safe_relative(root, "C:/Windows/win.ini") is None
    assert safe_relative(root, "modules/communication/livechat/src/livechat_core.py") is not None


def test_verifier_resolves_loggers_and_paths() -> None:
    v = Verifier(sample_host())
    ok = v.verify(
        "modules.platform_integration.youtube_auth.src.youtube_auth",
        "[U+1F511] Attempting authentication with credential set 2",
    )
    assert ok.verified
    assert ok.code_ref.startswith(
        "modules/platform_integration/youtube_auth/src/youtube_auth.py:get_authenticated_service:"
    )
    assert not v.verify("modules.communication.youtube_shorts.src.shorts_orchestrator").verified
    assert not v.verify("modules.communication..livechat.src.livechat_core").verified
    path = v.verify(
        "", 'File "O:\\Foundups-Agent\\modules\\communication\\livechat\\src\\message_processor.py"'
    )
    assert path.verified and path.file == "modules/communication/livechat/src/message_processor.py"
    assert not v.verify("", "modules/../../etc/passwd.py").verified


def test_module_documents_become_passages() -> None:
    from foundups_training.mining.host_index import doc_passages

    text = "\n".join(
        [
            "# Git Push DAE",  # 1
            "![badge](x.svg)",
            "Publishes development progress after each push to the remote.",  # 3
            "## Operational Guardrails",
            "- Filters volatile paths (node_modules/, telemetry) so runtime churn never pushes.",
            "```python",
            "dae.run()  # code is not prose",
            "```",
            "| table | row |",
            "## WSP Compliance",  # 10
            "- Follows WSP 3, WSP 49 and every other WSP in the framework, always.",
            "## Long",
            *[f"- point number {i} says something long enough to count here" for i in range(12)],
        ]
    )
    passages = doc_passages(text, limit=200)
    heads = [h for h, *_ in passages]
    assert heads[:2] == ["Git Push DAE", "Operational Guardrails"]
    assert "WSP Compliance" not in heads  # paperwork is left out
    assert passages[0][1:3] == (3, 3) and passages[1][1:3] == (5, 5)
    assert "volatile paths" in passages[1][3] and "dae.run" not in " ".join(
        heads + [p for *_, p in passages]
    )
    long = [p for h, _, _, p in passages if h == "Long"]
    assert len(long) > 1 and all(len(p) <= 200 for p in long)  # cut at line ends
    assert " ".join(long).count("point number") == 12  # nothing lost between passages


def test_index_writes_module_doc_passages(store) -> None:  # type: ignore[no-untyped-def]
    index_host(sample_host(), store)
    docs = [p for p in store.items.values() if p.kind == "module_doc"]
    assert docs and all(p.decision == p.module + "/" and p.verified for p in docs)
    assert all(p.code_ref.split(":")[0].endswith(("README.md", "INTERFACE.md")) for p in docs)
