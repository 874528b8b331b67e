#!/usr/bin/env bash
# Install everything and run the whole test suite, lint and type checks.
# This is the README's second command; .ci/run calls it.
#  - system packages: Debian's chromium (browser tests), mosquitto (MQTT broker tests),
#    openssl (TLS test), dbus, python3-dbus and python3-gi (Venus OS D-Bus tests), installed
#    with apt-get when missing (needs root, as in CI; otherwise run `sudo apt-get install
#    chromium mosquitto openssl dbus python3-dbus python3-gi` once)
#  - Python packages: into .venv; aiobmsble, which needs Python 3.12+, into .venv-aiobmsble
#    (tools/aiobmsble_venv.sh; skipped, and its tests skip, when there is no Python 3.12+)
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/bin/dbus-daemon ] || need+=(dbus)  # a private bus for the Venus OS tests
# the independent D-Bus client of the Venus OS tests runs on Debian's own python3
/usr/bin/python3 -c 'import dbus, gi' 2>/dev/null || need+=(python3-dbus python3-gi)
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
tools/aiobmsble_venv.sh  # aiobmsble needs Python 3.12+: a second venv for its tests
ruff check .
mypy
python -m pytest -q -p no:cacheprovider "$@"
