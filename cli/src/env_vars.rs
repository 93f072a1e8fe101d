//! Every environment variable `millennium` reads itself, in one place. The signing key's are `millennium_sign::env`'s,
//! the server's and token's `millennium_update_admin::env_vars`', the bundler's in its README.

/// `millennium new --framework-path`: a local checkout of Millennium for new apps to depend on.
pub const FRAMEWORK_PATH: &str = "MILLENNIUM_FRAMEWORK_PATH";
