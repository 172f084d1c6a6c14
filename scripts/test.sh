#!/usr/bin/env bash
# The test command: set up everything, then run every test under a
# non-English locale (nothing may depend on the host's language or sort order).
# Ends with a plain "N passed, N failed" line that any CI can read.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export LANG=sk_SK.UTF-8 LC_ALL=sk_SK.UTF-8 TZ=Pacific/Chatham
results=$(mktemp)
trap 'rm -f "$results"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile="$results" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$results" || true
exit "$status"
