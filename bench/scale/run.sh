#!/usr/bin/env bash
# Scale benchmark (issue 7): worklist and referral-search latency on SQLite and PostgreSQL at
# 10,000 and 1,000,000 referrals, and sustained submissions with photos through the HTTP API.
# Not a test: never run by scripts/test.sh. Needs PostgreSQL on 127.0.0.1:5432 (started by
# scripts/test-services.sh postgres). Extra arguments go to the benchmark, e.g.
#   bench/scale/run.sh --sizes 10000,100000 --dialects sqlite --submit-seconds 10
# Results are printed as Markdown and kept in bench/scale/latest.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/test-services.sh postgres >/dev/null
cargo build --release -p telederm --bin telederm --example bench_scale
target="${CARGO_TARGET_DIR:-target}"
"$target/release/examples/bench_scale" --telederm "$target/release/telederm" "$@" | tee bench/scale/latest.md
