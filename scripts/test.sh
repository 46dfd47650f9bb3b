#!/usr/bin/env bash
# `npm test`: set-up, then every test (see scripts/run-tests.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node scripts/run-tests.mjs "$@"
