#!/usr/bin/env bash
# The test command: set up everything, then run every test under a
# non-English locale (nothing may depend on the host's language or sort order).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export LANG=sk_SK.UTF-8 LC_ALL=sk_SK.UTF-8 TZ=Pacific/Chatham
exec npx vitest run "$@"
