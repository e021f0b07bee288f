"""Why the window could not open on Linux, in one sentence, before Qt aborts with its own lines.

Qt's xcb platform plugin links a dozen X libraries that minimal installs lack (libxcb-cursor0 &c.);
when one is missing Qt prints several lines and aborts (exit 134). ``ldd`` on the plugin names the
missing files first, and the Debian/Ubuntu package that brings each is named with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# Library file -> the Debian/Ubuntu package that installs it.
PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb.so.1": "libxcb1",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
}


def uses_xcb() -> bool:
    """Whether Qt will try its xcb platform (Linux, not asked for another one)."""
    if not sys.platform.startswith("linux"):
        return False
    chosen = os.environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(":")[0].split(";")[0] == "xcb"
    return not os.environ.get("WAYLAND_DISPLAY")


def xcb_plugin() -> Path | None:
    folder = os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH")
    if not folder:
        from PySide6.QtCore import QLibraryInfo

        folder = str(Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms")
    plugin = Path(folder) / "libqxcb.so"
    return plugin if plugin.exists() else None


def missing_libraries(plugin: Path) -> list[str]:
    """The shared libraries ``plugin`` needs that the dynamic loader cannot find."""
    if shutil.which("ldd") is None:
        return []
    listed = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, check=False)
    return [
        line.split("=>")[0].strip()
        for line in listed.stdout.splitlines()
        if line.strip().endswith("not found")
    ]


def display_problem() -> str | None:
    """One sentence when the window cannot open on this Linux machine, else None."""
    if not uses_xcb():
        return None
    plugin = xcb_plugin()
    missing = missing_libraries(plugin) if plugin else []
    if missing:
        names = ", ".join(missing)
        packages = " ".join(dict.fromkeys(PACKAGES.get(name, name) for name in missing))
        return (
            f"The window cannot open: Qt's xcb platform needs {names}, which is not installed "
            f"(Debian/Ubuntu: sudo apt-get install {packages})."
        )
    if not os.environ.get("DISPLAY"):
        return (
            "The window cannot open: no X display is set (DISPLAY is empty); start it from a "
            "desktop session, or use aqa on the command line."
        )
    return None
