#!/usr/bin/env bash
# The ccqueue demo, in one command, on a Debian 12 machine (as root):
#
#   bash deploy/demo.sh [--for SECONDS] [--per-minute N] [--talk-mean-s S]
#                       [--patience-mean-s S] [--seed N] [--fresh-db] [--quiet] ...
#
# Installs what is missing (deploy/install-deps.sh), then starts on 127.0.0.1, with
# its files under var/demo/: a PostgreSQL cluster, the Asterisk sandbox instance
# "demo" configured from config/, `ccqueue run`, one baresip softphone per agent
# (logged in through the HTTP API) and a stream of simulated callers. It prints where
# to look (wallboard, metrics, API, psql, logs), runs until Ctrl-C or --for seconds,
# then stops everything it started, in reverse order, and prints a summary line:
#   demo summary: calls=N answered=N abandoned=N other=N
# `bash deploy/demo.sh --help` lists every option.
set -euo pipefail
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_DIR"

if [[ $EUID -ne 0 ]]; then
    echo "demo: run as root (it installs packages, runs Asterisk in a chroot and PostgreSQL as postgres)" >&2
    exit 2
fi

PYTHON=${PYTHON:-python3}
export PYTHON
echo "demo: checking and installing dependencies (deploy/install-deps.sh)"
bash "$REPO_DIR/deploy/install-deps.sh"

# The demo's Python process stops everything it starts, by pid, on its way out.
exec "$PYTHON" -m testbed.demo "$@"
