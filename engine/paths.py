"""Where AQA Studio keeps its data: ``AQA_HOME`` if set, else the platform's user data directory."""

import os
from pathlib import Path

import platformdirs

from engine.errors import StoreError

APP_NAME = "aqa-studio"


def data_dir() -> Path:
    """The data directory, created on first use."""
    root = os.environ.get("AQA_HOME") or platformdirs.user_data_dir(APP_NAME, appauthor=False)
    path = Path(root).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"The data directory {path} cannot be created ({exc.strerror}).") from exc
    return path


def database_path() -> Path:
    return data_dir() / "aqa.sqlite"


def cache_dir() -> Path:
    path = data_dir() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def resources_dir() -> Path:
    """The packaged ``resources/`` directory (also inside a PyInstaller bundle)."""
    import resources

    return Path(resources.__file__).resolve().parent
