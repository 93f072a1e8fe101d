//! Deciding whether a downloaded artifact may be installed.
//!
//! Three independent checks, all before anything is moved next to the app:
//!
//! 1. **Signature**: the minisign/Tauri signature verifies against a pinned key. The key id and the algorithm are
//!    checked already at check time ([`precheck`]), so a release signed by another key is refused without
//!    downloading it, and legacy (non-prehashed) signatures, which minisign verifies only with the whole file in
//!    memory, are refused outright.
//! 2. **Signed version**: a `version:` field in the trusted comment must equal the offered version (required when the
//!    app asks for it). Without this, a server could pair an old, validly signed artifact with a new version number.
//! 3. **Platform**: the artifact must be something this install can use: an ELF executable for this CPU (or a `#!`
//!    script) for a plain binary or AppImage, a Debian or RPM package for those installs. Tauri signatures do not bind
//!    an artifact to its platform, so a server could otherwise serve a correctly signed artifact of another platform.
//!
//! During a download the signature is checked *while the bytes arrive* ([`StreamVerifier`]): an incremental verifier
//! (`Signature::verifier`, or the signed metadata's artifact check) runs on a blocking thread and hashes, through a
//! bounded channel, the chunks the download loop also hands to the file writer (after the bytes of a resumed `.part`,
//! read back from the file). Hashing thus overlaps the network transfer, in constant memory; on the download loop's own
//! thread it would serialise the two. A local file ([`crate::Updater::verify_local_file`]) is verified by reading it
//! ([`check_file`]). The install runs the same check once more over the bytes it installs, as it reads them
//! ([`crate::install`]): the file lies where the app's user can write, so its earlier verdict proves nothing about
//! what it holds at install time.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use millennium_sign::{Algorithm, PublicKey, Signature};
use millennium_update_protocol::{Arch, Version};

use crate::error::{Error, Result};
use crate::install::InstallKind;
use crate::updater::Inner;

const READ_BUFFER: usize = 256 * 1024;

/// Before downloading: the signature is prehashed, made by a pinned key, and signs the offered version.
pub(crate) fn precheck(inner: &Inner, signature: &Signature, version: &Version) -> Result<()> {
    check_signature_shape(&inner.keys, signature)?;
    check_signed_version(signature, version, inner.require_signed_version)
}

pub(crate) fn check_signature_shape<'k>(keys: &'k [PublicKey], signature: &Signature) -> Result<&'k PublicKey> {
    if signature.algorithm() == Algorithm::Legacy {
        return Err(Error::LegacySignature);
    }
    keys.iter().find(|k| k.key_id() == signature.key_id()).ok_or_else(|| Error::UntrustedKey {
        signed_by: signature.key_id(),
        trusted: keys.iter().map(|k| k.key_id().to_string()).collect::<Vec<_>>().join(", "),
    })
}

pub(crate) fn check_signed_version(signature: &Signature, version: &Version, required: bool) -> Result<()> {
    let fields = signature.trusted_fields();
    if required && fields.version().is_none() {
        return Err(Error::UnsignedVersion { version: version.to_string() });
    }
    // Compare as versions (so `v1.2.3` = `1.2.3`), then let the signing library word the error.
    if let Some(signed) = fields.version()
        && Version::parse(signed).is_ok_and(|v| &v == version)
    {
        return Ok(());
    }
    fields.check_version(&version.to_string(), required).map_err(|source| Error::BadSignature { source })
}

/// Verifies the file at `path` (blocking; constant memory): signature, signed version, platform. Returns the check,
/// which the install runs again over the bytes it installs.
pub(crate) fn verify_artifact(
    keys: &[PublicKey],
    signature: &Signature,
    version: &Version,
    require_signed_version: bool,
    kind: &InstallKind,
    path: &Path,
) -> Result<Check> {
    let key = check_signature_shape(keys, signature)?;
    check_signed_version(signature, version, require_signed_version)?;
    let check = Check::Pinned(key.clone(), Box::new(signature.clone()));
    check_file(&check, kind, path, |_| Ok(()))?;
    Ok(check)
}

/// Reads the file at `path` once, checking its bytes (signature or signed metadata, then platform) while handing
/// each chunk to `sink` too: what the sink received is exactly what was checked, whatever happens to the file
/// meanwhile. The install uses it to write the copy it installs, or to hash what the package tool's root side must
/// find ([`crate::install`]). Blocking; constant memory.
pub(crate) fn check_file(
    check: &Check,
    kind: &InstallKind,
    path: &Path,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut pass = check.start()?;
    let mut file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut buf = vec![0u8; READ_BUFFER];
    let mut head = Vec::with_capacity(HEAD_LEN);
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", path, e)),
        };
        let chunk = &buf[..n];
        let missing = HEAD_LEN - head.len();
        head.extend_from_slice(&chunk[..missing.min(n)]);
        pass.update(chunk)?;
        sink(chunk)?;
    }
    pass.finish()?;
    check_head(kind, &head)
}

