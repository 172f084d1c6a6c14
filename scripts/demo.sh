#!/usr/bin/env bash
# `npm run demo`: the main job in one command, `airlock ship`, for the bundled
# example's server (examples/demo) on a local environment of two regions that
# the demo starts and stops itself on 127.0.0.1 (two docker-registry, two
# HAProxy, one Prometheus, podman with runc): release 1 is promoted in both
# regions, then a deliberately broken release 2 is caught by the gates at the
# first step and rolled back. See scripts/deploy-demo.ts. Everything it started
# is removed at the end, on failure and on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node_modules/.bin/tsx scripts/deploy-demo-main.ts
