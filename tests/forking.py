"""Running test code in a forked child, safely: the child always leaves through ``os._exit``
and reports what its work returned (as JSON) through a pipe; the parent's wait is bounded and
a child that says nothing in time is killed, so no test can hang on it."""

from __future__ import annotations

import json
import os
import select
import signal
from collections.abc import Callable
from typing import Any

#: How long the parent waits for a child's report.
CHILD_S = 60.0


def fork(work: Callable[[], dict[str, Any]]) -> tuple[int, int]:
    """Fork; the child runs ``work`` and sends back what it returns (as JSON); returns the
    child's pid and the pipe to read it from (:func:`collect`)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: always leaves through os._exit, whatever happens
        code = 3
        try:
            os.close(read)
            os.write(write, json.dumps(work()).encode())
            code = 0
        except BaseException as exc:  # noqa: BLE001 - said to the parent, not raised here
            os.write(write, json.dumps({"error": repr(exc)}).encode())
        finally:
            os._exit(code)
    os.close(write)
    return pid, read


def collect(pid: int, read: int) -> dict[str, Any]:
    """What the child of :func:`fork` said; a child that says nothing in time is killed."""
    chunks: list[bytes] = []
    try:
        while select.select([read], [], [], CHILD_S)[0]:  # bounded: a hung child fails
            chunk = os.read(read, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read)
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == 0:  # still running: it hung
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return dict(json.loads(b"".join(chunks) or b'{"error": "the child said nothing"}'))


def in_child(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """What ``work`` returned in a forked child (``{"error": …}`` when it raised)."""
    return collect(*fork(work))
