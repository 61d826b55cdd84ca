#!/usr/bin/env bash
# Telederm image intake benchmark: Telederm vs pyvips vs Pillow on the same
# generated 12 MP phone photos, same steps. Prints ms per image and ratios.
# Usage: bench/imaging/run.sh [--iters N]     (needs python3 with venv; network to PyPI)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="${BENCH_OUT:-$ROOT/bench/out/imaging}"
ITERS="${2:-9}"
[ "${1:-}" = "--iters" ] || ITERS=9
mkdir -p "$OUT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

if [ ! -x "$OUT/venv/bin/python" ]; then
  python3 -m venv "$OUT/venv"
fi
"$OUT/venv/bin/pip" install -q --disable-pip-version-check pillow pyvips pyvips-binary numpy

cargo build -q --release -p telederm-imaging --example bench_intake
BIN="$CARGO_TARGET_DIR/release/examples/bench_intake"
if [ ! -f "$OUT/images/phone_VI_o6.jpg" ]; then
  "$BIN" gen "$OUT/images"
fi
IMGS=("$OUT"/images/phone_*.jpg)
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$BIN" time --iters "$ITERS" "${IMGS[@]}" > "$OUT/rust.json"
"$OUT/venv/bin/python" "$HERE/pipelines.py" --iters "$ITERS" "${IMGS[@]}" > "$OUT/python.json"
"$BIN" rss "$OUT/images/phone_IV_o1.jpg" > "$OUT/rss.json"
"$BIN" rss "$OUT/images/phone_IV_o6.jpg" > "$OUT/rss6.json"
"$OUT/venv/bin/python" "$HERE/report.py" "$OUT/rust.json" "$OUT/python.json" "$OUT/rss.json" "$OUT/rss6.json" | tee "$OUT/report.txt"
