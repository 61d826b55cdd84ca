#!/usr/bin/env bash
# Runs every Telederm test from a fresh machine: installs and starts what the tests need
# (PostgreSQL, the S3 and SMTP test servers, Python checkers, Chromium for the browser suite),
# then the Rust suites (unit, property, HTTP journeys, storage contract) and the browser suite.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "test services (PostgreSQL, S3, SMTP, Python tools)"
if [ -x scripts/test-services.sh ]; then scripts/test-services.sh; fi

step "Rust: build and run every test (cargo nextest)"
export CARGO_TERM_COLOR=never
# A one-off build gains nothing from incremental caches, which would double the target's size.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
df -h . | tail -1 | awk '{print "disk free before the build: " $4}'
cargo nextest run --workspace --no-fail-fast

step "API fuzzing: schemathesis against the OpenAPI document of a demo server, as every role (bounded)"
# TELEDERM_SCHEMATHESIS_EXAMPLES (default 25) is the budget per operation, shared by the four roles
# (each gets a quarter, rounded up), so running every role takes about as long as one role did.
# Every role runs even when one fails; the step fails if any did.
examples="${TELEDERM_SCHEMATHESIS_EXAMPLES:-25}"
per_role=$(( (examples + 3) / 4 ))
failed_roles=()
for role in referrer consultant service_admin system_admin; do
  step "schemathesis as the demo $role ($per_role examples per operation)"
  TELEDERM_BIN="${CARGO_TARGET_DIR:-target}/debug/telederm" scripts/schemathesis.sh --max-examples "$per_role" --role "$role" \
    || failed_roles+=("$role")
done
if [ "${#failed_roles[@]}" -gt 0 ]; then
  echo "schemathesis failed as: ${failed_roles[*]} (reports in target/schemathesis/ROLE/)" >&2
  exit 1
fi

if [ -f e2e/package.json ]; then
  step "browser journeys (Playwright + Debian Chromium)"
  # Reuse the binary nextest just built (a separate `cargo build -p telederm` would resolve
  # features differently and compile most dependencies a second time).
  built="${CARGO_TARGET_DIR:-target}/debug/telederm"
  if [ -z "${TELEDERM_BIN:-}" ] && [ -x "$built" ]; then export TELEDERM_BIN="$(cd "$(dirname "$built")" && pwd)/telederm"; fi
  e2e/run.sh
fi
