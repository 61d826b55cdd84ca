#!/usr/bin/env bash
# Fairness benchmark of the photo gate: the tone x lighting x defect set (10 Monk Skin Tone
# swatches and Fitzpatrick I-VI; daylight, warm indoor, shade, flash; no defect, defocus, motion
# blur, -2 EV, +2 EV; exposure faults with and without the camera's EXIF exposure record), each
# photo a q92 JPEG through `check()`. Prints the per-tone table that docs/imaging.md shows.
# Nothing is written to disk.
#
# Usage: bench/imaging/fairness.sh [--size WxH] [--seeds N] [--tones MST9,FST6,...] [--detail]
#   default size 1600x1200 (City & Hackney's "Large"); --detail adds every photo's metrics.
#   PROFILE=dev uses the dev profile (the imaging crate is built at opt-level 3 there too, and the
#   figures are the same; only the time differs).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
PROFILE="${PROFILE:-release}"
if [ "$PROFILE" = release ]; then
  cargo run -q --release -p telederm-imaging --example fairness -- "$@"
else
  cargo run -q -p telederm-imaging --example fairness -- "$@"
fi
