//! Mach-O executables: checking that a binary is a 64-bit macOS executable (or a universal one holding such
//! executables) with `goblin`, and merging two single-architecture executables into a universal ("fat") one, as
//! `lipo -create` does.

use std::path::Path;

use goblin::mach::constants::cputype::{CPU_TYPE_ARM64, CPU_TYPE_X86_64};
use goblin::mach::header::MH_EXECUTE;
use goblin::mach::{Mach, SingleArch};

use crate::Arch;
use crate::error::{Error, Result};

/// `FAT_MAGIC`: the big-endian magic of a universal binary with 32-bit offsets.
const FAT_MAGIC: u32 = 0xcafe_babe;

/// What a binary holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executable {
    /// Architectures, in file order.
    pub arches: Vec<Arch>,
    /// A universal (fat) binary.
    pub universal: bool,
    /// Architectures whose code carries no code signature (not even the linker's ad-hoc one).
    pub unsigned: Vec<Arch>,
}

fn is_signed(macho: &goblin::mach::MachO) -> bool {
    macho
        .load_commands
        .iter()
        .any(|c| matches!(c.command, goblin::mach::load_command::CommandVariant::CodeSignature(_)))
}

/// The macOS name of an architecture, as `lipo` and `file` print it.
pub fn apple_name(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86_64",
        Arch::Aarch64 => "arm64",
    }
}

fn arch_of(cputype: u32) -> Option<Arch> {
    match cputype {
        CPU_TYPE_X86_64 => Some(Arch::X86_64),
        CPU_TYPE_ARM64 => Some(Arch::Aarch64),
        _ => None,
    }
}

/// Reads a macOS executable: a 64-bit x86_64 or arm64 Mach-O `MH_EXECUTE`, or a universal binary whose every slice
/// is one.
pub fn inspect(path: &Path, bytes: &[u8]) -> Result<Executable> {
    let err = |message: String| Error::Binary { path: path.to_owned(), message };
    let mach = Mach::parse(bytes).map_err(|e| {
        let kind = if bytes.starts_with(b"\x7fELF") {
            "an ELF (Linux) binary".to_owned()
        } else if bytes.starts_with(b"MZ") {
            "a Windows executable".to_owned()
        } else {
            format!("not a Mach-O executable ({e})")
        };
        err(format!(
            "{kind}, not a macOS executable\nhint: build it with `cargo build --release --target aarch64-apple-darwin` \
             (or x86_64-apple-darwin) and pass that binary"
        ))
    })?;
    let thin = |macho: &goblin::mach::MachO, what: &str| -> Result<Arch> {
        let arch = arch_of(macho.header.cputype).filter(|_| macho.is_64).ok_or_else(|| {
            err(format!(
                "{what} is built for CPU type {:#x}; macOS apps need 64-bit x86_64 or arm64 code",
                macho.header.cputype
            ))
        })?;
        if macho.header.filetype != MH_EXECUTE {
            return Err(err(format!(
                "{what} is a Mach-O file of type {} (a library or object file), not an executable",
                macho.header.filetype
            )));
        }
        Ok(arch)
    };
    match mach {
        Mach::Binary(macho) => {
            let arch = thin(&macho, "it")?;
            let unsigned = if is_signed(&macho) { Vec::new() } else { vec![arch] };
            Ok(Executable { arches: vec![arch], universal: false, unsigned })
        }
        Mach::Fat(multi) => {
            let mut arches = Vec::new();
            let mut unsigned = Vec::new();
            for i in 0..multi.narches {
                match multi.get(i).map_err(|e| err(format!("slice {i} of the universal binary is damaged: {e}")))? {
                    SingleArch::MachO(macho) => {
                        let arch = thin(&macho, &format!("slice {i} of the universal binary"))?;
                        if arches.contains(&arch) {
                            return Err(err(format!("the universal binary holds {} twice", apple_name(arch))));
                        }
                        arches.push(arch);
                        if !is_signed(&macho) {
                            unsigned.push(arch);
                        }
                    }
                    SingleArch::Archive(_) => {
                        return Err(err(format!("slice {i} of the universal binary is a static library")));
                    }
                }
            }
            if arches.is_empty() {
                return Err(err("the universal binary holds no architecture".into()));
            }
            Ok(Executable { arches, universal: true, unsigned })
        }
    }
}

/// The alignment (log2) of a slice in a universal binary: the page size of its architecture, as `lipo` uses.
fn slice_align(arch: Arch) -> u32 {
    match arch {
        Arch::X86_64 => 12,
        Arch::Aarch64 => 14,
    }
}

/// Merges single-architecture executables into a universal binary (x86_64 first, then arm64, as `lipo` orders them).
/// Each input is `(path, bytes)` and must be a thin executable; two inputs may not share an architecture.
pub fn merge(inputs: &[(&Path, &[u8])]) -> Result<Vec<u8>> {
    let mut slices: Vec<(Arch, &Path, &[u8])> = Vec::new();
    for &(path, bytes) in inputs {
        let exe = inspect(path, bytes)?;
        if exe.universal {
            return Err(Error::Binary {
                path: path.to_path_buf(),
                message: "it is already a universal binary\nhint: use it as `binaries.main` instead of listing it in \
                          `macos.universal`"
                    .into(),
            });
        }
        let arch = exe.arches[0];
        if let Some((_, other, _)) = slices.iter().find(|(a, _, _)| *a == arch) {
            return Err(Error::Binary {
                path: path.to_path_buf(),
                message: format!(
                    "it is built for {} like `{}`\nhint: `macos.universal` takes one x86_64 and one arm64 build",
                    apple_name(arch),
                    other.display()
                ),
            });
        }
        slices.push((arch, path, bytes));
    }
    slices.sort_by_key(|(arch, _, _)| match arch {
        Arch::X86_64 => 0,
        Arch::Aarch64 => 1,
    });
    let header_len = 8 + 20 * slices.len();
    let mut out = Vec::new();
    out.extend_from_slice(&FAT_MAGIC.to_be_bytes());
    out.extend_from_slice(&(slices.len() as u32).to_be_bytes());
    let mut offset: usize = header_len;
    let mut placed: Vec<(usize, &[u8])> = Vec::new();
    for (arch, path, bytes) in &slices {
        let align = slice_align(*arch);
        offset = offset.next_multiple_of(1 << align);
        let (cputype, cpusubtype) = (read_u32_le(bytes, 4), read_u32_le(bytes, 8));
        let too_big = || Error::Binary {
            path: path.to_path_buf(),
            message: "it is larger than 4 GiB, which a universal binary with 32-bit offsets cannot hold".into(),
        };
        let off32 = u32::try_from(offset).map_err(|_| too_big())?;
        let len32 = u32::try_from(bytes.len()).map_err(|_| too_big())?;
        for v in [cputype, cpusubtype, off32, len32, align] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        placed.push((offset, *bytes));
        offset += bytes.len();
    }
    for (at, bytes) in placed {
        out.resize(at, 0);
        out.extend_from_slice(bytes);
    }
    Ok(out)
}

/// A little-endian u32 of a thin 64-bit Mach-O header (its magic `0xfeedfacf` is little-endian on both arches).
fn read_u32_le(bytes: &[u8], at: usize) -> u32 {
    bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).unwrap_or_default()
}
