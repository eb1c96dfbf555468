#!/usr/bin/env bash
# Runs the whole test suite (installing and building first when needed) and ends with a summary line
# "N passed, N failed" summed over every package's node:test run.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/scripts/env.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund || exit 1
fi
log=$(mktemp)
# One task at a time: the sampler tests measure achieved sample rates and need the CPU to themselves.
npx nx run-many -t build test --parallel=1 --outputStyle=stream 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# node:test ends each run with "ℹ pass N" / "ℹ fail N" (spec reporter) or "# pass N" / "# fail N" (TAP).
passed=$(grep -aoE '(ℹ|#) pass [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
failed=$(grep -aoE '(ℹ|#) fail [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
rm -f "$log"
if [ "$passed" -eq 0 ] && [ "$status" -eq 0 ]; then
  echo "no test ran"
  status=1
fi
[ "$failed" -gt 0 ] && status=1
echo "$passed passed, $failed failed"
exit "$status"
