#!/usr/bin/env bash
# The test command: set up everything, then run every test under a
# non-English locale (nothing may depend on the host's language or sort order).
# Ends with the ten slowest test files (wall time, and CPU time of the file's
# worker and the processes it started: on a shared machine the CPU time is the
# steadier figure), a plain "N passed, N failed" line that any CI can read, and
# how long the whole command took (set-up included) and the test run alone.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s%N)
bash scripts/setup.sh
export LANG=sk_SK.UTF-8 LC_ALL=sk_SK.UTF-8 TZ=Pacific/Chatham
results=$(mktemp)
cpu=$(mktemp)
trap 'rm -f "$results" "$cpu"' EXIT
status=0
tests_started=$(date +%s%N)
# NODE_EXTRA_CA_CERTS makes every Node process read and parse the whole CA
# bundle at start (~40 ms of CPU each, and the suite starts hundreds: CLIs,
# workers). Only the tests that reach the public npm registry need it (through
# a TLS-intercepting proxy): vitest.config.ts hands it back to their workers.
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then
  export AIRLOCK_TEST_CA_CERTS=$NODE_EXTRA_CA_CERTS
  unset NODE_EXTRA_CA_CERTS
fi
AIRLOCK_TEST_CPU_LOG=$cpu npx vitest run --reporter=default --reporter=json --outputFile="$results" "$@" || status=$?
finished=$(date +%s%N)
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  const files = r.testResults
    .map((f) => ({ name: require("path").relative(process.cwd(), f.name), s: (f.endTime - f.startTime) / 1000 }))
    .sort((a, b) => b.s - a.s);
  const cpu = new Map(
    require("fs").readFileSync(process.argv[2], "utf8").split("\n").filter(Boolean)
      .map((l) => JSON.parse(l)).map((c) => [require("path").relative(process.cwd(), c.file), c.cpu]),
  );
  const total = [...cpu.values()].reduce((a, b) => a + b, 0);
  const sum = files.reduce((a, f) => a + f.s, 0);
  console.log(`slowest test files (wall, CPU; all files: ${sum.toFixed(1)} s wall summed, ${total.toFixed(1)} s CPU):`);
  for (const f of files.slice(0, 10))
    console.log(`  ${f.s.toFixed(1).padStart(6)} s  ${(cpu.get(f.name) ?? NaN).toFixed(1).padStart(6)} s CPU  ${f.name}`);
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$results" "$cpu" || true
node -e '
  const [start, tests, end] = process.argv.slice(1).map(BigInt);
  const s = (ns) => (Number(ns / 1000000n) / 1000).toFixed(1);
  console.log(`npm test took ${s(end - start)} s (set-up and build ${s(tests - start)} s, tests ${s(end - tests)} s)`);
' "$started" "$tests_started" "$finished"
exit "$status"
