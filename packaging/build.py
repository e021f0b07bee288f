"""Build the AQA Studio installers with PyInstaller: ``python packaging/build.py [--cuda]``.

Makes the onedir bundle ``dist/aqa-studio/`` (``aqa-studio`` and ``aqa`` side by side) from
``packaging/aqa-studio.spec``, then what this platform can package: a tarball (and an AppImage
when ``appimagetool`` is on PATH) on Linux, ``AQA Studio.app`` and a dmg on macOS, an Inno Setup
installer on Windows when ``iscc`` is on PATH. Needs the project installed with the ``packaging``
extra (``pip install -e ".[packaging]"``) in the environment the bundle is built from.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "aqa-studio.spec"
DIST = ROOT / "dist"
WORK = ROOT / "build" / "pyinstaller"
APP_NAME = "AQA Studio"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cuda", action="store_true", help="CUDA build (needs CUDA torch + onnxruntime-gpu)"
    )
    parser.add_argument("--pose-models", type=Path, help="folder with the two BlazePose files")
    parser.add_argument("--clean", action="store_true", help="empty PyInstaller's cache first")
    parser.add_argument("--no-package", action="store_true", help="only the onedir folder")
    args = parser.parse_args(argv)

    if importlib.util.find_spec("PyInstaller") is None:
        print('build: PyInstaller is missing; run pip install -e ".[packaging]"', file=sys.stderr)
        return 2
    problem = check_binding() or check_torch(args.cuda)
    if problem:
        print(f"build: {problem}", file=sys.stderr)
        return 2
    name = "aqa-studio-cuda" if args.cuda else "aqa-studio"
    env = {**os.environ, "AQA_BUILD_NAME": name, "AQA_BUILD_CUDA": "1" if args.cuda else "0"}
    if args.pose_models:
        env["AQA_BUILD_POSE_MODELS"] = str(args.pose_models.resolve())
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN"]
    command += ["--distpath", str(DIST), "--workpath", str(WORK), str(SPEC)]
    if args.clean:
        command.insert(3, "--clean")
    started = time.perf_counter()
    print("build:", " ".join(command), flush=True)
    if subprocess.run(command, env=env, cwd=ROOT, check=False).returncode != 0:
        print("build: PyInstaller failed", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    folder = DIST / name
    print(f"build: {folder} ({folder_size(folder) / 2**20:.0f} MiB) in {seconds:.0f} s")
    if not args.no_package:
        for made in package(folder, name):
            print(f"build: {made} ({made.stat().st_size / 2**20:.0f} MiB)")
    return 0


def check_binding() -> str | None:
    """A sentence when the installed Qt binding is one pyproject.toml excludes (the bundle takes
    whatever PySide6 the build environment has, so it must honour the same pin)."""
    import tomllib
    from importlib.metadata import version

    from packaging.requirements import Requirement

    with open(ROOT / "pyproject.toml", "rb") as fh:
        wanted = tomllib.load(fh)["project"]["dependencies"]
    for text in wanted:
        requirement = Requirement(text)
        if requirement.name.startswith("PySide6"):
            installed = version(requirement.name)
            if installed not in requirement.specifier:
                return (
                    f"{requirement.name} {installed} is excluded by pyproject.toml "
                    f"({requirement.specifier}); run pip install -e . to get an allowed one"
                )
    return None


def check_torch(cuda: bool) -> str | None:
    """A sentence when the installed torch does not fit the requested build."""
    from engine.extract.registry import torch_has_cuda_build

    has_cuda = torch_has_cuda_build()
    if cuda and not has_cuda:
        return (
            "a CUDA build needs a CUDA torch: pip install torch --index-url "
            "https://download.pytorch.org/whl/cu128 (and onnxruntime-gpu)"
        )
    if not cuda and has_cuda:
        return (
            "the installed torch is a CUDA build; build the CPU bundle from an environment with "
            "the CPU torch (pip install torch --index-url https://download.pytorch.org/whl/cpu) "
            "or pass --cuda"
        )
    return None


def package(folder: Path, name: str) -> list[Path]:
    """The platform's installers made from the onedir folder."""
    version = project_version()
    machine = platform.machine().lower()
    if sys.platform.startswith("linux"):
        made = [tarball(folder, DIST / f"{name}-{version}-linux-{machine}.tar.gz")]
        appimage = build_appimage(folder, DIST / f"{name}-{version}-{machine}.AppImage")
        return made + ([appimage] if appimage else [])
    if sys.platform == "darwin":
        app = DIST / f"{APP_NAME}.app"
        dmg = DIST / f"{name}-{version}-macos-{machine}.dmg"
        dmg.unlink(missing_ok=True)
        subprocess.run(
            ["hdiutil", "create", "-volname", APP_NAME, "-srcfolder", str(app), "-ov"]
            + ["-format", "UDZO", str(dmg)],
            check=True,
        )
        return [dmg]
    if sys.platform == "win32":
        iscc = shutil.which("iscc") or shutil.which("ISCC")
        if iscc is None:
            print("build: Inno Setup (iscc) is not on PATH; no Windows installer made")
            return []
        script = ROOT / "packaging" / "inno" / "aqa-studio.iss"
        subprocess.run(
            [iscc, f"/DAppVersion={version}", f"/DSourceDir={folder}", f"/O{DIST}", str(script)],
            check=True,
        )
        return sorted(DIST.glob(f"aqa-studio-{version}-setup*.exe"))
    return []


def tarball(folder: Path, target: Path) -> Path:
    with tarfile.open(target, "w:gz", compresslevel=6) as tar:
        tar.add(folder, arcname=folder.name)
    return target


def build_appimage(folder: Path, target: Path) -> Path | None:
    """An AppImage of the onedir folder when ``appimagetool`` is installed (it is on neither PyPI
    nor Debian; see packaging/README.md)."""
    tool = shutil.which("appimagetool")
    if tool is None:
        print("build: appimagetool is not on PATH; no AppImage made")
        return None
    appdir = WORK / "AppDir"
    shutil.rmtree(appdir, ignore_errors=True)
    shutil.copytree(folder, appdir / "usr" / "lib" / "aqa-studio", symlinks=True)
    apprun = appdir / "AppRun"
    apprun.write_text(
        '#!/bin/sh\nhere="$(dirname "$(readlink -f "$0")")"\n'
        'exec "$here/usr/lib/aqa-studio/aqa-studio" "$@"\n'
    )
    apprun.chmod(0o755)
    (appdir / "aqa-studio.desktop").write_text(
        f"[Desktop Entry]\nType=Application\nName={APP_NAME}\nExec=aqa-studio\n"
        "Icon=aqa-studio\nCategories=Science;MedicalSoftware;\n"
    )
    shutil.copy(ROOT / "packaging" / "aqa-studio.png", appdir / "aqa-studio.png")
    env = {**os.environ, "ARCH": platform.machine()}
    subprocess.run([tool, str(appdir), str(target)], check=True, env=env)
    return target


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def project_version() -> str:
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]["version"]


if __name__ == "__main__":
    sys.exit(main())
