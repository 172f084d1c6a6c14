#!/usr/bin/env bash
# Installs what Airlock and its tests need on Debian 12 with Node 20:
# the Debian packages (when missing) and the npm packages (when stale).
# Safe to run again: it does nothing when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

# command:package pairs; every one is needed by the product or the tests.
needed=(
  "bwrap:bubblewrap"
  "git:git"
  "cc:gcc"
  "skopeo:skopeo"
  "umoci:umoci"
  "faketime:faketime"
  "docker-registry:docker-registry"
  "openssl:openssl"
  "make:make"
  "python3:python3"
  "g++:g++"
  "busybox:busybox-static"
  "perl:perl-base"         # the sandbox launcher
  "chattr:e2fsprogs"       # store fault tests (immutable files)
  "mount:mount"            # store fault tests (tmpfs, read-only remounts)
  "script:bsdutils"        # escape suite (a real terminal)
  "unshare:util-linux"     # verify runs with no network
  "ldd:libc-bin"
  "strace:strace"          # store test: which fsyncs a batch of blob writes makes
  "podman:podman"          # deploy: the runtime
  "runc:runc"              # deploy: podman's runtime here (crun refuses hybrid cgroups)
  "haproxy:haproxy"        # deploy: the router (Debian's is built with the Prometheus exporter)
  "prometheus:prometheus"  # deploy: the metrics behind the gates
  "chromium:chromium"      # the dashboard bench's browser
  "chromium-headless-shell:chromium-headless-shell"  # the dashboard's browser tests (driven by playwright-core)
)
missing=()
for pair in "${needed[@]}"; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
# A non-English locale for the tests (they must not depend on the host's).
if ! locale -a 2>/dev/null | grep -qi '^sk_SK.utf8$'; then
  missing+=("locales")
fi

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "airlock setup: missing Debian packages: ${missing[*]}" >&2
    echo "  install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "airlock setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! locale -a 2>/dev/null | grep -qi '^sk_SK.utf8$'; then
  if [ "$(id -u)" -eq 0 ]; then
    sed -i 's/^# *sk_SK.UTF-8 UTF-8/sk_SK.UTF-8 UTF-8/' /etc/locale.gen
    grep -q '^sk_SK.UTF-8 UTF-8' /etc/locale.gen || echo 'sk_SK.UTF-8 UTF-8' >>/etc/locale.gen
    locale-gen >/dev/null
  else
    echo "airlock setup: the sk_SK.UTF-8 locale is missing; run: sudo locale-gen sk_SK.UTF-8" >&2
    exit 1
  fi
fi

# Deploy: rootful podman needs the runc runtime on hosts with a hybrid cgroup
# layout (crun refuses it), and containers ask for nofile=4096 and nproc=2048
# (src/deploy/podman.ts): podman's defaults exceed the hard limits here and
# fail with "setrlimit: Operation not permitted". Check both.
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt 4096 ]; then
  echo "airlock setup: the hard open-files limit is $(ulimit -Hn); deploy containers need 4096 (raise it in /etc/security/limits.conf)" >&2
  exit 1
fi
if [ "$(ulimit -Hu)" != unlimited ] && [ "$(ulimit -Hu)" -lt 2048 ]; then
  echo "airlock setup: the hard process limit is $(ulimit -Hu); deploy containers need 2048" >&2
  exit 1
fi
# grep reads all of it: with pipefail, `grep -q` quitting early could SIGPIPE haproxy and fail the check.
if ! haproxy -vv 2>/dev/null | grep PROMEX >/dev/null; then
  echo "airlock setup: this haproxy has no Prometheus exporter (PROMEX); install Debian's haproxy package" >&2
  exit 1
fi

# diffoscope is optional (repro falls back to a built-in diff); say so once.
command -v diffoscope >/dev/null 2>&1 ||
  echo "airlock setup: diffoscope not installed (optional; 'apt-get install diffoscope' for richer repro diffs)" >&2

# npm packages: install when node_modules is missing or older than the lock.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "airlock setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

# The compiled CLI: rebuild when any source is newer than the build.
if [ ! -f dist/cli/main.js ] || [ -n "$(find src tsconfig.json tsconfig.build.json -newer dist/cli/main.js -print -quit)" ]; then
  echo "airlock setup: npm run build" >&2
  npm run --silent build
fi
