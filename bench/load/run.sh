#!/usr/bin/env bash
# Mixed load on two nodes (issue 18). Not a test: never run by scripts/test.sh.
#
#   bench/load/run.sh [--users N] [--minutes M] [--binary PATH]     (defaults: 200 users, 10 minutes,
#                                                                   the release binary, built here)
#
# Starts one PostgreSQL database (on the server scripts/test-services.sh starts) and one S3 bucket
# (moto's S3 server, from the same script's venv) on loopback, and two nodes on two ports against
# them: node A runs `telederm demo`, which seeds the demo practice, provider, users and referrals
# into the empty database, node B `telederm serve`. More practices and users are added with
# `telederm organisation add` and `telederm user add` (four practices with three GPs each, four
# consultants, two service admins). It generates six 12 MP phone photos (bench/load/make_photos.py)
# and checks the photo gate accepts each, then locust (headless, bench/load/locustfile.py) drives
# both nodes for the given time with GPs, consultants, patients and service admins, half the users
# on each node. At the end it reads each node's peak memory (VmHWM in /proc/PID/status), prints a
# Markdown summary (bench/load/summary.py) and keeps it in bench/load/latest.md, then stops what it
# started, drops the database and removes its temporary directory (BENCH_KEEP=1 keeps the
# directory: node logs, locust's CSV files).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"

users=200
minutes=10
binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --users) users="$2"; shift 2 ;;
    --minutes) minutes="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (use --users N, --minutes M, --binary PATH)" >&2; exit 2 ;;
  esac
done
if [ -z "$binary" ]; then
  cargo build --release --bin telederm
  binary="${CARGO_TARGET_DIR:-target}/release/telederm"
fi
binary="$(realpath "$binary")"
[ -x "$binary" ] || { echo "no telederm binary at $binary" >&2; exit 2; }

log() { echo "load: $*" >&2; }

venv="$(bash scripts/test-services.sh load | tail -n 1)"
bash scripts/test-services.sh postgres >/dev/null
moto_bin="$(bash scripts/test-services.sh python | tail -n 1)"

work="$(mktemp -d /tmp/telederm-load.XXXXXX)"
admin_url="${TELEDERM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
db="telederm_load_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
db_url="${admin_url%/*}/$db"
pids=()
db_made=""
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$db_made" ]; then psql -q "$admin_url" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null || true; fi
  if [ -n "${BENCH_KEEP:-}" ]; then log "kept $work"; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # URL PID WHAT
  for _ in $(seq 1 600); do
    curl -sf -o /dev/null "$1" && return 0
    kill -0 "$2" 2>/dev/null || { log "$3 exited before answering $1"; return 1; }
    sleep 0.2
  done
  log "$3 did not answer $1 within 120 s"; return 1
}

# --- PostgreSQL database and S3 bucket ----------------------------------------------------------
psql -q "$admin_url" -c "CREATE DATABASE \"$db\"" >/dev/null
db_made=1
s3_port="$(free_port)"
mkdir -p "$work/moto-tmp"
TMPDIR="$work/moto-tmp" "$moto_bin/moto_server" -H 127.0.0.1 -p "$s3_port" >"$work/moto.log" 2>&1 &
moto=$!
pids+=("$moto")
s3="http://127.0.0.1:$s3_port"
for _ in $(seq 1 150); do curl -s -o /dev/null "$s3" && break; sleep 0.2; done
curl -sf -X PUT -o /dev/null "$s3/telederm-load"
log "database $db, bucket telederm-load at $s3"

# --- Photos: generated once, each checked by the photo gate ------------------------------------
"$venv/python" bench/load/make_photos.py "$work/photos" 6 >/dev/null
gate="$("$binary" image check "$work"/photos/*.jpg --json)"
if ! python3 -c 'import json, sys; r = json.load(sys.stdin); sys.exit(0 if r and all(x.get("verdict") == "accept" for x in r) else 1)' <<<"$gate"; then
  echo "$gate" >&2
  log "the photo gate does not accept every generated photo: not a fair load test; see above"
  exit 1
fi
photo_sizes="$(stat -c %s "$work"/photos/*.jpg | paste -sd, -)"
log "photos: $photo_sizes bytes, all accepted by the photo gate"

