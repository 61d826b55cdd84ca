#!/usr/bin/env bash
# Intake memory benchmark (issue 11, part 4): peak resident memory (VmHWM) of a release
# `telederm demo` server while 16 clients upload a 48 MP photo each, all at once, through the
# API. Not a test: never run by scripts/test.sh. Prints the peak, the answers (201 stored, 503
# intake_busy) and the wall time.
#
#   bench/intake-memory/run.sh [CLIENTS] [WIDTHxHEIGHT]       (defaults: 16 6000x8000)
#
# Environment: TELEDERM_BIN (default: target/release/telederm, built here), BENCH_INTAKE_BIN (the
# photo generator, default: target/release/examples/bench_intake, built here), BENCH_SKIP_BUILD=1
# (use those binaries as they are, e.g. an older build for a before/after comparison), any
# TELEDERM_* setting for the server (e.g. TELEDERM_INTAKE_MEMORY_MB), BENCH_OUT (default: a
# temporary directory, removed at the end).
set -euo pipefail
cd "$(dirname "$0")/../.."
clients="${1:-16}"
size="${2:-6000x8000}"
w="${size%x*}"
h="${size#*x}"
target="${CARGO_TARGET_DIR:-target}"

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
  cargo build -q --release -p telederm --bin telederm -p telederm-imaging --example bench_intake
fi
bin="${TELEDERM_BIN:-$target/release/telederm}"
gen="${BENCH_INTAKE_BIN:-$target/release/examples/bench_intake}"

out="${BENCH_OUT:-$(mktemp -d)}"
mkdir -p "$out"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -z "${BENCH_OUT:-}" ]; then rm -rf "$out"; fi
}
trap cleanup EXIT

# A phone-style photo (EXIF orientation 6, as a phone held upright writes it; q92 4:2:0).
"$gen" big "$out/photo.jpg" "$w" "$h" 6 2>/dev/null
photo_bytes=$(stat -c %s "$out/photo.jpg")

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TELEDERM_DATA_DIR="$out/data" TELEDERM_BIND="127.0.0.1:$port" RUST_LOG=warn "$bin" demo >"$out/server.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 1500); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.2; done

read -r email password < <(awk '$1=="referrer"{print $2, $3}' "$out/data/demo-credentials.txt")
curl -sf -c "$out/jar" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"$password\"}" "$base/api/v1/auth/sign-in" >/dev/null
draft='{"service_id":"hackney-rash","route":"ras","patient":{"nhs_number":"943 476 5919","given_name":"Ada","family_name":"Lovelace","date_of_birth":"1980-05-17","sex":"female","postcode":"E8 1DY"}}'
referral=$(curl -sf -b "$out/jar" -H 'content-type: application/json' -d "$draft" "$base/api/v1/referrals" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

idle_kb=$(awk '/^VmRSS:/{print $2}' "/proc/$server_pid/status")
start=$(date +%s.%N)
for i in $(seq 1 "$clients"); do
  curl -s -o /dev/null -w '%{http_code}\n' -b "$out/jar" -F kind=close_up -F "file=@$out/photo.jpg;type=image/jpeg" \
    "$base/api/v1/referrals/$referral/photos" >"$out/answer.$i" &
done
wait $(jobs -p | grep -v "^$server_pid\$") 2>/dev/null || true
end=$(date +%s.%N)
peak_kb=$(awk '/^VmHWM:/{print $2}' "/proc/$server_pid/status")
answers=$(cat "$out"/answer.* | sort | uniq -c | awk '{printf "%s x %s, ", $1, $2}')

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
echo "server: $bin; TELEDERM_INTAKE_MEMORY_MB=${TELEDERM_INTAKE_MEMORY_MB:-default}"
echo "photo: ${w}x${h} ($((w * h / 1000000)) MP) JPEG, $photo_bytes bytes, EXIF orientation 6"
echo "clients: $clients uploads at once; answers: ${answers%, }; wall time $(python3 -c "print(round($end - $start, 1))") s"
echo "server RSS before the burst: $((idle_kb / 1024)) MiB"
echo "server peak RSS (VmHWM): $((peak_kb / 1024)) MiB"
