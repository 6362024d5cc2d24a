"""Serve a GGUF over the OpenAI-compatible API with llama-cpp-python's own server.

``python -m foundups_training.models.serve --model PATH --host 127.0.0.1 --port 8000`` takes
exactly the arguments of ``python -m llama_cpp.server`` (needs ``llama-cpp-python[server]``).
The one difference: llama.cpp's extra buffer types are turned off where they crash (a
wheel built with AMX, run in a VM that does not grant AMX tile state), by the same rule the
in-process backend follows (``FOUNDUPS_TRAINING_LLAMA_EXTRA_BUFTS`` overrides).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from foundups_training.models.llama import extra_bufts_allowed, model_params


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until it is stopped."""
    try:
        from llama_cpp.server.__main__ import main as server_main
    except ImportError as exc:
        print(
            f"the model server needs llama-cpp-python[server] ({exc.name} is missing)",
            file=sys.stderr,
        )
        return 2
    sys.argv = ["foundups_training.models.serve", *(sys.argv[1:] if argv is None else argv)]
    with model_params(extra_bufts_allowed()):
        server_main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
