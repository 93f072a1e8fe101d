//! Optional IPC message authentication.
//!
//! With it on, the session gets two random 256-bit keys, one for each direction, handed to the page only inside the
//! bridge's initialization script (never in a response); the page imports them as non-extractable CryptoKeys, the
//! page → Rust key for signing only and the Rust → page key (see `bridge`) for verifying only. Every message the
//! page posts is an envelope `{page, seq, body, mac}`: `page` is a random nonce the page picks when it loads, `seq`
//! counts that page's messages from 1, and `mac` is hex HMAC-SHA256 over `page \n seq \n body` with the page → Rust
//! key.
//!
//! The verifier keeps, per window, the current page nonce and the next expected `seq`:
//! - a wrong MAC is [`AuthError::BadMac`] (tampered or forged);
//! - `seq` below the next expected one is [`AuthError::Replayed`], above it [`AuthError::OutOfOrder`];
//! - a new page nonce (a navigation or reload) starts over at `seq` 1, once: a nonce seen before is
//!   [`AuthError::StalePage`], so an old page's messages cannot be replayed by replaying its first message.

use std::collections::{HashMap, HashSet};

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use millennium_runtime::WindowId;

type HmacSha256 = Hmac<Sha256>;

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// The envelope has no MAC or a malformed one.
    MissingMac,
    /// The MAC does not match: the message was altered or not made with the session key.
    BadMac,
    /// The sequence number was already used.
    Replayed {
        /// The number received.
        seq: u64,
        /// The number expected.
        expected: u64,
    },
    /// Messages were skipped or reordered.
    OutOfOrder {
        /// The number received.
        seq: u64,
        /// The number expected.
        expected: u64,
    },
    /// The page nonce belongs to an earlier page, or a new page did not start at 1.
    StalePage,
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingMac => f.write_str("message has no valid MAC"),
            Self::BadMac => f.write_str("MAC mismatch (tampered or forged message)"),
            Self::Replayed { seq, expected } => write!(f, "replayed message: seq {seq}, expected {expected}"),
            Self::OutOfOrder { seq, expected } => write!(f, "out-of-order message: seq {seq}, expected {expected}"),
            Self::StalePage => f.write_str("message from a stale or unknown page session"),
        }
    }
}

impl std::error::Error for AuthError {}

#[derive(Debug)]
struct PageState {
    page: String,
    next: u64,
}

/// Verifies authenticated envelopes for one app session.
pub struct Authenticator {
    key: [u8; 32],
    pages: HashMap<WindowId, PageState>,
    seen_pages: HashSet<String>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").field("windows", &self.pages.len()).finish_non_exhaustive()
    }
}

impl Authenticator {
    /// A verifier for `key`.
    pub fn new(key: [u8; 32]) -> Self {
        Self { key, pages: HashMap::new(), seen_pages: HashSet::new() }
    }

    /// The key as lower-case hex, for the bridge's initialization script.
    pub fn key_hex(&self) -> String {
        hex(&self.key)
    }

    /// The MAC of a message, as the page computes it.
    pub fn sign(&self, page: &str, seq: u64, body: &str) -> String {
        hex(&self.mac(page, seq, body).finalize().into_bytes())
    }

    fn mac(&self, page: &str, seq: u64, body: &str) -> HmacSha256 {
        // HMAC takes keys of any length, so this cannot fail; `new_from_slice` is only fallible by signature.
        let mut mac = <HmacSha256 as hmac::Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(page.as_bytes());
        mac.update(b"\n");
        mac.update(seq.to_string().as_bytes());
        mac.update(b"\n");
        mac.update(body.as_bytes());
        mac
    }

    /// Check one message from `window`; on success it is consumed (its `seq` cannot be used again).
    ///
    /// # Errors
    ///
    /// The [`AuthError`] saying why the message is refused; the state is then unchanged.
    pub fn verify(&mut self, window: WindowId, page: &str, seq: u64, body: &str, mac: &str) -> Result<(), AuthError> {
        let mac = unhex(mac).ok_or(AuthError::MissingMac)?;
        self.mac(page, seq, body).verify_slice(&mac).map_err(|_| AuthError::BadMac)?;
        match self.pages.get_mut(&window) {
            Some(state) if state.page == page => {
                if seq < state.next {
                    return Err(AuthError::Replayed { seq, expected: state.next });
                }
                if seq > state.next {
                    return Err(AuthError::OutOfOrder { seq, expected: state.next });
                }
                state.next += 1;
            }
            _ => {
                if seq != 1 || self.seen_pages.contains(page) {
                    return Err(AuthError::StalePage);
                }
                self.seen_pages.insert(page.to_owned());
                self.pages.insert(window, PageState { page: page.to_owned(), next: 2 });
            }
        }
        Ok(())
    }
}

