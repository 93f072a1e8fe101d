//! macOS executables for tests that run on Linux: a minimal but well-formed Mach-O, which the bundler accepts as an
//! app's main binary and tools such as 7-Zip parse.

/// A minimal 64-bit Mach-O executable (`MH_EXECUTE`) for macOS: `__PAGEZERO`, a `__TEXT` segment whose `__text`
/// section holds a `ret`, and `LC_MAIN`. `arch` is `x86_64` or `arm64`; `marker` ends up in the file so slices can be
/// told apart.
pub fn macho_executable(arch: &str, marker: &str) -> Vec<u8> {
    macho(arch, marker, false)
}

/// [`macho_executable`] with an `LC_CODE_SIGNATURE` load command, as linkers add for an ad-hoc signature (the
/// signature blob itself is zeros: only its presence is checked).
pub fn macho_executable_signed(arch: &str, marker: &str) -> Vec<u8> {
    macho(arch, marker, true)
}

fn macho(arch: &str, marker: &str, signed: bool) -> Vec<u8> {
    let (cputype, cpusubtype, ret): (u32, u32, &[u8]) = match arch {
        "x86_64" => (0x0100_0007, 3, &[0xc3]),
        "arm64" => (0x0100_000c, 0, &[0xc0, 0x03, 0x5f, 0xd6]),
        _ => panic!("unknown arch {arch}"),
    };
    const SIZE: usize = 0x4000;
    const CODE: usize = 0x3ff0;
    let mut b = Vec::new();
    let w32 = |b: &mut Vec<u8>, v: u32| b.extend_from_slice(&v.to_le_bytes());
    let w64 = |b: &mut Vec<u8>, v: u64| b.extend_from_slice(&v.to_le_bytes());
    let name = |b: &mut Vec<u8>, s: &str| {
        let mut n = [0u8; 16];
        n[..s.len()].copy_from_slice(s.as_bytes());
        b.extend_from_slice(&n);
    };
    w32(&mut b, 0xfeed_facf);
    w32(&mut b, cputype);
    w32(&mut b, cpusubtype);
    w32(&mut b, 2); // MH_EXECUTE
    w32(&mut b, if signed { 4 } else { 3 });
    w32(&mut b, 72 + 152 + 24 + if signed { 16 } else { 0 });
    w32(&mut b, 0x0020_0085); // NOUNDEFS | DYLDLINK | TWOLEVEL | PIE
    w32(&mut b, 0);
    // __PAGEZERO
    w32(&mut b, 0x19);
    w32(&mut b, 72);
    name(&mut b, "__PAGEZERO");
    w64(&mut b, 0);
    w64(&mut b, 0x1_0000_0000);
    w64(&mut b, 0);
    w64(&mut b, 0);
    for _ in 0..4 {
        w32(&mut b, 0);
    }
    // __TEXT with __text
    w32(&mut b, 0x19);
    w32(&mut b, 152);
    name(&mut b, "__TEXT");
    w64(&mut b, 0x1_0000_0000);
    w64(&mut b, SIZE as u64);
    w64(&mut b, 0);
    w64(&mut b, SIZE as u64);
    w32(&mut b, 5);
    w32(&mut b, 5);
    w32(&mut b, 1);
    w32(&mut b, 0);
    name(&mut b, "__text");
    name(&mut b, "__TEXT");
    w64(&mut b, 0x1_0000_0000 + CODE as u64);
    w64(&mut b, ret.len() as u64);
    w32(&mut b, CODE as u32);
    w32(&mut b, 2);
    w32(&mut b, 0);
    w32(&mut b, 0);
    w32(&mut b, 0x8000_0400);
    for _ in 0..3 {
        w32(&mut b, 0);
    }
    // LC_MAIN
    w32(&mut b, 0x8000_0028);
    w32(&mut b, 24);
    w64(&mut b, CODE as u64);
    w64(&mut b, 0);
    if signed {
        // LC_CODE_SIGNATURE: 16 bytes at 0x3f00.
        w32(&mut b, 0x1d);
        w32(&mut b, 16);
        w32(&mut b, 0x3f00);
        w32(&mut b, 16);
    }
    b.extend_from_slice(marker.as_bytes());
    b.resize(CODE, 0);
    b.extend_from_slice(ret);
    b.resize(SIZE, 0);
    b
}
