"""Text that every file, tokenizer, store and operator's console here can take."""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import sys

#: Lone UTF-16 surrogates: half an emoji from a JSON ``"\ud83d"`` escape, or a byte that was
#: not UTF-8 carried by Python as one. No UTF-8 file, tokenizer or SQLite store takes them.
_SURROGATES = re.compile("[\ud800-\udfff]")

#: 128 + SIGPIPE: what a shell reports of a command whose reader closed the pipe early
#: (``foundups-training status | head -1``), as it would had the signal ended it.
EXIT_OUTPUT_CLOSED = 141

#: The error handler :func:`readable_stdout` gives standard output.
_ESCAPE = "foundups-training-escape"


def from_surrogates(text: str, errors: str = "replace") -> str:
    """``text`` with its lone surrogates turned back into what they stood for.

    Bytes that are not UTF-8 (a latin-1 paste on the command line, a file name) reach Python
    as lone surrogates, which the tokenizer, JSON files and SQLite all refuse. The original
    bytes are recovered and decoded again with ``errors`` (``"replace"``: each invalid byte
    becomes U+FFFD; ``"backslashreplace"``: it is shown as ``\\xe9``); a surrogate that did
    not come from a byte is encoded with ``errors`` first ("?" or ``\\udc00``).
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")  # the bytes as they were
    except UnicodeEncodeError:  # surrogates that did not come from undecodable bytes
        raw = text.encode("utf-8", errors)
    return raw.decode("utf-8", errors)


def encodable(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (the rest unchanged)."""
    return text if text.isascii() else _SURROGATES.sub("\ufffd", text)


def _escape(exc: UnicodeError) -> tuple[str, int]:
    """Each character the stream cannot encode as a ``\\uXXXX`` escape (a pair beyond the
    BMP). Unlike ``backslashreplace``'s ``\\xe9`` it is valid inside a JSON string, so
    ``--json`` output stays JSON that decodes to the original text, and a path stays
    readable in a line of text."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = []
    for char in exc.object[exc.start : exc.end]:
        code = ord(char)
        if code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out), exc.end


codecs.register_error(_ESCAPE, _escape)


def readable_stdout() -> None:
    """Let standard output write any text: a console that is not UTF-8
    (``PYTHONIOENCODING=ascii``, a Windows code page) would otherwise stop a verb that has
    done its work with ``UnicodeEncodeError`` over one ``é`` in a path. What it cannot
    encode is escaped (:func:`_escape`); a stream that already substitutes is left alone."""
    stream = sys.stdout
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is None or getattr(stream, "errors", "strict") != "strict":
        return
    with contextlib.suppress(ValueError, OSError, TypeError, LookupError):
        reconfigure(errors=_ESCAPE)


def drop_stdout() -> None:
    """Point standard output at the null device once its reader has gone: Python flushes
    it again at exit, and that second broken pipe would print ``Exception ignored``."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        fd = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(fd, sys.stdout.fileno())
        finally:
            os.close(fd)


#: Characters a terminal acts on instead of showing: the C0 controls but tab and newline
#: (ESC starts the sequences that clear the screen or retitle the window, CR goes back over
#: the line), DEL, and the C1 controls (U+009B is CSI to some terminals).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: each control character it would act on is
    shown as an escape (``\\x1b``) instead of being sent.

    What a verb prints holds text from outside: a log line with colour codes in a pattern,
    a live chat message in an error, a model's answer, a host's file name. Sent raw, it
    could clear the operator's screen, retitle the window or overwrite a line with its own.
    """
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
