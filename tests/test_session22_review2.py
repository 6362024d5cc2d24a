"""Second review of session 22's changes: inputs its own tests did not try."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from linear_cost import assert_linear_cost

from foundups_training.mining.redact import REDACTED, redact
from foundups_training.status import text_time

# A command's string in code, followed by code (concatenation, a method call): the quote
# that closes the string is no shell piece of the password, so the code after it stays.
CODE_AFTER_A_COMMAND = [
    ('subprocess.run("redis-cli -a hunter2pw"+" ping", shell=True)', '+" ping", shell=True)'),
    ('cmd = "mysql -u root -phunter2pw"+extra+"x"', '+extra+"x"'),
    ('const cmd = "curl -u bob:hunter2pw"+"&x=1";', '+"&x=1";'),
    ('print("redis-cli -a hunter2pw".replace("a", "b"))', '.replace("a", "b"))'),
    ('os.system("redis-cli -a hunter2pw".strip() + "x")', '.strip() + "x")'),
    ('ok = "redis-cli -a hunter2pw"=="y"', '=="y"'),
]


@pytest.mark.parametrize(("text", "code"), CODE_AFTER_A_COMMAND)
def test_code_after_a_commands_string_is_kept(text: str, code: str) -> None:
    out = redact(text)
    assert "hunter2pw" not in out
    assert REDACTED in out
    assert out.endswith(code), out


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("redis-cli -a ''hunter2pw", "hunter2pw"),
        ('redis-cli -a x"hunter2 pw"', "hunter2 pw"),
        ("mysql -u root -p'secret'pw db", "secret"),
        ("curl -u \"bob:pw\"'x' http://h", "pw"),
    ],
)
def test_a_password_of_several_shell_pieces_still_goes_whole(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out.replace(REDACTED, "")


def test_code_after_a_commands_string_costs_linear_time() -> None:
    big = assert_linear_cost(redact, 'x = "redis-cli -a pw"+"y"; ')
    out = redact(big)
    assert out.count(REDACTED) == big.count("-a pw")
    assert out.count('"+"y"') == big.count('"+"y"')


@pytest.mark.parametrize(
    "value", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-00:01"]
)
def test_text_time_never_raises_on_a_date_at_the_calendars_edge(value: str) -> None:
    # a hand-edited checkpoint's updated_at reaches the menu header and `status` as it is
    assert text_time(value) == value


# -- a shared model's template read racing its last release ---------------------------------------
# (the fake llama_cpp.Llama and the registry fixture of tests/test_models_shared.py)


def test_a_template_read_loading_while_the_last_holder_releases_frees_what_it_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: ``chat_template`` (and a chat prompt's ``render``) loaded the model without
    its lock, so the last release's retire found nothing loaded and freed nothing; the load
    then finished, and that model was nobody's to free (loaded 1, freed 0)."""
    from test_models_shared import WAIT_S, _FakeLlama, gguf  # noqa: F401 - the fixture

    from foundups_training.models import llama

    llama_cpp = pytest.importorskip("llama_cpp")
    loading, go_on = threading.Event(), threading.Event()

    class _SlowLlama(_FakeLlama):
        def __init__(self, **kwargs: Any) -> None:
            loading.set()
            go_on.wait(WAIT_S)
            super().__init__(**kwargs)

    monkeypatch.setattr(llama_cpp, "Llama", _SlowLlama)
    monkeypatch.setattr(_FakeLlama, "loads", [])
    monkeypatch.setattr(_FakeLlama, "frees", [])
    monkeypatch.setenv(llama.EXTRA_BUFTS_ENV, "1")
    llama.close_all()
    path = tmp_path / "gemma-fake.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 64)
    holder = llama.shared_model(path)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            _ = holder.chat_template
        except BaseException as exc:  # noqa: BLE001 - checked below
            errors.append(exc)

    reading = threading.Thread(target=read, daemon=True)
    reading.start()
    try:
        assert loading.wait(WAIT_S)
        closing = threading.Thread(target=holder.close, daemon=True)
        closing.start()
        closing.join(0.2)  # the close may wait for the load (as a call's would), never the reverse
        go_on.set()
        closing.join(WAIT_S)
        reading.join(WAIT_S)
        assert not closing.is_alive() and not reading.is_alive()
        assert len(_FakeLlama.loads) == 1
        assert _FakeLlama.frees == _FakeLlama.loads, "the model loaded during the release leaked"
    finally:
        go_on.set()
        llama.close_all()
