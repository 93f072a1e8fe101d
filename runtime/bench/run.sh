#!/usr/bin/env bash
# The runtime benchmark: the same hello-world app built three ways, with the same size-optimised release settings
# (opt-level "s", fat LTO, 1 codegen unit, panic = abort) and stripped:
#
#   millennium hello   runtime/examples/hello
#   tauri v2 hello     runtime/bench/tauri-hello: the published `tauri` 2.x crate with the smallest feature set it
#                      allows, the very same page files and commands (its own workspace; the test suite never builds it)
#   raw wry + tao      runtime/webview/examples/raw_wry: no framework at all, the floor
#
# It prints each stripped binary's size and its launch → first-IPC latency (median over RUNS launches each under Xvfb, taken in turns):
# the time from the start of `main` until the page, holding the reply to its first command, reports back (each app
# prints `first-ipc-ms N` with MILLENNIUM_SELFTEST=1), then the ratios millennium / tauri against the issue's targets
# (size ≤ 0.8×, latency ≤ 1.0×). Latency on a shared machine is noisy: compare medians over several runs.
#
#   RUNS=N              launches per app for the latency median (default 5)
#   BENCH_TARGET_DIR=D  where to build (default $CARGO_TARGET_DIR/bench-runtime, or target/bench-runtime)
#   --smoke             one launch each of the dev-profile `hello` and `raw_wry` the test build made
#                       (scripts/lib/bench.sh); the Tauri app is not built (its own workspace, minutes of build) and
#                       the output says so. It proves the script runs; its figures are not meaningful.
#
# Needs: libwebkit2gtk-4.1-dev (it brings libsoup-3.0-dev and libjavascriptcoregtk-4.1-dev, which Tauri also links),
# libgtk-3-dev, pkg-config, xvfb, xauth; and crates.io access for the Tauri app's first build (several minutes on two
# cores). Exits 1 if an app fails to build or to report; missing the targets is reported, not an error.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib/bench.sh"
bench_target_dir
[[ -z "${BENCH_TARGET_DIR:-}" ]] || BENCH_TARGET_DIR=$(realpath -m -- "$BENCH_TARGET_DIR")
cd "$(dirname "$0")/../.."
runs="${RUNS:-5}"
while (($#)); do
    case "$1" in
        --smoke) SMOKE=1 runs=1; shift ;;
        *) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
    esac
done
bench_require "apt-get install -y xvfb xauth libwebkit2gtk-4.1-dev" xvfb-run
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" WEBKIT_DISABLE_DMABUF_RENDERER=1
target="${BENCH_TARGET_DIR:-$TARGET_DIR/bench-runtime}"
settings=(--release --config 'profile.release.opt-level="s"' --config 'profile.release.lto=true'
    --config 'profile.release.codegen-units=1' --config 'profile.release.panic="abort"'
    --config 'profile.release.strip=true' --target-dir "$target")

bench_smoke_note >&2
if [[ "$SMOKE" == 1 ]]; then
    bench_binary hello millennium-example-hello --bin hello
    bench_binary raw millennium-runtime-webview --example raw_wry
    tauri=""
    target=$(mktemp -d)
    trap 'rm -rf "$target"' EXIT
    echo "smoke run: tauri v2 hello is not built (its own workspace; minutes of build) and not measured" >&2
else
    cargo build "${settings[@]}" -p millennium-example-hello --bin hello >&2
    cargo build "${settings[@]}" --manifest-path runtime/bench/tauri-hello/Cargo.toml --locked >&2
    cargo build "${settings[@]}" -p millennium-runtime-webview --example raw_wry >&2
    hello="$target/release/hello" tauri="$target/release/tauri-hello" raw="$target/release/examples/raw_wry"
fi

launch() { # binary -> its first-ipc-ms, from one launch under Xvfb
    local bin=$1 out value
    out=$(MILLENNIUM_SELFTEST=1 xvfb-run -a -s "-screen 0 1024x768x24" "$bin" 2>"$target/bench-stderr") || true
    value=$(sed -n 's/^first-ipc-ms //p' <<<"$out")
    if [[ -z "$value" ]]; then
        echo "error: $bin did not report its first IPC; its stderr:" >&2
        cat "$target/bench-stderr" >&2
        exit 1
    fi
    echo "$value"
}
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }

hello_size=$(stat -c %s "$hello") raw_size=$(stat -c %s "$raw")
# Round robin, so that a change in the machine's load during the run weighs on all three alike.
hello_runs=() tauri_runs=() raw_runs=()
for ((i = 0; i < runs; i++)); do
    hello_runs+=("$(launch "$hello")")
    [[ -z "$tauri" ]] || tauri_runs+=("$(launch "$tauri")")
    raw_runs+=("$(launch "$raw")")
done
echo "first-ipc-ms per launch: hello ${hello_runs[*]}; tauri ${tauri_runs[*]:-(not run)}; raw ${raw_runs[*]}" >&2
hello_ms=$(median "${hello_runs[@]}") raw_ms=$(median "${raw_runs[@]}")
bench_smoke_note
printf '%-22s %12s %18s\n' app "size (KiB)" "first IPC (ms)"
printf '%-22s %12d %18s\n' "millennium hello" $((hello_size / 1024)) "$hello_ms"
if [[ -n "$tauri" ]]; then
    tauri_size=$(stat -c %s "$tauri") tauri_ms=$(median "${tauri_runs[@]}")
    printf '%-22s %12d %18s\n' "tauri v2 hello" $((tauri_size / 1024)) "$tauri_ms"
fi
printf '%-22s %12d %18s\n' "raw wry + tao" $((raw_size / 1024)) "$raw_ms"
if [[ -n "$tauri" ]]; then
    awk -v a="$hello_size" -v t="$tauri_size" -v am="$hello_ms" -v tm="$tauri_ms" 'BEGIN {
        s = a / t; l = am / tm
        printf "millennium / tauri: size %.2fx (target <= 0.80x: %s), latency %.2fx (target <= 1.00x: %s)\n",
            s, s <= 0.8 ? "met" : "MISSED", l, l <= 1.0 ? "met" : "MISSED"
    }'
else
    echo "millennium / tauri: not measured (smoke run)"
fi
awk -v a="$hello_size" -v r="$raw_size" -v am="$hello_ms" -v rm="$raw_ms" \
    'BEGIN { printf "millennium / raw:   size %.2fx, latency %.2fx\n", a / r, am / rm }'
