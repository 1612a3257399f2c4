#!/usr/bin/env bash
# CI: every cargo-fuzz target in fuzz/ runs briefly (SEEN_FUZZ_SECONDS each, default 20) from a copy of its
# committed corpus, after replaying the saved crash inputs in fuzz/regressions/TARGET. Any crash fails.
# Needs the nightly toolchain; installs cargo-fuzz when it is missing.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz-ci: missing prerequisite: the nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked >/dev/null 2>&1 || {
        echo "fuzz-ci: missing prerequisite: cargo-fuzz (cargo install cargo-fuzz failed)" >&2
        exit 1
    }
fi

seconds="${SEEN_FUZZ_SECONDS:-20}"
cargo +nightly fuzz build -O
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in $(cargo +nightly fuzz list); do
    echo "== fuzz $target (${seconds} s)"
    # New inputs go to the scratch copy: CI never changes the committed corpus.
    mkdir -p "$scratch/$target"
    cp -R "corpus/$target/." "$scratch/$target/"
    dirs=("$scratch/$target")
    if [ -d "regressions/$target" ]; then
        dirs+=("regressions/$target")
    fi
    if ! cargo +nightly fuzz run -O "$target" "${dirs[@]}" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        >"$scratch/$target.log" 2>&1; then
        tail -n 60 "$scratch/$target.log"
        echo "fuzz-ci: $target failed (the crashing input is in fuzz/artifacts/$target)" >&2
        exit 1
    fi
    grep -E "^(Done|stat::number_of_executed_units)" "$scratch/$target.log" || true
done
