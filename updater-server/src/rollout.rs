//! Staged rollouts on the server side: checking what clients send. Which installs a rollout reaches is decided by
//! [`millennium_update_protocol::rollout`], shared with the client.

pub use millennium_update_protocol::rollout::{bucket, is_offered};

use crate::error::{Error, Result};

/// Longest install id accepted.
pub const MAX_INSTALL_ID_LEN: usize = 128;

/// The header clients put their install id in.
pub const INSTALL_ID_HEADER: &str = "millennium-install-id";

/// Checks an install id from a request: 1 to [`MAX_INSTALL_ID_LEN`] printable ASCII characters.
pub fn check_install_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_INSTALL_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::bad_request(format!(
            "invalid install id: expected 1 to {MAX_INSTALL_ID_LEN} printable ASCII characters"
        )));
    }
    Ok(())
}

/// Checks a rollout percentage.
pub fn check_percent(percent: u8) -> Result<u8> {
    if percent > 100 {
        return Err(Error::bad_request(format!("rollout percentage {percent} is over 100")));
    }
    Ok(percent)
}
