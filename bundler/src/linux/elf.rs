//! What a binary needs from the system, read from its ELF dynamic section: `DT_NEEDED` sonames, `DT_RUNPATH`/`DT_RPATH`,
//! the symbol versions it requires (`.gnu.version_r`) and the names of the symbols it imports. Package dependencies
//! (deb `Depends`, rpm `Requires`) are computed from this in [`crate::linux::deps`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use goblin::elf::Elf;
use goblin::elf::header::{EM_AARCH64, EM_X86_64};

use crate::Arch;
use crate::error::{Error, Result};

/// The dynamic linking needs of one binary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// `DT_NEEDED` sonames, in file order.
    pub needed: Vec<String>,
    /// `DT_RUNPATH` and `DT_RPATH` entries.
    pub runpaths: Vec<String>,
    /// Required symbol versions per soname (`libc.so.6` → `GLIBC_2.34`, …).
    pub versions: BTreeMap<String, BTreeSet<String>>,
    /// Names of undefined dynamic symbols (what the binary imports).
    pub imports: BTreeSet<String>,
    /// 64-bit ELF.
    pub is_64: bool,
}

/// Reads an ELF binary and checks that it is built for `arch`.
pub fn read(path: &Path, bytes: &[u8], arch: Arch) -> Result<Needs> {
    let err = |message: String| Error::Binary { path: path.to_owned(), message };
    let elf =
        Elf::parse(bytes).map_err(|e| err(format!("not an ELF executable ({e})\nhint: bundle a Linux binary")))?;
    let expected = match arch {
        Arch::X86_64 => EM_X86_64,
        Arch::Aarch64 => EM_AARCH64,
    };
    if elf.header.e_machine != expected {
        return Err(err(format!(
            "built for {}, not {}\nhint: build with `--target` for {} or pass the matching `--target` here",
            goblin::elf::header::machine_to_str(elf.header.e_machine),
            arch.as_str(),
            arch.as_str()
        )));
    }
    let mut needs = Needs { is_64: elf.is_64, ..Needs::default() };
    needs.needed = elf.libraries.iter().map(|s| s.to_string()).collect();
    needs.runpaths = elf.runpaths.iter().chain(elf.rpaths.iter()).map(|s| s.to_string()).collect();
    if let Some(verneed) = &elf.verneed {
        for need in verneed.iter() {
            let Some(file) = elf.dynstrtab.get_at(need.vn_file) else { continue };
            let versions = needs.versions.entry(file.to_owned()).or_default();
            for aux in need.iter() {
                if let Some(name) = elf.dynstrtab.get_at(aux.vna_name) {
                    versions.insert(name.to_owned());
                }
            }
        }
    }
    for sym in elf.dynsyms.iter() {
        if sym.st_shndx == 0
            && sym.st_name != 0
            && let Some(name) = elf.dynstrtab.get_at(sym.st_name)
        {
            needs.imports.insert(name.to_owned());
        }
    }
    Ok(needs)
}

/// rpm-style capability names for what the binary needs, as rpm's `elfdeps` writes them:
/// `libc.so.6()(64bit)` and `libc.so.6(GLIBC_2.34)(64bit)`.
pub fn rpm_requires(needs: &Needs) -> BTreeSet<String> {
    let suffix = if needs.is_64 { "(64bit)" } else { "" };
    let mut out = BTreeSet::new();
    for soname in &needs.needed {
        out.insert(format!("{soname}(){suffix}"));
        if let Some(versions) = needs.versions.get(soname) {
            for v in versions {
                out.insert(format!("{soname}({v}){suffix}"));
            }
        }
    }
    out
}

/// Whether the binary still has a symbol table (`.symtab`), i.e. is not stripped.
pub fn has_symtab(bytes: &[u8]) -> bool {
    Elf::parse(bytes).map(|e| !e.syms.is_empty()).unwrap_or(false)
}

/// Strips the binary with `strip --strip-unneeded` (binutils). `Ok(None)` when `strip` is not installed.
pub fn strip(path: &Path, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
    let dir = tempfile::tempdir().map_err(Error::io("create a temporary directory for", path))?;
    let input = dir.path().join("in");
    let output = dir.path().join("out");
    std::fs::write(&input, bytes).map_err(Error::io("write", &input))?;
    let status = std::process::Command::new("strip")
        .arg("--strip-unneeded")
        .arg("--remove-section=.comment")
        .arg("-o")
        .arg(&output)
        .arg(&input)
        .status();
    match status {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Binary { path: path.to_owned(), message: format!("could not run `strip`: {e}") }),
        Ok(s) if !s.success() => Err(Error::Binary {
            path: path.to_owned(),
            message: format!("`strip` failed ({s})\nhint: set `binaries.strip = false` to package it as is"),
        }),
        Ok(_) => std::fs::read(&output).map(Some).map_err(Error::io("read", &output)),
    }
}
