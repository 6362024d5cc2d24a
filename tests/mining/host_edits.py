"""Edits of a copy of the sample host tree that the index tests share."""

from __future__ import annotations

from pathlib import Path

LIVECHAT = "modules/communication/livechat"


def rewrite_docs(host: Path) -> None:
    """Rewrite a docstring (livechat_core's module and class), the livechat README and the
    WSP 49 document of the tree at ``host``: patterns whose ids stay and whose text changes."""
    core = host / LIVECHAT / "src/livechat_core.py"
    core.write_text(
        core.read_text(encoding="utf-8")
        .replace("Live chat core: polls", "Live chat core: streams over gRPC")
        .replace("Polls liveChatMessages for one stream", "Streams chat over gRPC for a stream"),
        encoding="utf-8",
    )
    readme = host / LIVECHAT / "README.md"
    readme.write_text(
        readme.read_text(encoding="utf-8").replace(
            "Reads a YouTube live stream's chat", "Reads a Twitch stream's chat"
        ),
        encoding="utf-8",
    )
    wsp = next((host / "WSP_framework/src").glob("WSP_49_*.md"))
    wsp.write_text(
        wsp.read_text(encoding="utf-8").replace("Every module lives", "Each module now lives"),
        encoding="utf-8",
    )
