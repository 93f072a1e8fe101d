#!/usr/bin/env bash
# Size and launch → first-IPC latency of the Millennium example (`hello`) against a bare wry + tao app
# (`raw_wry`, the floor), both built with the same size-optimised release settings and stripped.
#
#   RUNS=N   launches per app for the latency median (default 5)
#
# Needs WebKitGTK 4.1, xvfb-run. Prints a table on stdout. (A Tauri v2 build of the same page is still to be added.)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${RUNS:-5}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" WEBKIT_DISABLE_DMABUF_RENDERER=1
target="$PWD/target/bench-runtime"
settings=(--release --config 'profile.release.opt-level="s"' --config 'profile.release.lto=true'
    --config 'profile.release.codegen-units=1' --config 'profile.release.panic="abort"'
    --config 'profile.release.strip=true' --target-dir "$target")

cargo build "${settings[@]}" -p millennium-example-hello --bin hello >&2
cargo build "${settings[@]}" -p millennium-runtime-webview --example raw_wry >&2

latency() { # binary -> median first-ipc-ms over $runs launches
    local bin=$1 i out values=()
    for ((i = 0; i < runs; i++)); do
        out=$(MILLENNIUM_SELFTEST=1 xvfb-run -a -s "-screen 0 1024x768x24" "$bin" 2>/dev/null)
        values+=("$(sed -n 's/^first-ipc-ms //p' <<<"$out")")
    done
    printf '%s\n' "${values[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p"
}

hello="$target/release/hello" raw="$target/release/examples/raw_wry"
hello_size=$(stat -c %s "$hello") raw_size=$(stat -c %s "$raw")
hello_ms=$(latency "$hello") raw_ms=$(latency "$raw")
printf '%-22s %12s %18s\n' app "size (KiB)" "first IPC (ms)"
printf '%-22s %12d %18s\n' "millennium hello" $((hello_size / 1024)) "$hello_ms"
printf '%-22s %12d %18s\n' "raw wry + tao" $((raw_size / 1024)) "$raw_ms"
awk -v a="$hello_size" -v b="$raw_size" -v c="$hello_ms" -v d="$raw_ms" \
    'BEGIN { printf "ratio: size %.2fx, latency %.2fx (millennium / raw)\n", a / b, c / d }'
