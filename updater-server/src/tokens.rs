//! API tokens: how they look, how they are stored, what they allow.
//!
//! A token is `mlnm_<id>_<secret>`: a 16-hex-digit id (the database key, safe to log and to pass to `tokens revoke`)
//! and 64 hex digits of secret from the operating system's random generator. Only the SHA-256 of the secret is stored,
//! and it is compared in constant time ([`subtle`]); the secret has 256 bits of entropy, so a fast hash is enough.
//!
//! A token is scoped: to one app (or, for the server admin token, to every app) and to one action:
//! [`Scope::Publish`] may publish releases, [`Scope::Admin`] may do everything with its app (publish, promote, rollout,
//! yank, manage the app's tokens). The server admin token additionally creates apps.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::names::AppId;

pub use millennium_update_admin::api::{Scope, TOKEN_PREFIX};

/// A freshly made token: its id and the full text shown once to its owner.
#[derive(Debug)]
pub struct NewToken {
    /// The public id.
    pub id: String,
    /// The full token text (`mlnm_<id>_<secret>`), shown once.
    pub text: String,
    /// SHA-256 of the secret part, what the database stores.
    pub secret_hash: [u8; 32],
}

impl NewToken {
    /// Makes a random token.
    pub fn generate() -> Result<Self> {
        let mut id = [0u8; 8];
        let mut secret = [0u8; 32];
        getrandom::fill(&mut id).map_err(|e| Error::Internal(format!("random generator failed: {e}")))?;
        getrandom::fill(&mut secret).map_err(|e| Error::Internal(format!("random generator failed: {e}")))?;
        let id = hex::encode(id);
        let secret = hex::encode(secret);
        Ok(Self { text: format!("{TOKEN_PREFIX}{id}_{secret}"), secret_hash: hash_secret(&secret), id })
    }

    /// A token made earlier and kept outside the database (the first-start admin token file), to be stored again;
    /// [`Error::Unauthorized`] when `text` is not a well-formed token.
    pub fn adopt(text: &str) -> Result<Self> {
        let presented = PresentedToken::parse(text)?;
        Ok(Self { id: presented.id.to_owned(), text: text.to_owned(), secret_hash: hash_secret(presented.secret) })
    }
}

/// A token as presented by a client, split into id and secret. Anything malformed is [`Error::Unauthorized`].
#[derive(Debug)]
pub struct PresentedToken<'a> {
    /// The id part.
    pub id: &'a str,
    secret: &'a str,
}

impl<'a> PresentedToken<'a> {
    /// Splits `mlnm_<id>_<secret>`.
    pub fn parse(text: &'a str) -> Result<Self> {
        let rest = text.strip_prefix(TOKEN_PREFIX).ok_or(Error::Unauthorized)?;
        let (id, secret) = rest.split_once('_').ok_or(Error::Unauthorized)?;
        let hex16 = |s: &str, n| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        if !hex16(id, 16) || !hex16(secret, 64) {
            return Err(Error::Unauthorized);
        }
        Ok(Self { id, secret })
    }

    /// Whether the secret matches a stored hash, in constant time.
    pub fn matches(&self, stored_hash: &[u8]) -> bool {
        hash_secret(self.secret).ct_eq(stored_hash).into()
    }
}

/// SHA-256 of a token secret.
pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// SHA-256 of a whole token text (used for the admin token given by environment variable, which may have any form).
pub fn hash_whole(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Constant-time equality of two hashes.
pub fn hashes_equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Who is calling, once their token checked out.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token id (`None` for the admin token given by environment variable).
    pub token_id: Option<String>,
    /// The app the token is scoped to; `None` for the server admin token.
    pub app: Option<AppId>,
    /// What it may do.
    pub scope: Scope,
}

impl Principal {
    /// Whether this is the server admin token.
    pub fn is_server_admin(&self) -> bool {
        self.app.is_none() && self.scope == Scope::Admin
    }

    /// Fails unless this token may do `needed` on `app`.
    pub fn require(&self, app: &AppId, needed: Scope, action: &str) -> Result<()> {
        let app_ok = self.app.as_ref().is_none_or(|own| own == app);
        if app_ok && self.scope.allows(needed) {
            Ok(())
        } else {
            Err(Error::Forbidden { action: format!("{action} for app `{app}`") })
        }
    }

    /// Fails unless this is the server admin token.
    pub fn require_server_admin(&self, action: &str) -> Result<()> {
        if self.is_server_admin() { Ok(()) } else { Err(Error::Forbidden { action: action.to_owned() }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let token = NewToken::generate().unwrap();
        let presented = PresentedToken::parse(&token.text).unwrap();
        assert_eq!(presented.id, token.id);
        assert!(presented.matches(&token.secret_hash));
        let other = NewToken::generate().unwrap();
        assert!(!presented.matches(&other.secret_hash));
    }

    #[test]
    fn malformed_tokens_are_unauthorized() {
        let good = NewToken::generate().unwrap().text;
        for bad in [
            "",
            "mlnm_",
            "token",
            &good[..good.len() - 1],
            &good.replace("mlnm_", "xxxx_"),
            &good.to_uppercase(),
            &format!("{good}0"),
        ] {
            assert!(matches!(PresentedToken::parse(bad), Err(Error::Unauthorized)), "{bad}");
        }
    }

    #[test]
    fn scopes() {
        let app = AppId::parse("demo").unwrap();
        let other = AppId::parse("other").unwrap();
        let publish = Principal { token_id: None, app: Some(app.clone()), scope: Scope::Publish };
        assert!(publish.require(&app, Scope::Publish, "publish").is_ok());
        assert!(publish.require(&app, Scope::Admin, "yank").is_err());
        assert!(publish.require(&other, Scope::Publish, "publish").is_err());
        let admin = Principal { token_id: None, app: Some(app.clone()), scope: Scope::Admin };
        assert!(admin.require(&app, Scope::Publish, "publish").is_ok());
        assert!(admin.require_server_admin("create apps").is_err());
        let root = Principal { token_id: None, app: None, scope: Scope::Admin };
        assert!(root.require(&other, Scope::Admin, "yank").is_ok());
        assert!(root.require_server_admin("create apps").is_ok());
    }
}
