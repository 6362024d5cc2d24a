"""foundups-training: teach Foundups-Agent's local models from what the system already did.

Importing this package is cheap: chromadb, llama_cpp and onnxruntime load only when used.
"""

from foundups_training.records import (
    Answer,
    Decision,
    IdleBudget,
    IdleReport,
    Pattern,
    Query,
    Recalled,
)

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "Decision",
    "IdleBudget",
    "IdleReport",
    "Pattern",
    "Query",
    "Recalled",
    "__version__",
]
