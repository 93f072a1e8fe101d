//! `millennium-sign`: keys and signatures for Millennium release artifacts.
//!
//! Keys and signatures are minisign's (Ed25519, BLAKE2b prehashing, scrypt-encrypted secret keys), byte for byte: files
//! made here are read by the `minisign` tool and by Tauri's updater, and files they make are read here. Every reader
//! accepts both minisign's text form and Tauri's base64-wrapped form; writers choose with [`Format`].
//!
//! ```
//! use millennium_sign::{Format, SecretKey, Signature, TrustedComment};
//!
//! let secret = SecretKey::generate()?;
//! let comment = TrustedComment::tauri(1_700_000_000, "app.AppImage", Some("1.2.3"))?;
//! let signature = Signature::sign(&secret, &b"artifact bytes"[..], &comment)?;
//! let text = signature.to_text(Format::Tauri); // what goes in update JSON
//!
//! let parsed = Signature::from_text(&text)?;
//! parsed.verify(&secret.public_key(), &b"artifact bytes"[..])?;
//! parsed.trusted_fields().check_version("1.2.3", true)?;
//! # Ok::<(), millennium_sign::Error>(())
//! ```

// The command-line module names this crate by its name, as the binary did before it moved here.
extern crate self as millennium_sign;

/// The `millennium-sign` commands, shared by the `millennium-sign` binary and `millennium sign`.
#[cfg(feature = "cli")]
pub mod cli;
mod encoding;
pub mod env;
mod error;
pub mod fs;
mod keys;
mod rotation;
mod signature;

pub use encoding::Format;
pub use error::{Error, Object, Result};
pub use keys::{KdfParams, KeyId, PublicKey, SecretKey, SecretKeyBox};
pub use rotation::{RotationChain, RotationStatement};
pub use signature::{Algorithm, MAX_LEGACY_DATA_LEN, MAX_TRUSTED_COMMENT_LEN, Signature, TrustedComment, Verifier};
