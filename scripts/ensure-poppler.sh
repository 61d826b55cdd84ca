#!/usr/bin/env bash
# Makes sure pdftoppm and pdftotext (Debian poppler-utils) are installed; the letter tests render
# PDFs to PNG with them. Installs the package with apt-get when they are missing.
set -euo pipefail
if command -v pdftoppm >/dev/null && command -v pdftotext >/dev/null; then
  exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq poppler-utils >/dev/null
command -v pdftoppm >/dev/null
