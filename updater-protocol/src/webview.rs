//! The system webview on the wire: the versions a release requires (`min_webview_version`, one per backend) and the
//! `X-Millennium-Webview` header in which the updater reports the webview it runs with.
//!
//! The grammar and the types are `millennium-webview-version`'s, re-exported whole: apps check their webview with
//! that leaf crate alone, without compiling this one, and the rule exists once. Only what ties a webview to an update
//! target is added here: the [`Backend`] of an [`Os`].

pub use millennium_webview_version::*;

use crate::Os;

impl From<Os> for Backend {
    /// The backend of an update target's operating system.
    fn from(os: Os) -> Self {
        match os {
            Os::Linux => Self::Webkitgtk,
            Os::Windows => Self::Webview2,
            Os::Darwin => Self::Wkwebview,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_operating_system_has_its_backend() {
        assert_eq!(Backend::from(Os::Linux), Backend::Webkitgtk);
        assert_eq!(Backend::from(Os::Windows), Backend::Webview2);
        assert_eq!(Backend::from(Os::Darwin), Backend::Wkwebview);
    }
}