/// What vouches for a download.
#[derive(Debug)]
pub(crate) enum Check {
    /// The artifact's own signature, by a pinned key (Tauri check).
    Pinned(PublicKey, Box<Signature>),
    /// The signed release metadata: size, BLAKE2b-256 and the signature by a release key of the root (secure check).
    Vouched(std::sync::Arc<crate::metadata::Vouched>, millennium_update_protocol::Target),
}

impl Check {
    /// A fresh check for one pass over the whole artifact.
    pub(crate) fn start(&self) -> Result<Pass> {
        Ok(match self {
            Check::Pinned(key, signature) => {
                Pass::Pinned(Box::new(signature.verifier(key).map_err(|source| Error::BadSignature { source })?))
            }
            Check::Vouched(vouched, target) => Pass::Vouched(Box::new(
                vouched
                    .release
                    .artifact_check(target)
                    .map_err(|source| Error::Untrusted { source: Box::new(source) })?,
            )),
        })
    }
}

/// One pass of a [`Check`] over the bytes of an artifact, fed chunk by chunk.
pub(crate) enum Pass {
    Pinned(Box<millennium_sign::Verifier>),
    Vouched(Box<millennium_update_protocol::metadata::ArtifactCheck>),
}

impl Pass {
    fn update(&mut self, chunk: &[u8]) -> Result<()> {
        match self {
            Pass::Pinned(verifier) => {
                verifier.update(chunk);
                Ok(())
            }
            Pass::Vouched(check) => check.update(chunk).map_err(untrusted),
        }
    }

    fn finish(self) -> Result<()> {
        match self {
            Pass::Pinned(verifier) => verifier.finish().map_err(|source| Error::BadSignature { source }),
            Pass::Vouched(check) => check.finish().map_err(untrusted),
        }
    }
}

fn untrusted(source: millennium_update_protocol::Error) -> Error {
    Error::Untrusted { source: Box::new(source) }
}

/// A signature check fed with the bytes of a download as they arrive (see the module docs).
#[derive(Debug)]
pub(crate) struct StreamVerifier {
    sender: tokio::sync::mpsc::Sender<bytes::Bytes>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl StreamVerifier {
    /// Starts verifying: first the `prefix_len` bytes already in `part` (a resumed download), then what [`feed`]
    /// sends.
    ///
    /// [`feed`]: StreamVerifier::feed
    pub(crate) fn start(mut pass: Pass, part: &Path, prefix_len: u64) -> Result<Self> {
        let prefix = File::open(part).map_err(|e| Error::io("open", part, e))?;
        // 16 chunks in flight (reqwest's chunks are at most a few hundred KiB): memory stays bounded.
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<bytes::Bytes>(16);
        let part = part.to_owned();
        let task = tokio::task::spawn_blocking(move || {
            let mut prefix = prefix.take(prefix_len);
            let mut buf = vec![0u8; READ_BUFFER];
            loop {
                let n = prefix.read(&mut buf).map_err(|e| Error::io("verify", &part, e))?;
                if n == 0 {
                    break;
                }
                pass.update(&buf[..n])?;
            }
            if prefix.limit() > 0 {
                let shrank = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the partial download shrank");
                return Err(Error::io("verify", &part, shrank));
            }
            // The chunks are hashed where they lie, without another copy.
            while let Some(chunk) = receiver.blocking_recv() {
                pass.update(&chunk)?;
            }
            pass.finish()
        });
        Ok(Self { sender, task })
    }

    /// Hands the next chunk (already written to disk) to the verifier.
    pub(crate) async fn feed(&self, chunk: bytes::Bytes) {
        // A verifier that stopped early (read error) reports it from `finish`.
        let _ = self.sender.send(chunk).await;
    }

    /// Ends the input and returns the verdict.
    pub(crate) async fn finish(self) -> Result<()> {
        drop(self.sender);
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(Error::Io {
                action: "verify",
                path: "the download".into(),
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }
}

/// What an artifact is, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sniffed {
    Elf {
        class64: bool,
        little_endian: bool,
        machine: u16,
    },
    Script,
    Deb,
    Rpm,
    Pe,
    MachO,
    Gzip,
    Zip,
    /// An OLE compound file, as `.msi` packages are.
    Msi,
    Unknown,
}

pub(crate) fn sniff(head: &[u8]) -> Sniffed {
    if head.len() >= 20 && head.starts_with(b"\x7fELF") {
        let little_endian = head[5] == 1;
        let bytes = [head[18], head[19]];
        let machine = if little_endian { u16::from_le_bytes(bytes) } else { u16::from_be_bytes(bytes) };
        return Sniffed::Elf { class64: head[4] == 2, little_endian, machine };
    }
    if head.starts_with(b"#!") {
        Sniffed::Script
    } else if head.starts_with(b"!<arch>\ndebian-binary") {
        Sniffed::Deb
    } else if head.starts_with(&[0xed, 0xab, 0xee, 0xdb]) {
        Sniffed::Rpm
    } else if head.starts_with(b"MZ") {
        Sniffed::Pe
    } else if [
        [0xfe, 0xed, 0xfa, 0xce],
        [0xfe, 0xed, 0xfa, 0xcf],
        [0xce, 0xfa, 0xed, 0xfe],
        [0xcf, 0xfa, 0xed, 0xfe],
        [0xca, 0xfe, 0xba, 0xbe],
    ]
    .iter()
    .any(|m| head.starts_with(m))
    {
        Sniffed::MachO
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Sniffed::Gzip
    } else if head.starts_with(b"PK\x03\x04") {
        Sniffed::Zip
    } else if head.starts_with(&[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]) {
        Sniffed::Msi
    } else {
        Sniffed::Unknown
    }
}

fn elf_machine(arch: Arch) -> (u16, bool) {
    match arch {
        Arch::X86_64 => (62, true),
        Arch::I686 => (3, false),
        Arch::Aarch64 => (183, true),
        Arch::Armv7 => (40, false),
        Arch::Riscv64 => (243, true),
    }
}

fn describe(s: Sniffed) -> String {
    match s {
        Sniffed::Elf { class64, machine, .. } => {
            let arch = Arch::ALL
                .into_iter()
                .find(|a| elf_machine(*a) == (machine, class64))
                .map_or_else(|| format!("machine {machine}"), |a| a.as_str().to_owned());
            format!("a Linux executable for {arch} (ELF{})", if class64 { "64" } else { "32" })
        }
        Sniffed::Script => "a script".into(),
        Sniffed::Deb => "a Debian package".into(),
        Sniffed::Rpm => "an RPM package".into(),
        Sniffed::Pe => "a Windows executable or installer".into(),
        Sniffed::MachO => "a macOS executable".into(),
        Sniffed::Gzip => "a gzip archive".into(),
        Sniffed::Zip => "a zip archive".into(),
        Sniffed::Msi => "a Windows Installer package".into(),
        Sniffed::Unknown => "not a recognised executable or package".into(),
    }
}

/// How many first bytes of an artifact tell what it is.
const HEAD_LEN: usize = 64;

/// Checks that the artifact at `path` suits `kind` on this machine.
pub(crate) fn check_platform(kind: &InstallKind, path: &Path) -> Result<()> {
    let mut head = [0u8; HEAD_LEN];
    let mut file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("read", path, e)),
        }
    }
    check_head(kind, &head[..n])
}

