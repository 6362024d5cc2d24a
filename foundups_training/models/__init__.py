"""The answering models: where their files are, how they are run, how they are prompted.

Heavy imports (llama_cpp, numpy) happen inside the backends on first use, so importing this
package stays cheap.
"""

from __future__ import annotations

from foundups_training.models.base import Backend, Choice, Completion, ModelError, Prompt
from foundups_training.models.calibration import Calibration, CurveMap
from foundups_training.models.locator import ModelNotFound, locate

__all__ = [
    "Backend",
    "Calibration",
    "Choice",
    "Completion",
    "CurveMap",
    "ModelError",
    "ModelNotFound",
    "Prompt",
    "locate",
]
