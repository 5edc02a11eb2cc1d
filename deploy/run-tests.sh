#!/usr/bin/env bash
# The whole test suite: unit, integration (real PostgreSQL) and end-to-end (real
# Asterisk 22 sandbox, baresip agents, PostgreSQL). Installs what it needs first.
# Extra arguments go to pytest.
set -euo pipefail
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_DIR"
bash deploy/install-deps.sh
# No test may be skipped: a missing part is a failure, not a pass.
export CCQUEUE_FORBID_SKIPS=1
exec "${PYTHON:-python3}" -m pytest -p no:cacheprovider --timeout 300 -ra --durations=30 "$@"
