"""Secrets never leave the miner."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from foundups_training.mining import extract_patterns
from foundups_training.mining.redact import REDACTED, contains_secret, redact
from foundups_training.samples import sample_log

SECRETS = [
    ("key AIzaSyD3mO7kEyNoTrEaL1234567890abcdefgh end", "AIzaSy"),
    ("token ya29.a0AfH6SMBxNotARealToken_123-abc end", "ya29."),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig end", "eyJhbGci"),
    ("openai sk-proj-abcdefghijklmnopqrstuv123 end", "sk-proj"),
    ("db postgres://agent:hunter2secret@localhost:5432/x end", "hunter2"),
    ("password=Sup3rS3cret! end", "Sup3rS3cret"),
    ("client_secret: 'GOCSPX-abcdefghijkl' end", "GOCSPX"),
]


def test_each_secret_shape_is_redacted() -> None:
    for text, secret in SECRETS:
        out = redact(text)
        assert secret not in out, out
        assert REDACTED in out and out.endswith("end")


def test_ordinary_text_is_untouched() -> None:
    for text in ("Attempting authentication with credential set 1", "Quota 9500 of 10000"):
        assert redact(text) == text and not contains_secret(text)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80), st.sampled_from(SECRETS), st.text(max_size=80))
def test_secret_inside_any_text_is_gone_and_redaction_is_idempotent(
    before: str, secret: tuple[str, str], after: str
) -> None:
    text = f"{before} {secret[0]} {after}"
    once = redact(text)
    assert secret[1] not in once
    assert redact(once) == once


def test_planted_secrets_in_the_sample_never_reach_a_pattern() -> None:
    text = sample_log().read_text(encoding="utf-8")
    assert "AIzaSy" in text and "ya29." in text and "Bearer " in text  # they are planted
    for p in extract_patterns(text.splitlines()):
        blob = " ".join((p.context, p.decision, p.outcome, p.code_ref))
        for marker in ("AIzaSy", "ya29.", "postgres://foundups:"):
            assert marker not in blob.replace("postgres://foundups:[REDACTED]", ""), p
