#!/usr/bin/env bash
# Installs what ccqueue, its tests and its demo need on a Debian 12 machine (as root):
# Debian packages, the Asterisk 22 sandbox root, and the Python package with its test
# extras. Quick when everything is already there.
set -euo pipefail
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# debootstrap: builds the Asterisk sandbox. baresip-core: the agents' softphones.
# postgresql: the record store (tests start throwaway clusters from its binaries).
# prometheus: the real scraper the metrics tests point at /metrics.
# chromium, chromium-driver: a real headless browser that opens `ccqueue report`'s HTML
# page in the tests (through selenium, a test extra).
PACKAGES=(debootstrap debian-archive-keyring baresip-core postgresql prometheus curl ca-certificates
          chromium chromium-driver)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "install-deps: apt-get install ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    # The Debian package starts a cluster and a Prometheus of its own; ccqueue's tests
    # and demo start their own on loopback, so the packaged services are not needed.
    for svc in postgresql prometheus prometheus-node-exporter; do
        (command -v systemctl >/dev/null && systemctl stop "$svc" 2>/dev/null) || true
    done
fi

bash "$REPO_DIR/deploy/asterisk/sandbox.sh" build >/dev/null

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import ccqueue, argon2, pytest_asyncio, pytest_timeout, hypothesis, schemathesis' 2>/dev/null \
    || [[ "$REPO_DIR/pyproject.toml" -nt "$REPO_DIR/.ccqueue-installed" ]]; then
    "$PYTHON" -m pip install -q --disable-pip-version-check -e "$REPO_DIR[test]" >&2
    touch "$REPO_DIR/.ccqueue-installed"
fi
echo "install-deps: ready" >&2
