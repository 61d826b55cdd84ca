#!/usr/bin/env bash
# Makes sure the real services the tests talk to are available on this machine:
#   postgres  PostgreSQL running on 127.0.0.1:5432 (Debian's cluster; installed with apt if missing)
#   python    a venv with moto's S3 server (`moto_server`) and aiosmtpd (an SMTP server), from PyPI
#   oidc      a real OpenID Connect provider (node-oidc-provider, e2e/oidc) via `npm ci`
#   schemathesis  a venv with schemathesis (API fuzzing against the OpenAPI document), from PyPI
#   faketime  Debian's faketime/libfaketime (runs the real binary under a clock in another year)
#   poppler   Debian's poppler-utils (pdftotext, pdfinfo, ...: the letter tests read the PDFs with them)
#   mesh      a venv with NHS Digital's MESH sandbox (mesh-sandbox) and fhir.resources (STU3 models,
#             the GP system's independent parser in crates/telederm/tests/mesh.rs), from PyPI
#   nasm      Debian's nasm, so the build compiles libjpeg-turbo's SIMD code (mozjpeg-sys uses it
#             when it is on PATH; without it the photo pipeline's JPEG work runs in plain C)
#   load      a venv with locust, Pillow and numpy for bench/load/run.sh (not a test: not in `all`)
# Usage: scripts/test-services.sh [postgres|python|oidc|schemathesis|faketime|poppler|mesh|nasm|load|all]   (default: all)
# Idempotent and quick on a warm machine; the tests call it themselves, so `cargo nextest run
# --workspace` works from a clean machine. Concurrent callers wait on a lock.
# Prints the venv's bin directory on its last line when asked for `python` or `schemathesis`, and
# the provider's directory when asked for `oidc`, the MESH venv's bin directory for `mesh`, and the
# load benchmark's venv's bin directory for `load`.
set -euo pipefail

what="${1:-all}"
tools="${TELEDERM_TEST_TOOLS:-$HOME/.cache/telederm-test-tools}"
mkdir -p "$tools"
exec 9>"$tools/.lock"
flock 9

log() { echo "test-services: $*" >&2; }

# Pinned so every machine tests against the same servers; bump deliberately.
python_packages=("moto[s3]==5.2.5" "flask==3.1.3" "flask-cors==6.0.5" "aiosmtpd==1.4.6")

pg_ready() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h 127.0.0.1 -p 5432
    else
        (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
    fi
}

ensure_postgres() {
    if pg_ready; then return 0; fi
    if [ ! -d /etc/postgresql ] || [ -z "$(ls -A /etc/postgresql 2>/dev/null)" ]; then
        log "installing PostgreSQL from Debian"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    fi
    for version in $(ls /etc/postgresql); do
        log "starting PostgreSQL $version"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
    done
    for _ in $(seq 1 60); do
        if pg_ready; then return 0; fi
        sleep 0.5
    done
    log "PostgreSQL did not come up on 127.0.0.1:5432"
    return 1
}

# A venv under $tools/NAME with exactly PACKAGES installed (a stamp file records them), made again
# when the list changes or a program in PROGRAMS (space-separated) is missing. Prints its bin dir.
ensure_venv() {
    local name="$1" programs="$2"
    shift 2
    local venv="$tools/$name" stamp="$tools/$name/.installed" ok=1 program
    for program in $programs; do [ -x "$venv/bin/$program" ] || ok=0; done
    if [ "$ok" = 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$*" ]; then
        echo "$venv/bin"
        return 0
    fi
    local started=$SECONDS
    log "installing $* into $venv"
    if ! python3 -m venv --help >/dev/null 2>&1; then
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
    fi
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check "$@" >&2
    echo "$*" >"$stamp"
    log "$name installed in $((SECONDS - started))s"
    echo "$venv/bin"
}

ensure_python() { ensure_venv venv "moto_server aiosmtpd" "${python_packages[@]}"; }

# Kept in its own venv: its dependencies (hypothesis, jsonschema, ...) need not agree with moto's.
schemathesis_packages=("schemathesis==4.32.5")

ensure_schemathesis() { ensure_venv schemathesis-venv "st" "${schemathesis_packages[@]}"; }

# Kept in its own venv: the sandbox pins its own FastAPI/pydantic stack.
mesh_packages=("mesh-sandbox==1.0.137" "fhir.resources==8.3.0")

ensure_mesh() { ensure_venv mesh-venv "python" "${mesh_packages[@]}"; }

# The load benchmark's tools (bench/load): kept in their own venv, as locust pins gevent and friends.
load_packages=("locust==2.47.0" "pillow==13.0.0" "numpy==2.4.6")

ensure_load() { ensure_venv load-venv "locust" "${load_packages[@]}"; }

ensure_oidc() {
    local dir
    dir="$(cd "$(dirname "$0")/../e2e/oidc" && pwd)"
    if [ ! -d "$dir/node_modules/oidc-provider" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        if ! command -v npm >/dev/null 2>&1; then
            apt-get update -qq >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
        fi
        log "installing the OpenID Connect test provider (npm ci in $dir)"
        (cd "$dir" && npm ci --no-audit --no-fund >&2)
    fi
    echo "$dir"
}

ensure_faketime() {
    if command -v faketime >/dev/null 2>&1; then return 0; fi
    log "installing faketime from Debian"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >&2
}

ensure_nasm() {
    if command -v nasm >/dev/null 2>&1; then return 0; fi
    log "installing nasm from Debian (libjpeg-turbo's SIMD code)"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nasm >&2
}

case "$what" in
    postgres) ensure_postgres ;;
    python | s3 | smtp) ensure_python ;;
    oidc) ensure_oidc ;;
    schemathesis) ensure_schemathesis ;;
    faketime) ensure_faketime ;;
    poppler) bash "$(dirname "$0")/ensure-poppler.sh" ;;
    mesh) bash "$(dirname "$0")/ensure-poppler.sh"; ensure_mesh ;;
    nasm) ensure_nasm ;;
    load) ensure_load ;;
    all) ensure_postgres; ensure_python; ensure_oidc >/dev/null; ensure_schemathesis >/dev/null; ensure_faketime; ensure_nasm; bash "$(dirname "$0")/ensure-poppler.sh"; ensure_mesh >/dev/null ;;
    *) echo "usage: $0 [postgres|python|oidc|schemathesis|faketime|poppler|mesh|nasm|load|all]" >&2; exit 2 ;;
esac
