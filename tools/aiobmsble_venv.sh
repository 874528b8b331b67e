#!/usr/bin/env bash
# Create or update .venv-aiobmsble: a Python 3.12+ venv with the aiobmsble library (which does not
# install on the project's Python 3.11), for tests/buses/test_aiobmsble_lib.py. tools/test.sh calls
# this. With no Python 3.12+ on the machine it says so and does nothing (that test then skips).
# The interpreter: $AIOBMSBLE_PYTHON, else python3.12 or later on PATH, else a pyenv 3.12+.
set -euo pipefail
cd "$(dirname "$0")/.."
is_312() { [ -n "$1" ] && "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; }
py=""
for c in "${AIOBMSBLE_PYTHON:-}" $(for m in 12 13 14 15 16 17 18 19; do command -v "python3.$m" || true; done) \
         $(ls -d "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null || true); do
    if is_312 "$c"; then py="$c"; break; fi
done
if [ -z "$py" ]; then
    echo "note: no Python 3.12+ found: the tests that run the aiobmsble library will skip" >&2
    exit 0
fi
if ! is_312 .venv-aiobmsble/bin/python; then
    rm -rf .venv-aiobmsble
    "$py" -m venv .venv-aiobmsble
    .venv-aiobmsble/bin/python -m pip install --quiet --upgrade pip
fi
.venv-aiobmsble/bin/python -m pip install --quiet -r tests/buses/aiobmsble_lib/requirements.txt
