#!/usr/bin/env bash
# Parses every resource of one or more FHIR JSON files (Bundles or single resources) with an
# independent FHIR library: Python `fhir.resources` (R4B models). Installs it into a venv on first
# use, so a clean machine needs only python3 with venv and network access to PyPI.
#
#   scripts/fhir-validate.sh FILE...
#
# Exit status 0 when every resource parses; otherwise prints each failure and exits 1.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${TELEDERM_FHIR_VENV:-$here/.venv-fhir}"
version="${FHIR_RESOURCES_VERSION:-8.1.0}"

if ! "$venv/bin/python" -c 'import fhir.resources.R4B' >/dev/null 2>&1; then
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian's python3 ships venv separately.
    if command -v apt-get >/dev/null; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv) >/dev/null
    fi
    python3 -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "fhir.resources==$version" >&2
fi

exec "$venv/bin/python" "$here/scripts/fhir_validate.py" "$@"
