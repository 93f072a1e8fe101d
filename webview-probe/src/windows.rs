//! WebView2 (Windows): the Evergreen Runtime's version is the `pv` value of its EdgeUpdate client key, per machine
//! (64-bit and 32-bit registry views) or per user. Missing, empty or `0.0.0.0` means not installed.
//!
//! Read through `reg.exe query` (part of every Windows since XP) so the parsing is plain text, tested on every
//! platform, and no registry binding is needed.

use crate::WebviewVersion;

/// The EdgeUpdate client id of the WebView2 Evergreen Runtime.
pub const RUNTIME_CLIENT_ID: &str = "{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}";

/// The registry keys that may hold the runtime's `pv`, in the order Microsoft's documentation lists them.
#[must_use]
pub fn registry_keys() -> [String; 3] {
    [
        format!(r"HKLM\SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients\{RUNTIME_CLIENT_ID}"),
        format!(r"HKLM\SOFTWARE\Microsoft\EdgeUpdate\Clients\{RUNTIME_CLIENT_ID}"),
        format!(r"HKCU\Software\Microsoft\EdgeUpdate\Clients\{RUNTIME_CLIENT_ID}"),
    ]
}

/// The `pv` value in the output of `reg query KEY /v pv`, when it names an installed runtime.
#[must_use]
pub fn parse_reg_query(output: &str) -> Option<WebviewVersion> {
    output.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        match (fields.next(), fields.next(), fields.next()) {
            (Some(name), Some("REG_SZ"), Some(value)) if name.eq_ignore_ascii_case("pv") => {
                value.parse::<WebviewVersion>().ok().filter(|v| v.parts().iter().any(|&p| p != 0))
            }
            _ => None,
        }
    })
}

#[cfg(windows)]
pub(crate) fn webview2_version() -> Result<WebviewVersion, String> {
    for key in registry_keys() {
        let output = std::process::Command::new("reg").args(["query", &key, "/v", "pv"]).output();
        match output {
            Ok(output) if output.status.success() => {
                if let Some(version) = parse_reg_query(&String::from_utf8_lossy(&output.stdout)) {
                    return Ok(version);
                }
            }
            Ok(_) => {}
            Err(error) => return Err(format!("`reg query` could not run: {error}")),
        }
    }
    Err("the WebView2 Runtime is not installed (no EdgeUpdate `pv` value)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pv_from_reg_query_output() {
        let output = "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Microsoft\\EdgeUpdate\\Clients\\\
                      {F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}\r\n    pv    REG_SZ    124.0.2478.80\r\n\r\n";
        assert_eq!(parse_reg_query(output).unwrap().to_string(), "124.0.2478.80");
    }

    #[test]
    fn zero_empty_or_absent_pv_is_not_installed() {
        assert!(parse_reg_query("    pv    REG_SZ    0.0.0.0\r\n").is_none());
        assert!(parse_reg_query("    pv    REG_SZ\r\n").is_none());
        assert!(parse_reg_query("    name    REG_SZ    Microsoft Edge WebView2 Runtime\r\n").is_none());
        assert!(parse_reg_query("").is_none());
    }

    #[test]
    fn keys_cover_both_views_and_per_user() {
        let keys = registry_keys();
        assert!(keys[0].contains("WOW6432Node") && keys[2].starts_with("HKCU"));
        assert!(keys.iter().all(|k| k.ends_with(RUNTIME_CLIENT_ID)));
    }
}