/// Checks that an artifact starting with `head` suits `kind` on this machine.
fn check_head(kind: &InstallKind, head: &[u8]) -> Result<()> {
    let found = sniff(head);
    let arch = crate::updater::current_arch()?;
    let (machine, class64) = elf_machine(arch);
    let native_elf = Sniffed::Elf { class64, little_endian: cfg!(target_endian = "little"), machine };
    let (ok, expected) = match kind {
        InstallKind::Executable { .. } if cfg!(windows) => (found == Sniffed::Pe, "a Windows executable".into()),
        InstallKind::Executable { .. } => {
            (found == native_elf || found == Sniffed::Script, format!("a Linux executable for {arch} or a script"))
        }
        InstallKind::AppImage { .. } => (found == native_elf, format!("an AppImage for {arch}")),
        InstallKind::Deb => (found == Sniffed::Deb, "a Debian package".into()),
        InstallKind::Rpm => (found == Sniffed::Rpm, "an RPM package".into()),
        InstallKind::App { .. } => (found == Sniffed::Gzip, "a macOS app archive (`.app.tar.gz`)".into()),
        InstallKind::Nsis { .. } => (found == Sniffed::Pe, "an NSIS installer (`-setup.exe`)".into()),
        InstallKind::Msi { .. } => (found == Sniffed::Msi, "a Windows Installer package (`.msi`)".into()),
    };
    if ok { Ok(()) } else { Err(Error::WrongTarget { expected, found: describe(found) }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(class: u8, machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = class;
        h[5] = 1;
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h
    }

    #[test]
    fn sniffs_formats() {
        assert_eq!(sniff(&elf(2, 62)), Sniffed::Elf { class64: true, little_endian: true, machine: 62 });
        assert_eq!(sniff(b"#!/bin/sh\n"), Sniffed::Script);
        assert_eq!(sniff(b"!<arch>\ndebian-binary   "), Sniffed::Deb);
        assert_eq!(sniff(&[0xed, 0xab, 0xee, 0xdb, 3, 0]), Sniffed::Rpm);
        assert_eq!(sniff(b"MZ\x90\x00"), Sniffed::Pe);
        assert_eq!(sniff(&[0xcf, 0xfa, 0xed, 0xfe]), Sniffed::MachO);
        assert_eq!(sniff(&[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0]), Sniffed::Msi);
        assert_eq!(sniff(b""), Sniffed::Unknown);
        assert_eq!(sniff(b"\x7fELF"), Sniffed::Unknown);
    }

    #[test]
    fn describes_foreign_elf() {
        assert_eq!(describe(sniff(&elf(2, 183))), "a Linux executable for aarch64 (ELF64)");
    }
}