# --- Two nodes ------------------------------------------------------------------------------------
blob_key="$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
export TELEDERM_DATABASE_URL="$db_url"
export TELEDERM_BLOB_URL="s3://telederm-load/region-a"
export TELEDERM_S3_ENDPOINT="$s3"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export TELEDERM_BLOB_KEY="$blob_key"
export RUST_LOG="${RUST_LOG:-warn}"
port_a="$(free_port)"
port_b="$(free_port)"
TELEDERM_DATA_DIR="$work/node-a" TELEDERM_BIND="127.0.0.1:$port_a" "$binary" demo >"$work/node-a.out" 2>"$work/node-a.log" &
node_a=$!
pids+=("$node_a")
wait_http "http://127.0.0.1:$port_a/healthz" "$node_a" "node A (telederm demo)"
log "node A seeded by telederm demo, on port $port_a"

# More practices and people, with the operator's commands.
password="$(python3 -c 'import secrets; print("Load-" + secrets.token_urlsafe(18))')"
export LOAD_PASSWORD="$password"
cli() { TELEDERM_DATA_DIR="$work/cli" "$binary" "$@" >>"$work/seed.log"; }
services=(--service nhs-advice-and-guidance --service clinical-partnership)
accounts="$work/accounts.json"
{
  echo '{"referrer": ['
  sep=""
  for p in 1 2 3 4; do
    ods="Y0010$p"
    cli organisation add --ods "$ods" --name "Load test practice $p" --kind practice
    for g in 1 2 3; do
      email="gp$g.practice$p@load.telederm.test"
      cli user add --email "$email" --name "Dr GP $g of practice $p" --role referrer --organisation "$ods" --profession gp --password-env LOAD_PASSWORD
      printf '%s{"email": "%s", "password": "%s"}\n' "$sep" "$email" "$password"
      sep=","
    done
  done
  echo '], "consultant": ['
  sep=""
  for c in 1 2 3 4; do
    email="consultant$c@load.telederm.test"
    cli user add --email "$email" --name "Dr Consultant $c" --role consultant --organisation RQX "${services[@]}" --password-env LOAD_PASSWORD
    printf '%s{"email": "%s", "password": "%s"}\n' "$sep" "$email" "$password"
    sep=","
  done
  echo '], "service_admin": ['
  sep=""
  for a in 1 2; do
    email="service-admin$a@load.telederm.test"
    cli user add --email "$email" --name "Service admin $a" --role service_admin --organisation RQX "${services[@]}" --password-env LOAD_PASSWORD
    printf '%s{"email": "%s", "password": "%s"}\n' "$sep" "$email" "$password"
    sep=","
  done
  echo ']}'
} >"$accounts"
log "added 4 practices, 12 GPs, 4 consultants, 2 service admins"

TELEDERM_DATA_DIR="$work/node-b" TELEDERM_BIND="127.0.0.1:$port_b" "$binary" serve >"$work/node-b.out" 2>"$work/node-b.log" &
node_b=$!
pids+=("$node_b")
wait_http "http://127.0.0.1:$port_b/healthz" "$node_b" "node B (telederm serve)"
log "node B on port $port_b"

rss() { awk "/^$2:/{print \$2}" "/proc/$1/status"; }
# CPU time in clock ticks (user + system, all threads) of PID, with its waited-for children when
# $2 is set; pg_ticks: the PostgreSQL server's (the postmaster with the backends that ended, and
# the live ones). Taken before and after the load: who used the two cores.
ticks() { awk -v kids="${2:-}" '{ t = $14 + $15; if (kids != "") t += $16 + $17; print t }' "/proc/$1/stat"; }
pg_ticks() {
  local master total=0
  master="$(head -n 1 "$(psql -qAt "$admin_url" -c 'SHOW data_directory')/postmaster.pid")"
  total="$(ticks "$master" kids)"
  for child in $(cat "/proc/$master/task/$master/children" 2>/dev/null); do total=$((total + $(ticks "$child" 2>/dev/null || echo 0))); done
  echo "$total"
}
cpu_before="$(ticks "$node_a") $(ticks "$node_b") $(ticks "$moto") $(pg_ticks)"
rss_a="$(rss "$node_a" VmRSS)"
rss_b="$(rss "$node_b" VmRSS)"

