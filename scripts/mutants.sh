#!/usr/bin/env bash
# Mutation testing (issue 19): how many wrong answers the tests catch, with cargo-mutants
# (crates.io), on the code whose rules decide care: the domain's eligibility, working-day calendar,
# NHS numbers, outcomes, referral state machine and retention; the audit chain in the store; the
# access table in the application layer. Slow (each mutant is a build and a test run), so it is not
# part of scripts/test.sh.
#
# Usage: scripts/mutants.sh [-j JOBS] [--in-place] [FILE...]
#   FILE defaults to the whole set below; JOBS (default 1) mutants are built and tested at once.
#   By default each package is mutated in a scratch copy of this tree made by this script
#   (/tmp/telederm-mutants.*, removed at the end): the sources and target/debug, copied with their
#   times kept (`cp -a`), so cargo finds most dependencies already built and rebuilds mainly the
#   workspace's own crates (whose paths differ): a first build of 4-10 minutes here. cargo-mutants'
#   own copy (`--copy-target`) gives every file the time of the copy, which makes build scripts'
#   outputs newer than their fingerprints and rebuilds the dependencies too; it is used only for
#   -j > 1, which needs one copy per job. cargo-mutants runs with --in-place inside the scratch copy.
#   --in-place (one mutant at a time) mutates this tree itself and builds in its target/ (do not
#   edit or build in it meanwhile; each file is restored after its mutant).
#   Each package's results land in target/mutants/<package>/mutants.out/ (caught.txt, missed.txt,
#   unviable.txt, timeout.txt, outcomes.json: one run per package, so one baseline build); a table
#   of caught / missed / timeout / unviable per file is printed at the end, with the share of
#   viable mutants caught.
#
# The tests run for a mutant are those of the package holding the file, with cargo-nextest, narrowed
# per package where the package's whole suite is minutes per mutant (see `narrow` below): only the
# test binaries that cover the file are built (`--test NAME`, also for the baseline) and only the
# tests a filter expression selects run. Narrowed runs build with --workspace, so the dependencies'
# features are those of this tree's workspace build and their copies are reused. Failing tests stop
# the run at once (nextest profile `mutants`, .config/nextest.toml). Exit status: 0 when every
# viable mutant was caught, 2 when some were missed or timed out, 1 when cargo-mutants could not
# run (e.g. the unmutated tests failed).
#
# Extra arguments for cargo-mutants itself (e.g. `--iterate` to re-test only the mutants the last
# run missed, or `--re REGEX`) can be given in MUTANTS_ARGS.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

version=27.1.0
jobs=1
in_place=()
files=()
while [ $# -gt 0 ]; do
    case "$1" in
        -j|--jobs) jobs="$2"; shift 2 ;;
        --in-place) in_place=(--in-place); shift ;;
        -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
        -*) echo "usage: $0 [-j JOBS] [--in-place] [FILE...]" >&2; exit 2 ;;
        *) files+=("$1"); shift ;;
    esac
done
if [ "${#files[@]}" -eq 0 ]; then
    files=(
        crates/domain/src/eligibility.rs
        crates/domain/src/calendar.rs
        crates/domain/src/nhs_number.rs
        crates/domain/src/outcome.rs
        crates/domain/src/referral.rs
        crates/domain/src/retention.rs
        crates/store/src/audit.rs
        crates/app/src/access.rs
    )
fi

if ! cargo mutants --version 2>/dev/null | grep -q "$version"; then
    echo "installing cargo-mutants $version (cargo install --locked)"
    cargo install --locked "cargo-mutants@$version"
fi
command -v cargo-nextest >/dev/null || { echo "cargo-nextest is needed (the workspace's test runner)" >&2; exit 1; }

# The package a file belongs to: the name in the nearest Cargo.toml above it.
package_of() {
    local dir
    dir="$(dirname "$1")"
    while [ "$dir" != "." ] && [ ! -f "$dir/Cargo.toml" ]; do dir="$(dirname "$dir")"; done
    sed -n 's/^name *= *"\(.*\)"/\1/p' "$dir/Cargo.toml" | head -n 1
}

# Which tests run for a mutant of a package: nextest's `--test` options (the test binaries built
# and run) and a filter expression over their tests. A package not listed runs all its tests.
#   telederm-app: access.rs is pure; the app's own rules for it are crates/app/tests/access_table.rs
#     (the app's other tests do not call it; the HTTP suites that also do are minutes per mutant).
#   telederm-store: audit.rs through the audit tests (the chain, verification, search) and
#     atomic_audit.rs (a change and its entry commit together), on SQLite only: the PostgreSQL
#     half of each test runs the same code but for the dialect's SQL text, which is not mutated.
narrow() {
    case "$1" in
        telederm-app) echo "--test=access_table|" ;;
        telederm-store) echo "--test=audit --test=atomic_audit|test(/(^|::)sqlite::/)" ;;
        *) echo "|" ;;
    esac
}

