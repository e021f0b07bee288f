#!/usr/bin/env bash
# Build the PyInstaller bundle, run its self-test and its CLI, and print the build's size and the
# frozen startup time against `python -m app` (one run each). Extra arguments go to build.py.
# Uses the active Python environment (or $PYTHON); needs the `packaging` extra installed.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-$(command -v python || command -v python3)}
bundle=dist/aqa-studio
[[ " $* " == *" --cuda "* ]] && bundle=dist/aqa-studio-cuda

now() { "$python" -c 'import time; print(time.time())'; }
seconds() { "$python" -c "print(f'{$2 - $1:.1f}')"; }

echo "== build"
t0=$(now)
"$python" packaging/build.py "$@"
t1=$(now)
build_s=$(seconds "$t0" "$t1")

echo "== frozen self-test"
"$bundle/aqa-studio" --selftest

echo "== frozen CLI"
"$bundle/aqa" protocols

# Startup = process start to the main window shown (offscreen, fresh data directory); the window
# closes as soon as the event loop runs (--quit-after 0).
startup() {
  local home
  home=$(mktemp -d)
  local a b
  a=$(now)
  AQA_HOME="$home" QT_QPA_PLATFORM=offscreen "$@" --quit-after 0 >/dev/null 2>&1
  b=$(now)
  rm -rf "$home"
  seconds "$a" "$b"
}
echo "== startup"
frozen_s=$(startup "$bundle/aqa-studio")
source_s=$(startup "$python" -m app)

size=$(du -sm "$bundle" | cut -f1)
echo "build time:      ${build_s} s"
echo "onedir size:     ${size} MiB ($bundle)"
for f in dist/*.tar.gz dist/*.AppImage; do
  [ -e "$f" ] && echo "package:         $f ($(du -sm "$f" | cut -f1) MiB)"
done
echo "startup frozen:  ${frozen_s} s"
echo "startup source:  ${source_s} s"
echo "startup ratio:   $("$python" -c "print(f'{$frozen_s / $source_s:.2f}')") (frozen / source)"
