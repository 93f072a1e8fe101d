//! Key rotation: statements by which an old key endorses its successor, and verification of a chain of them.
//!
//! Apps pin one public key at build time. When the release key must change (planned rotation, a departing
//! maintainer, suspected compromise), the old key signs a *rotation statement* naming the new key; an app that knows
//! the old key follows the chain of statements to the current one. An attacker holding only the new key cannot forge a
//! statement, and the chain cannot loop back to a key it has left.
//!
//! A statement is an ordinary minisign signature made by the old key, so `minisign -V` can check it too:
//!
//! * the signed data is `"millennium-sign key rotation v1\n"` followed by the new key's 42-byte binary public key;
//! * the trusted comment is `rotation:v1\tfrom:<old id>\tto:<new id>\tkey:<new key, base64>\ttimestamp:<unix>`.
//!
//! The data prefix keeps statements from ever being confused with artifact signatures (no release artifact starts with
//! it, and artifact signatures carry `timestamp:`/`file:` trusted comments, never `rotation:`). A chain file is the
//! statements one after another, oldest first.

use crate::encoding::Format;
use crate::error::{Error, Object, Result};
use crate::keys::{KeyId, PublicKey, SecretKey};
use crate::signature::Signature;

const DOMAIN: &[u8] = b"millennium-sign key rotation v1\n";
const MAX_CHAIN_LEN: usize = 64;

/// One old key's endorsement of its successor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationStatement {
    signature: Signature,
    new_key: PublicKey,
}

impl RotationStatement {
    /// Has `old` endorse `new`.
    pub fn create(old: &SecretKey, new: &PublicKey, timestamp: u64) -> Result<Self> {
        let comment = format!(
            "rotation:v1\tfrom:{}\tto:{}\tkey:{}\ttimestamp:{timestamp}",
            old.key_id(),
            new.key_id(),
            new.to_base64()
        );
        let signature = Signature::sign(old, &message(new)[..], &comment)?;
        Ok(RotationStatement { signature, new_key: new.clone() })
    }

    /// Parses one statement (the text of its signature). Nothing is verified yet.
    pub fn from_text(text: &str) -> Result<Self> {
        let signature = Signature::from_text(text).map_err(|e| match e {
            Error::Malformed { reason, .. } => Error::malformed(Object::RotationStatement, reason),
            other => other,
        })?;
        let fields = signature.trusted_fields();
        let bad = |reason: &str| Error::malformed(Object::RotationStatement, reason);
        if fields.field("rotation") != Some("v1") {
            return Err(bad("the trusted comment does not start a `rotation:v1` statement"));
        }
        let new_key = PublicKey::from_text(fields.field("key").ok_or_else(|| bad("no `key:` field"))?)?;
        Ok(RotationStatement { signature, new_key })
    }

    pub fn to_text(&self, format: Format) -> String {
        self.signature.to_text(format)
    }

    /// The key this statement endorses. Only trustworthy after [`RotationStatement::verify`].
    pub fn new_key(&self) -> &PublicKey {
        &self.new_key
    }

    /// The key that signed this statement.
    pub fn signed_by(&self) -> KeyId {
        self.signature.key_id()
    }

    /// Checks that `old` made this statement and returns the endorsed key.
    pub fn verify(&self, old: &PublicKey) -> Result<&PublicKey> {
        self.signature.verify(old, &message(&self.new_key)[..])?;
        let fields = self.signature.trusted_fields();
        let matches = |name: &str, id: KeyId| fields.field(name) == Some(id.to_string().as_str());
        if !matches("from", old.key_id()) || !matches("to", self.new_key.key_id()) {
            return Err(Error::malformed(Object::RotationStatement, "`from:`/`to:` do not name the keys involved"));
        }
        Ok(&self.new_key)
    }
}

/// An ordered list of rotation statements, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationChain {
    statements: Vec<RotationStatement>,
}

