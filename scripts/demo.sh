#!/usr/bin/env bash
# `npm run demo`: set-up, build, then the local auth server and demo.
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_BROWSER=0 bash scripts/setup.sh
node scripts/build.mjs
exec node scripts/demo.mjs
