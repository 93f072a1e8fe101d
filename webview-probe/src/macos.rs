//! WKWebView (macOS) is part of the operating system and is updated with it, so its version is the macOS version
//! (`sw_vers -productVersion`), and an app's `min_webview_version` on macOS is a macOS version.

use crate::WebviewVersion;

/// The version in the output of `sw_vers -productVersion` (`14.5`, `15.0.1`).
#[must_use]
pub fn parse_sw_vers(output: &str) -> Option<WebviewVersion> {
    output.trim().parse().ok()
}

#[cfg(target_os = "macos")]
pub(crate) fn macos_version() -> Result<WebviewVersion, String> {
    let output = std::process::Command::new("sw_vers")
        .arg("-productVersion")
        .output()
        .map_err(|error| format!("`sw_vers` could not run: {error}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse_sw_vers(&text).ok_or_else(|| format!("`sw_vers -productVersion` printed `{}`", text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_product_version() {
        assert_eq!(parse_sw_vers("14.5\n").unwrap().to_string(), "14.5");
        assert_eq!(parse_sw_vers("15.0.1\n").unwrap().to_string(), "15.0.1");
        assert!(parse_sw_vers("").is_none());
    }
}
