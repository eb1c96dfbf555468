#!/usr/bin/env bash
# Installs and builds everything on a fresh machine, then runs the main job on the bundled example.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tools/scripts/env.sh
npm ci --no-audit --no-fund
npx nx run-many -t build --outputStyle=static
node tools/scripts/example.mjs
