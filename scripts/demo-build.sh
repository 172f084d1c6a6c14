#!/usr/bin/env bash
# `npm run demo:build`, the build half of the main job step by step: set up,
# build every reproducible target of examples/demo in the sandbox, build again
# (all cache hits), prove the outputs reproducible, and show that the
# deliberately non-reproducible target is caught; then the TypeScript service
# with locked npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
airlock() { node bin/airlock.js "$@"; }
targets=(lib server hello-c)

echo "== airlock build (cold or from the cache)"
airlock build -C examples/demo "${targets[@]}"
echo "== airlock build again: every target is a verified cache hit"
airlock build -C examples/demo "${targets[@]}"
for t in "${targets[@]}"; do
  echo "== airlock repro $t"
  airlock repro -C examples/demo "$t"
done
echo "== airlock repro clock (deliberately non-reproducible: must fail)"
if airlock repro -C examples/demo clock; then
  echo "demo: expected 'clock' to be caught as non-reproducible" >&2
  exit 1
fi
echo "== artifact of demo/server"
airlock --json build -C examples/demo server | node -e '
  const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
  for (const t of r.targets) console.log(`${t.tag}  ${t.artifact}`);'

# A TypeScript service with real npm dependencies: every package is pinned in
# airlock.lock, downloaded and verified once by `fetch` (the only step that
# uses the network), then installed and compiled inside the offline sandbox.
ts=examples/ts-service
echo "== airlock lock --check ($ts): airlock.lock covers package-lock.json"
airlock lock --check -C "$ts"
echo "== airlock fetch ($ts): download and verify every locked package (nothing the second time)"
airlock fetch -C "$ts"
airlock fetch -C "$ts"
echo "== airlock build ($ts): offline npm install, tsc and the tests in the sandbox"
airlock build --frozen -C "$ts"
echo "== airlock repro service ($ts)"
airlock repro -C "$ts" service
echo "== artifact of ts-service/service"
airlock --json build --frozen -C "$ts" | node -e '
  const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
  for (const t of r.targets) console.log(`${t.tag}  ${t.artifact}`);'
