"""When the window cannot open on Linux, ``aqa-studio`` says why in one sentence (Qt itself prints
several lines and aborts with exit 134)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="xcb is Linux's")


def qt_folders() -> tuple[Path, Path]:
    from PySide6.QtCore import QLibraryInfo

    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    return plugins / "platforms" / "libqxcb.so", Path(
        QLibraryInfo.path(QLibraryInfo.LibraryPath.LibrariesPath)
    )


def start_app(env: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in env.items() if k != "WAYLAND_DISPLAY"}
    return subprocess.run(
        [sys.executable, "-m", "app", "--quit-after", "200"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_a_missing_xcb_library_is_named(tmp_path):
    """The xcb plugin, copied with one of its libraries renamed to a file that does not exist
    (as on a machine without libxcb-cursor0)."""
    plugin, libraries = qt_folders()
    folder = tmp_path / "platforms"
    folder.mkdir()
    data = plugin.read_bytes()
    assert b"libxcb-cursor.so.0" in data
    (folder / "libqxcb.so").write_bytes(data.replace(b"libxcb-cursor.so.0", b"libxcb-cursoX.so.0"))
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", QT_QPA_PLATFORM_PLUGIN_PATH=str(folder))
    env["LD_LIBRARY_PATH"] = str(libraries)  # the copy's own path to Qt's libraries
    env["DISPLAY"] = ":97"
    done = start_app(env)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "aqa-studio: The window cannot open: Qt's xcb platform needs libxcb-cursoX.so.0, which is "
        "not installed (Debian/Ubuntu: sudo apt-get install libxcb-cursoX.so.0)."
    ]


def test_no_display_is_one_sentence():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM")}
    done = start_app(env)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        "aqa-studio: The window cannot open: no X display is set (DISPLAY is empty); start it from "
        "a desktop session, or use aqa on the command line."
    ]
