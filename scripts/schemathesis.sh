#!/usr/bin/env bash
# Fuzzes the JSON API with schemathesis (PyPI) against its own OpenAPI document (made from the Rust
# types, crates/web/src/api/openapi.rs), on a running demo server, signed in with a demo session.
# Runs every check schemathesis has (`--checks all`): fails on any 5xx answer, on any answer that
# breaks the documented schema (status codes, content types, headers, response bodies), on invalid
# data accepted, on schema-valid data refused other than by a documented rule (scripts/schemathesis.toml),
# on an operation that answers without the session, and on undocumented methods not refused.
#
# Usage: scripts/schemathesis.sh [--max-examples N] [--role ROLE] [-- extra `st run` options]
#   N defaults to 25 per operation (scripts/test.sh runs it so); ROLE defaults to referrer.
# Uses $TELEDERM_BIN if set, else builds the debug binary. Installs schemathesis with
# scripts/test-services.sh. Reports land in target/schemathesis/ROLE/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
max_examples=25
role=referrer
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --max-examples) max_examples="$2"; shift 2 ;;
        --role) role="$2"; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "usage: $0 [--max-examples N] [--role ROLE] [-- st run options]" >&2; exit 2 ;;
    esac
done

st_bin="$("$root/scripts/test-services.sh" schemathesis | tail -n 1)"
if [ -z "${TELEDERM_BIN:-}" ]; then
    (cd "$root" && cargo build -q -p telederm)
    TELEDERM_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/telederm"
fi

data="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
TELEDERM_DATA_DIR="$data" TELEDERM_BIND="127.0.0.1:$port" RUST_LOG=warn "$TELEDERM_BIN" demo >/dev/null &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT

for _ in $(seq 1 300); do
    if curl -fsS "$base/healthz" >/dev/null 2>&1; then break; fi
    sleep 0.2
done
curl -fsS "$base/healthz" >/dev/null

read -r email password < <(awk -v r="$role" '$1 == r { print $2, $3 }' "$data/demo-credentials.txt")
[ -n "${email:-}" ] || { echo "no demo user with role $role" >&2; exit 2; }
token="$(curl -fsS -D - -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$password\"}" "$base/api/v1/auth/sign-in" \
    | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: telederm_session=\([^;]*\).*/\1/p')"
[ -n "$token" ] || { echo "could not sign in as the demo $role" >&2; exit 1; }
export TELEDERM_ST_SESSION="$token"

# Real identifiers for about half the generated requests, so operations on a referral, a photo or a
# service reach their 2xx answers (and their bodies are checked) instead of only 404s: the demo's
# referrals and photos this role can see, the services, and valid NHS numbers.
config="$data/schemathesis.toml"
cp "$root/scripts/schemathesis.toml" "$config"
TELEDERM_ST_BASE="$base" python3 - "$token" >>"$config" <<'PY'
import json, os, sys, urllib.request

base, token = os.environ["TELEDERM_ST_BASE"] + "/api/v1", sys.argv[1]
def get(path):
    req = urllib.request.Request(base + path, headers={"Cookie": f"telederm_session={token}"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
referrals = [r["id"] for r in get("/referrals?limit=1000")["referrals"]]
photos = [p["id"] for r in referrals for p in get(f"/referrals/{r}/photos")["photos"]]
services = [s["id"] for s in get("/services")["services"]]
nhs_numbers = ["9434765919", "943 476 5919", "9990000018", "9912003888"]
# A role may see none of some (a system admin sees no referrals): bind only dictionaries with values.
present = set()
for name, values in [("referral_ids", referrals), ("photo_ids", photos), ("service_ids", services), ("nhs_numbers", nhs_numbers)]:
    if values:
        present.add(name)
        print(f"\n[dictionaries.{name}]\nvalues = {json.dumps(values)}")
bindings = {"path.id": "referral_ids", "path.photo_id": "photo_ids", "body.service_id": "service_ids",
            "body.service": "service_ids", "body.patient.nhs_number": "nhs_numbers"}
print("\n[parameters]")
for key, name in bindings.items():
    if name in present:
        print(f'"{key}" = {{ dictionary = "{name}", probability = 0.5 }}')
PY

report="$root/target/schemathesis/$role"
mkdir -p "$report"
echo "schemathesis: $max_examples examples per operation against $base as the demo $role"
# Sign-out would end the session the run uses, and /healthz, /readyz and /metrics are outside /api/v1; everything else
# is fuzzed.
"$st_bin/st" --config-file "$config" run "$base/api/v1/openapi.json" \
    --url "$base/api/v1" \
    --checks all \
    --phases examples,coverage,fuzzing \
    --max-examples "$max_examples" \
    --exclude-path /auth/sign-out --exclude-path /healthz --exclude-path /readyz --exclude-path /metrics \
    --seed 1 \
    --workers 1 \
    --no-color \
    --generation-database none \
    --report junit --report-dir "$report" \
    "${extra[@]}"
