#!/usr/bin/env bash
# Makes sure poppler's command-line tools (Debian poppler-utils: pdftotext, pdftoppm, pdfinfo,
# pdffonts) are installed; the letter tests read the PDFs with them. Installs the package with
# apt-get when one is missing.
set -euo pipefail
tools=(pdftotext pdftoppm pdfinfo pdffonts)
missing() { for t in "${tools[@]}"; do command -v "$t" >/dev/null || return 0; done; return 1; }
if ! missing; then
  exit 0
fi
# Tests run in parallel: one installs, the others wait for it (and apt waits for other apt users).
exec 9>"${TMPDIR:-/tmp}/telederm-ensure-poppler.lock"
flock 9
if ! missing; then
  exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
wait_lock=(-o DPkg::Lock::Timeout=600)
$sudo apt-get "${wait_lock[@]}" update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get "${wait_lock[@]}" install -y -qq poppler-utils >/dev/null
! missing
