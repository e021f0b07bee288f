#!/usr/bin/env bash
# Compare our BlazePose pipeline with mediapipe's own output (tests/test_blazepose_vs_mediapipe.py).
# mediapipe 0.10.21 pins numpy<2 and pulls jax and opencv-contrib, so it lives in its own venv
# (default /tmp/aqa-mp, reused between runs); the project is put on PYTHONPATH, not installed.
# Usage: tests/mediapipe_reference.sh [pytest args]    Env: AQA_MP_VENV, PYTHON (3.9-3.12).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${AQA_MP_VENV:-/tmp/aqa-mp}"
if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    mediapipe==0.10.21 ai-edge-litert==2.3.0 av platformdirs scipy pytest
cd "$repo"
PYTHONPATH="$repo" exec "$venv/bin/python" -m pytest -q -p no:cacheprovider \
    tests/test_blazepose_vs_mediapipe.py "$@"
