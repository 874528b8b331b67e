#!/usr/bin/env bash
# Install everything and run the whole test suite, lint and type checks.
# This is the README's second command; .ci/run calls it.
#  - system packages: Debian's chromium (browser tests), mosquitto (MQTT broker tests) and
#    openssl (TLS test), installed with apt-get when missing (needs root, as in CI; otherwise
#    run `sudo apt-get install chromium mosquitto openssl` once)
#  - Python packages: into .venv
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "note: missing ${need[*]} and this is not root: those tests will skip" >&2
    fi
fi
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e '.[test]'
ruff check .
mypy
python -m pytest -q -p no:cacheprovider "$@"
