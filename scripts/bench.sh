#!/usr/bin/env bash
# The benchmark command (`npm run bench`): set up, then run every bench/*.bench.ts
# with tsx, one after another (never in parallel: they time wall clock).
# A bench whose prerequisites are missing says why and the next one runs;
# the exit status is non-zero only when a bench crashed. Pass bench names
# (e.g. `npm run bench -- build hash`) to run only those; words starting
# with `--` (e.g. `npm run bench -- build --scale`) are passed to each bench.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! bash scripts/setup.sh; then
  echo "bench: scripts/setup.sh failed; benches that need what it installs or builds will say so" >&2
fi

benches=()
flags=()
for name in "$@"; do
  case "$name" in
    --*) flags+=("$name") ;;
    *) benches+=("bench/${name%.bench.ts}.bench.ts") ;;
  esac
done
if [ "${#benches[@]}" -eq 0 ]; then
  for file in bench/*.bench.ts; do benches+=("$file"); done
fi

failed=()
for file in "${benches[@]}"; do
  name=$(basename "$file" .bench.ts)
  printf '\n===== bench: %s (%s) =====\n' "$name" "$file"
  if [ ! -f "$file" ]; then
    echo "skipped: $file does not exist"
    continue
  fi
  start=$(date +%s)
  if npx --no-install tsx "$file" ${flags[@]+"${flags[@]}"}; then
    printf -- '----- %s done in %ss -----\n' "$name" "$(($(date +%s) - start))"
  else
    status=$?
    printf -- '----- %s FAILED (exit %s) after %ss -----\n' "$name" "$status" "$(($(date +%s) - start))"
    failed+=("$name")
  fi
done

echo
if [ "${#failed[@]}" -gt 0 ]; then
  echo "bench: crashed: ${failed[*]}"
  exit 1
fi
echo "bench: all benches ran"
