//! napi-rs's link settings for a Node addon (on macOS: undefined Node symbols resolved at load time).

fn main() {
    napi_build::setup();
}