# --- Load ---------------------------------------------------------------------------------------
spawn_rate="$(python3 -c "print(max(1.0, round($users / 60, 2)))")"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
# PostgreSQL's view, once a second: the database's sessions, the busy ones (not idle), those
# waiting on a lock, what the waiting ones run, and what every busy session waits for (e.g.
# Lock:transactionid, IO:WALSync, or Client:ClientRead for a transaction waiting on its node).
(
  while :; do
    psql -qAt -F $'\t' "$admin_url" -c "SELECT extract(epoch FROM now())::bigint, count(*),
      count(*) FILTER (WHERE state <> 'idle'), count(*) FILTER (WHERE wait_event_type = 'Lock'),
      coalesce(string_agg(regexp_replace(left(query, 80), '\s+', ' ', 'g'), ' | ') FILTER (WHERE wait_event_type = 'Lock'), ''),
      coalesce(string_agg(state || ':' || coalesce(wait_event_type || ':' || wait_event, 'CPU'), ' | ') FILTER (WHERE state <> 'idle'), '')
      FROM pg_stat_activity WHERE datname = '$db'" >>"$work/pg-activity.tsv" 2>/dev/null || true
    sleep 1
  done
) &
sampler=$!
pids+=("$sampler")
log "locust: $users users (spawned at $spawn_rate/s) for $minutes min"
locust_exit=0
TIMEFORMAT='%U %S'
{ time LOAD_REQUEST_LOG="$work/requests.csv" LOAD_HOSTS="http://127.0.0.1:$port_a,http://127.0.0.1:$port_b" LOAD_ACCOUNTS="$accounts" LOAD_PHOTOS="$work/photos" \
  "$venv/locust" -f bench/load/locustfile.py --headless --users "$users" --spawn-rate "$spawn_rate" \
  --run-time "${minutes}m" --stop-timeout 30 --csv "$work/locust" --only-summary --loglevel WARNING \
  >"$work/locust.out" 2>"$work/locust.log" || locust_exit=$?; } 2>"$work/locust.cpu"
kill "$sampler" 2>/dev/null || true
cpu_after="$(ticks "$node_a") $(ticks "$node_b") $(ticks "$moto") $(pg_ticks)"
# Each node's own timing of the uploads' stages (telederm_photo_intake_stage_seconds) and of
# the upload routes as the server saw them.
curl -sf "http://127.0.0.1:$port_a/metrics" >"$work/metrics-a.txt" || true
curl -sf "http://127.0.0.1:$port_b/metrics" >"$work/metrics-b.txt" || true

hwm_a="$(rss "$node_a" VmHWM)"
hwm_b="$(rss "$node_b" VmHWM)"

python3 - "$work/run.json" <<EOF
import json, os, re, subprocess, sys
def lines(path, level):
    try:
        text = [re.sub(r"\x1b\[[0-9;]*m", "", l).rstrip() for l in open(path, errors="replace")]
    except OSError:
        return []
    return [l for l in text if f" {level} " in l]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
version = subprocess.run(["$venv/locust", "--version"], capture_output=True, text=True).stdout.split()
run = {
    "csv_prefix": "$work/locust", "requests_log": "$work/requests.csv", "pg_activity": "$work/pg-activity.tsv", "users": $users, "minutes": $minutes, "binary": "$binary", "started": "$started",
    "machine": f"{cpu}, {os.cpu_count()} cores, {round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB",
    "load_before": "$load_before",
    "cpu_seconds": dict(zip(["node A", "node B", "S3 server (moto)", "PostgreSQL"],
        [(int(b) - int(a)) / os.sysconf("SC_CLK_TCK") for a, b in zip("$cpu_before".split(), "$cpu_after".split())]),
        **{"load generator (locust)": sum(float(x) for x in open("$work/locust.cpu").read().split()[-2:])}), "photos": [int(x) for x in "$photo_sizes".split(",")], "locust_exit": $locust_exit,
    "locust_version": version[1] if len(version) > 1 else "",
    "metrics": ["$work/metrics-a.txt", "$work/metrics-b.txt"],
    "nodes": [
        {"name": "A (demo)", "url": "http://127.0.0.1:$port_a", "rss_kb": $rss_a, "hwm_kb": $hwm_a, "log_errors": lines("$work/node-a.log", "ERROR"), "log_warnings": len(lines("$work/node-a.log", "WARN"))},
        {"name": "B (serve)", "url": "http://127.0.0.1:$port_b", "rss_kb": $rss_b, "hwm_kb": $hwm_b, "log_errors": lines("$work/node-b.log", "ERROR"), "log_warnings": len(lines("$work/node-b.log", "WARN"))},
    ],
}
json.dump(run, open(sys.argv[1], "w"))
EOF
if [ ! -s "$work/locust_stats.csv" ]; then
  cat "$work/locust.log" >&2
  log "locust wrote no statistics (exit $locust_exit)"
  exit 1
fi
python3 bench/load/summary.py "$work/run.json" | tee bench/load/latest.md
