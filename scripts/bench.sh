#!/usr/bin/env bash
# `npm run bench`: the set-up, the package build, the benchmark's own npm dependencies (bench/,
# pinned in bench/package-lock.json), then jwt-keeper side by side with the other libraries
# (scripts/bench.mjs). Arguments go to bench.mjs: `npm run bench -- --quick`.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

bash scripts/setup.sh
node scripts/build.mjs

# npm ci only when bench/node_modules is missing or older than the lock file.
if [ ! -f bench/node_modules/.package-lock.json ] || [ bench/package-lock.json -nt bench/node_modules/.package-lock.json ]; then
  echo "[bench] installing the benchmark's dependencies"
  (cd bench && npm ci --no-audit --no-fund)
fi

node scripts/bench.mjs "$@"
echo "[bench] whole run (set-up, build, benchmark): $(( $(date +%s) - started )) s"