/// The MAC of something Rust sends to a page (a reply or an event): HMAC-SHA256 of `"rust\n" ‖ text`. A page message's
/// MAC covers `page ‖ "\n" ‖ seq ‖ "\n" ‖ body` with a numeric `seq`, so neither kind can pass for the other.
pub(crate) fn outgoing_mac(key: &[u8; 32], text: &str) -> String {
    let mut mac = <HmacSha256 as hmac::Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(b"rust\n");
    mac.update(text.as_bytes());
    hex(&mac.finalize().into_bytes())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| text.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: WindowId = WindowId(0);

    fn auth() -> Authenticator {
        Authenticator::new([7; 32])
    }

    #[test]
    fn accepts_a_well_formed_sequence() {
        let mut a = auth();
        for seq in 1..=3 {
            let mac = a.sign("p1", seq, "{}");
            assert_eq!(a.verify(W, "p1", seq, "{}", &mac), Ok(()));
        }
    }

    #[test]
    fn known_answer_hmac_sha256() {
        // HMAC-SHA256(key = 32 x 0x07, "p1\n1\n{}") computed independently with Python's hmac module.
        assert_eq!(auth().sign("p1", 1, "{}"), "cfc5ff592819e90037891bafd97507acd3d3a176099f5cf45e9a83135f3f4d72");
    }

    #[test]
    fn tampered_body_or_seq_is_rejected() {
        let mut a = auth();
        let mac = a.sign("p1", 1, r#"{"cmd":"greet"}"#);
        assert_eq!(a.verify(W, "p1", 1, r#"{"cmd":"admin"}"#, &mac), Err(AuthError::BadMac));
        assert_eq!(a.verify(W, "p1", 2, r#"{"cmd":"greet"}"#, &mac), Err(AuthError::BadMac));
        assert_eq!(a.verify(W, "p2", 1, r#"{"cmd":"greet"}"#, &mac), Err(AuthError::BadMac));
        assert_eq!(a.verify(W, "p1", 1, r#"{"cmd":"greet"}"#, "zz"), Err(AuthError::MissingMac));
        assert_eq!(a.verify(W, "p1", 1, r#"{"cmd":"greet"}"#, ""), Err(AuthError::BadMac));
        let forged = Authenticator::new([8; 32]).sign("p1", 1, "{}");
        assert_eq!(a.verify(W, "p1", 1, "{}", &forged), Err(AuthError::BadMac));
        // Nothing was consumed by the failures.
        assert_eq!(a.verify(W, "p1", 1, r#"{"cmd":"greet"}"#, &mac), Ok(()));
    }

    #[test]
    fn replayed_message_is_rejected() {
        let mut a = auth();
        let mac1 = a.sign("p1", 1, "a");
        let mac2 = a.sign("p1", 2, "b");
        a.verify(W, "p1", 1, "a", &mac1).unwrap();
        a.verify(W, "p1", 2, "b", &mac2).unwrap();
        assert_eq!(a.verify(W, "p1", 2, "b", &mac2), Err(AuthError::Replayed { seq: 2, expected: 3 }));
        assert_eq!(a.verify(W, "p1", 1, "a", &mac1), Err(AuthError::Replayed { seq: 1, expected: 3 }));
    }

    #[test]
    fn reordered_message_is_rejected() {
        let mut a = auth();
        a.verify(W, "p1", 1, "a", &a.sign("p1", 1, "a")).unwrap();
        let mac3 = a.sign("p1", 3, "c");
        assert_eq!(a.verify(W, "p1", 3, "c", &mac3), Err(AuthError::OutOfOrder { seq: 3, expected: 2 }));
    }

    #[test]
    fn a_new_page_starts_over_once_and_old_pages_stay_dead() {
        let mut a = auth();
        let old1 = a.sign("old", 1, "a");
        a.verify(W, "old", 1, "a", &old1).unwrap();
        // Reload: a fresh page nonce starts at 1.
        a.verify(W, "new", 1, "x", &a.sign("new", 1, "x")).unwrap();
        // Replaying the old page's first message does not revive it.
        assert_eq!(a.verify(W, "old", 1, "a", &old1), Err(AuthError::StalePage));
        // A new page must start at 1.
        assert_eq!(a.verify(W, "late", 5, "x", &a.sign("late", 5, "x")), Err(AuthError::StalePage));
        // Windows are independent but nonces are global.
        assert_eq!(a.verify(WindowId(1), "new", 1, "x", &a.sign("new", 1, "x")), Err(AuthError::StalePage));
    }
}
