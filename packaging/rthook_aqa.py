"""PyInstaller runtime hook: point the engine at the BlazePose files inside the bundle.

A user's own ``AQA_POSE_MODELS`` wins; the bundled copy is only the default.
"""

import os
import sys
from pathlib import Path

_bundled = Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / "pose_models"
if _bundled.is_dir() and not os.environ.get("AQA_POSE_MODELS"):
    os.environ["AQA_POSE_MODELS"] = str(_bundled)
