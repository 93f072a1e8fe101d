# Shared by the benchmarks (sourced, not run): the `--smoke` mode, where the build is, and which binaries to run.
#
#   source "$(dirname "$0")/lib/bench.sh"   # first thing, before any `cd`: see bench_target_dir
#   bench_target_dir                        # sets TARGET_DIR, the absolute build directory, and BENCH_ROOT
#   bench_require HINT TOOL...              # exits 2 naming the first missing tool and HINT (the apt packages)
#   bench_binary VAR PACKAGE [--bin NAME | --example NAME]
#                                           # sets VAR to the binary: a release build (built now), or in smoke
#                                           # mode the dev-profile binary the test build already made
#   bench_time FORMAT CMD...                # prints /usr/bin/time's FORMAT line for CMD; stops if CMD fails
#   bench_smoke_note                        # in smoke mode, says loudly that the figures mean nothing
#
# Smoke mode (SMOKE=1, set by each script's `--smoke`) is for the test suite: tiny sizes, one run, and the dev-profile
# binaries of `cargo test --workspace` instead of a release build, which CI cannot afford. It proves that the script
# still runs end to end; its figures are not meaningful.

SMOKE=${SMOKE:-0}

# Where cargo builds: CARGO_TARGET_DIR as the caller meant it (a relative one is relative to the caller's working
# directory, which the scripts leave with `cd`), else the workspace's `target`. Always absolute, so that it still
# names the same place after a `cd`, and `$(pwd)/$TARGET_DIR` mistakes cannot happen.
bench_target_dir() {
    BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
        TARGET_DIR=$(realpath -m -- "$CARGO_TARGET_DIR")
    else
        TARGET_DIR=$BENCH_ROOT/target
    fi
}

bench_require() {
    local hint=$1 tool
    shift
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "error: \`$tool\` is missing
hint: $hint" >&2; exit 2; }
    done
}

bench_binary() {
    local var=$1 package=$2 kind=${3:-} name=${4:-} sub="" path
    local args=(--locked --quiet -p "$package")
    case "$kind" in
        --bin) args+=(--bin "$name") ;;
        --example) args+=(--example "$name") sub=examples/ ;;
        "") name=$package ;;
        *) echo "bench_binary: unknown kind $kind" >&2; exit 2 ;;
    esac
    if [[ "$SMOKE" == 1 ]]; then
        path=$TARGET_DIR/debug/$sub$name
        [[ -x "$path" ]] || {
            echo "error: smoke mode runs the dev-profile binaries of the test build, and \`$path\` is missing
hint: build it first: \`cargo build ${args[*]}\` (or \`cargo test --workspace\`), with the same CARGO_TARGET_DIR" >&2
            exit 2
        }
    else
        (cd "$BENCH_ROOT" && cargo build --release --target-dir "$TARGET_DIR" "${args[@]}") >&2
        path=$TARGET_DIR/release/$sub$name
    fi
    printf -v "$var" '%s' "$path"
}

bench_time() {
    local format=$1 out times
    shift
    out=$(mktemp) times=$(mktemp)
    # A failed command's time is no measurement: show why it failed and stop, instead of timing an error.
    if ! /usr/bin/time -o "$times" -f "$format" "$@" >"$out" 2>&1; then
        echo "error: \`$*\` failed:" >&2
        cat "$out" >&2
        rm -f "$out" "$times"
        exit 1
    fi
    tail -n1 "$times"
    rm -f "$out" "$times"
}

bench_smoke_note() {
    if [[ "$SMOKE" == 1 ]]; then
        echo "SMOKE RUN: dev-profile binaries, tiny inputs, one run; these figures are not meaningful and no target is judged"
    fi
}
