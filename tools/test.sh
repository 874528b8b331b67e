#!/usr/bin/env bash
# Install everything into .venv and run the whole test suite, lint and type checks.
# This is the README's second command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e '.[test]'
ruff check .
mypy
python -m pytest -q -p no:cacheprovider "$@"
