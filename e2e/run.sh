#!/usr/bin/env bash
# Real-browser journeys: installs Debian's Chromium if missing, `npm ci`, builds telederm if
# needed (or uses $TELEDERM_BIN), and runs the tests with Node's built-in runner.
# Screenshots land in e2e/screenshots/ (not committed).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"

if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM:-}" ]; then
  echo "e2e: installing chromium (apt)"
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
# The status-link journey reads the patient's message from the outbox with the sqlite3 shell.
if ! command -v sqlite3 >/dev/null; then
  echo "e2e: installing sqlite3 (apt)"
  apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null
fi

cd "$here"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund
fi

if [ -z "${TELEDERM_BIN:-}" ]; then
  target_dir="${CARGO_TARGET_DIR:-$root/target}"
  (cd "$root" && CARGO_TARGET_DIR="$target_dir" cargo build -p telederm)
  export TELEDERM_BIN="$target_dir/debug/telederm"
fi

rm -rf "$here/screenshots"
node --test --test-concurrency=1 --test-reporter=spec tests/
