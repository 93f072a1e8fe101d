//! The header declares exactly what the library exports, and compiles cleanly as C and as C++.

use std::collections::BTreeSet;
use std::process::Command;

use millennium_testing::require_tool;

use crate::support::{lib_dir, manifest};

fn header() -> String {
    std::fs::read_to_string(manifest().join("include/millennium_updater.h")).unwrap()
}

/// The function names the header declares: `millennium_updater_…(` at the start of a declaration.
fn declared() -> BTreeSet<String> {
    let text = header();
    let mut names = BTreeSet::new();
    for line in text.lines().filter(|l| !l.starts_with(' ') && !l.starts_with('/') && !l.starts_with('#')) {
        if let Some(start) = line.find("millennium_updater_")
            && let Some(len) = line[start..].find('(')
        {
            names.insert(line[start..start + len].to_owned());
        }
    }
    names
}

/// The functions the shared library exports (`nm -D --defined-only`, text symbols).
fn exported() -> BTreeSet<String> {
    require_tool("nm", "binutils");
    let output =
        Command::new("nm").args(["-D", "--defined-only"]).arg(lib_dir().join("libmillennium_updater_capi.so")).output();
    let output = output.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| match line.split_whitespace().collect::<Vec<_>>()[..] {
            [_, "T", name] if name.starts_with("millennium_") => Some(name.to_owned()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_header_declares_exactly_the_functions_the_library_exports() {
    let (declared, exported) = (declared(), exported());
    assert_eq!(exported.len(), 41, "{exported:#?}");
    let missing: Vec<_> = exported.difference(&declared).collect();
    let extra: Vec<_> = declared.difference(&exported).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "exported, not declared: {missing:?}\ndeclared, not exported: {extra:?}"
    );
}

#[test]
fn the_header_compiles_as_strict_c_and_as_cpp() {
    require_tool("cc", "gcc");
    require_tool("c++", "g++");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("use.c");
    // Handles of different kinds are different types: C++ refuses mixing them up at compile time.
    std::fs::write(
        &source,
        "#include \"millennium_updater.h\"\nint main(void) { MillenniumUpdater u = {0}; return millennium_updater_free(u) + (int)sizeof(MillenniumStartup) - 12; }\n",
    )
    .unwrap();
    for (compiler, flags) in [("cc", &["-std=c99", "-x", "c"][..]), ("c++", &["-std=c++11", "-x", "c++"][..])] {
        let output = Command::new(compiler)
            .args(flags)
            .args(["-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only", "-I"])
            .arg(manifest().join("include"))
            .arg(&source)
            .output()
            .unwrap();
        assert!(output.status.success(), "{compiler}: {}", String::from_utf8_lossy(&output.stderr));
    }
}

#[test]
fn the_static_library_links_the_example_without_the_shared_one() {
    let lib = lib_dir().join("libmillennium_updater_capi.a");
    assert!(lib.exists(), "no {}", lib.display());
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("update-static");
    let output = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&program)
        .arg(manifest().join("examples/update.c"))
        .arg("-I")
        .arg(manifest().join("include"))
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let needed = Command::new("readelf").arg("-d").arg(&program).output().unwrap();
    assert!(!String::from_utf8_lossy(&needed.stdout).contains("millennium"), "still links the shared library");
    let usage = Command::new(&program).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).starts_with("usage: "));
}
