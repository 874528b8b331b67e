#!/usr/bin/env bash
# Install everything and run the whole test suite, lint and type checks.
# This is the README's second command; .ci/run calls it.
#  - system packages: Debian's chromium (for the browser tests), installed with apt-get when
#    missing (needs root, as in CI; otherwise run `sudo apt-get install chromium` once)
#  - Python packages: into .venv
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq chromium >/dev/null
    else
        echo "note: /usr/bin/chromium is missing and this is not root: browser tests will skip" >&2
    fi
fi
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e '.[test]'
ruff check .
mypy
python -m pytest -q -p no:cacheprovider "$@"
