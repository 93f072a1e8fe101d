//! Every environment variable the admin commands read, in one place (the signing key's own variables are
//! `millennium_sign::env`'s).

/// `--server` of the admin commands.
pub const SERVER: &str = "MILLENNIUM_SERVER";
/// `--token` of the admin commands.
pub const TOKEN: &str = "MILLENNIUM_TOKEN";
/// `publish --token`, checked before [`TOKEN`].
pub const PUBLISH_TOKEN: &str = "MILLENNIUM_PUBLISH_TOKEN";
/// Password of the new release key of `root sign --new-release-key` (the same variable `millennium-sign rotate` reads).
pub const NEW_KEY_PASSWORD: &str = "MILLENNIUM_SIGNING_NEW_PRIVATE_KEY_PASSWORD";
/// Password of the root keys of `root sign --root-key` and `root cosign --root-key` (else a terminal prompt).
pub const ROOT_KEY_PASSWORD: &str = "MILLENNIUM_ROOT_KEY_PASSWORD";
/// `webhooks add --secret`.
pub const WEBHOOK_SECRET: &str = "MILLENNIUM_WEBHOOK_SECRET";
