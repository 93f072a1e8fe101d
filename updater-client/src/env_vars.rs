//! Every environment variable the updater reads, in one place.

/// Overrides the state directory (install id, downloads, rollback record). Tests and portable installs use it.
pub const STATE_DIR: &str = "MILLENNIUM_UPDATER_STATE_DIR";

/// Set by the AppImage runtime to the path of the running `.AppImage` file: the file an AppImage update replaces.
pub const APPIMAGE: &str = "APPIMAGE";