impl RotationChain {
    /// Parses a chain file: statements concatenated, each starting with its `untrusted comment:` line.
    pub fn from_text(text: &str) -> Result<Self> {
        let mut blocks: Vec<String> = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match blocks.last_mut() {
                Some(block) if !line.starts_with("untrusted comment:") => {
                    block.push_str(line);
                    block.push('\n');
                }
                _ => blocks.push(format!("{line}\n")),
            }
        }
        if blocks.len() > MAX_CHAIN_LEN {
            return Err(Error::malformed(
                Object::RotationStatement,
                format!("{} statements is more than the limit of {MAX_CHAIN_LEN}", blocks.len()),
            ));
        }
        let statements = blocks.iter().map(|b| RotationStatement::from_text(b)).collect::<Result<_>>()?;
        Ok(RotationChain { statements })
    }

    pub fn to_text(&self) -> String {
        self.statements.iter().map(|s| s.to_text(Format::Minisign)).collect()
    }

    pub fn statements(&self) -> &[RotationStatement] {
        &self.statements
    }

    pub fn push(&mut self, statement: RotationStatement) {
        self.statements.push(statement);
    }

    /// The key the chain ends at, whether or not it verifies (used to check continuity before appending).
    pub fn last_key(&self) -> Option<&PublicKey> {
        self.statements.last().map(RotationStatement::new_key)
    }

    /// Follows the chain from `pinned` and returns the current key (`pinned` itself for an empty chain). Every
    /// statement must be signed by the key the previous one endorsed, and no key may appear twice.
    pub fn verify(&self, pinned: &PublicKey) -> Result<PublicKey> {
        let mut current = pinned.clone();
        let mut seen = vec![pinned.key_id()];
        for (index, statement) in self.statements.iter().enumerate() {
            let reject = |reason: String| Error::RotationRejected { index: index + 1, reason };
            if statement.signed_by() != current.key_id() {
                return Err(reject(format!(
                    "it is signed by key {}, but the chain is at key {}",
                    statement.signed_by(),
                    current.key_id()
                )));
            }
            let next = statement.verify(&current).map_err(|e| reject(e.to_string()))?;
            if seen.contains(&next.key_id()) {
                return Err(reject(format!("it returns to key {}, which the chain already left", next.key_id())));
            }
            seen.push(next.key_id());
            current = next.clone();
        }
        Ok(current)
    }
}

fn message(new_key: &PublicKey) -> Vec<u8> {
    [DOMAIN, &new_key.to_bytes()[..]].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<SecretKey> {
        (0..n).map(|_| SecretKey::generate().expect("generate")).collect()
    }

    fn chain(keys: &[SecretKey]) -> RotationChain {
        let mut chain = RotationChain::default();
        for pair in keys.windows(2) {
            chain.push(RotationStatement::create(&pair[0], &pair[1].public_key(), 1).expect("statement"));
        }
        chain
    }

    #[test]
    fn valid_chain_leads_to_the_newest_key() {
        let keys = keys(4);
        let parsed = RotationChain::from_text(&chain(&keys).to_text()).expect("parse");
        assert_eq!(parsed.verify(&keys[0].public_key()).expect("verify"), keys[3].public_key());
        assert_eq!(RotationChain::default().verify(&keys[0].public_key()).expect("empty"), keys[0].public_key());
    }

    #[test]
    fn broken_chains_are_rejected() {
        let keys = keys(4);
        // A gap: statement 2 is missing.
        let mut gap = RotationChain::default();
        gap.push(RotationStatement::create(&keys[0], &keys[1].public_key(), 1).expect("s"));
        gap.push(RotationStatement::create(&keys[2], &keys[3].public_key(), 1).expect("s"));
        assert!(matches!(gap.verify(&keys[0].public_key()), Err(Error::RotationRejected { index: 2, .. })));
        // Pinned to a key the chain does not start from.
        assert!(chain(&keys).verify(&keys[1].public_key()).is_err());
        // A statement whose endorsed key was swapped.
        let forged =
            chain(&keys[..2]).to_text().replace(&keys[1].public_key().to_base64(), &keys[2].public_key().to_base64());
        let forged = RotationChain::from_text(&forged).expect("parse");
        assert!(matches!(forged.verify(&keys[0].public_key()), Err(Error::RotationRejected { index: 1, .. })));
        // A loop back to an earlier key.
        let mut looping = chain(&keys[..2]);
        looping.push(RotationStatement::create(&keys[1], &keys[0].public_key(), 1).expect("s"));
        assert!(matches!(looping.verify(&keys[0].public_key()), Err(Error::RotationRejected { index: 2, .. })));
    }

    #[test]
    fn an_artifact_signature_is_not_a_rotation_statement() {
        let keys = keys(1);
        let sig = Signature::sign(&keys[0], &b"data"[..], "timestamp:1\tfile:x").expect("sign");
        assert!(RotationStatement::from_text(&sig.to_text(Format::Minisign)).is_err());
    }
}
