#!/usr/bin/env bash
# `npm run build`: set-up (no browser needed), then the package into pkg/.
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_BROWSER=0 bash scripts/setup.sh
exec node scripts/build.mjs