# Lines of a cargo-mutants list that are mutants of one file.
count() { if [ -f "$1" ]; then grep -c "^$2:" "$1" || true; else echo 0; fi; }

# One cargo-mutants run per package (one copy of the tree and one baseline build for all its
# files), then a line of figures per file.
packages=()
for file in "${files[@]}"; do
    [ -f "$file" ] || { echo "no such file: $file" >&2; exit 2; }
    p="$(package_of "$file")"
    case " ${packages[*]} " in *" $p "*) ;; *) packages+=("$p") ;; esac
done

status=0
summary=()
scratch=
trap 'if [ -n "${scratch:-}" ]; then rm -rf "$scratch"; fi' EXIT
for package in "${packages[@]}"; do
    mine=()
    for file in "${files[@]}"; do [ "$(package_of "$file")" = "$package" ] && mine+=("$file"); done
    out="target/mutants/$package"
    mkdir -p "$out"
    echo "==> ${mine[*]} (package $package), $jobs job(s); results in $out/mutants.out"
    file_args=()
    for file in "${mine[@]}"; do file_args+=(--file "$file"); done
    set +e
    # cargo-mutants refuses --jobs (and --copy-target) with --in-place (one tree can hold one
    # mutant at a time).
    tree=(--dir "$root")
    if [ "${#in_place[@]}" -gt 0 ]; then
        parallel=(--in-place)
    elif [ "$jobs" -gt 1 ]; then
        parallel=(--jobs "$jobs" --copy-target=true)
    else
        scratch="$(mktemp -d /tmp/telederm-mutants.XXXXXX)"
        echo "    copying the tree and target/debug to $scratch (times kept)"
        for entry in "$root"/* "$root"/.[!.]*; do
            case "$(basename "$entry")" in target|.git) ;; *) cp -a "$entry" "$scratch/" ;; esac
        done
        mkdir -p "$scratch/target"
        [ -d "$root/target/debug" ] && cp -a "$root/target/debug" "$scratch/target/"
        tree=(--dir "$scratch")
        parallel=(--in-place)
    fi
    IFS='|' read -r targets filter <<<"$(narrow "$package")"
    test_args=(--cargo-test-arg=--profile=mutants)
    for t in $targets; do test_args+=("--cargo-arg=$t"); done
    # Selected by `--test`, the binaries are built as part of the workspace (cargo-mutants'
    # --test-workspace, cargo's --workspace): with `--package` alone cargo resolves the
    # dependencies' features for that package only, which can differ from the workspace build
    # that filled target/debug.
    if [ -n "$targets" ]; then test_args+=(--test-workspace=true); fi
    if [ -n "$filter" ]; then test_args+=(--cargo-test-arg=-E "--cargo-test-arg=$filter"); fi
    echo "    tests: ${targets:-every test binary of the package}, ${filter:-every test}"
    # shellcheck disable=SC2086 # MUTANTS_ARGS is a list of words on purpose
    cargo mutants "${tree[@]}" --package "$package" "${file_args[@]}" --test-tool nextest --output "$root/$out" \
        --no-shuffle "${parallel[@]}" "${test_args[@]}" ${MUTANTS_ARGS:-}
    rc=$?
    if [ -n "${scratch:-}" ]; then rm -rf "$scratch"; scratch=; fi
    set -e
    case "$rc" in
        0) ;;
        2|3) status=2 ;;
        *) echo "cargo-mutants failed on $package (exit $rc): see $out/mutants.out/debug.log" >&2; exit 1 ;;
    esac
    m="$out/mutants.out"
    for file in "${mine[@]}"; do
        caught=$(count "$m/caught.txt" "$file"); missed=$(count "$m/missed.txt" "$file")
        timeout=$(count "$m/timeout.txt" "$file"); unviable=$(count "$m/unviable.txt" "$file")
        viable=$((caught + missed + timeout))
        share="-"
        if [ "$viable" -gt 0 ]; then share="$(awk -v c="$caught" -v v="$viable" 'BEGIN { printf "%.1f%%", 100 * c / v }')"; fi
        summary+=("$(printf '%-36s %7s %7s %8s %9s %9s' "$file" "$caught" "$missed" "$timeout" "$unviable" "$share")")
    done
done

echo
printf '%-36s %7s %7s %8s %9s %9s\n' file caught missed timeout unviable "caught %"
for line in "${summary[@]}"; do echo "$line"; done
echo "(caught % = caught / (caught + missed + timeout); the missed mutants are listed in each missed.txt)"
exit "$status"
