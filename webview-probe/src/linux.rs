//! WebKitGTK 4.1: load `libwebkit2gtk-4.1.so.0` with the dynamic loader and ask its version.
//!
//! In-process rather than in a child process: a library that is missing, unreadable, of the wrong architecture or
//! with unresolved symbols makes `dlopen` return an error, not crash; the three version functions return compile-time
//! constants and touch neither GTK nor a display. A child process would need an executable to run, which a library
//! linked into any app cannot count on. The library stays loaded: GLib-based libraries do not support unloading
//! (and WebKit starts helper threads when loaded), and in an app it is loaded already anyway.
//!
//! A loaded library is not reloaded when the package is upgraded while the process runs, so for "what will the next
//! launch get" ([`crate::Probe::detect_fresh`]) a process that has it loaded asks the package manager instead
//! ([`package_version`]). Loading a second copy in a new link-map namespace (`dlmopen`) is not an option: WebKit's
//! threads crash in a namespace with its own copy of libc.

#![allow(unsafe_code, reason = "dlopen/dlsym of WebKitGTK and calls through the symbols found: the crate's only FFI")]

use std::ffi::{CStr, CString, c_char, c_uint, c_void};
use std::process::Command;

use crate::WebviewVersion;
use crate::distro::Family;

/// The WebKitGTK 4.1 library Millennium apps link against (wry's `webkit2gtk` 4.1 bindings).
pub const SONAME: &str = "libwebkit2gtk-4.1.so.0";

/// `guint webkit_get_major_version (void)` and its minor/micro siblings (`webkit2/WebKitVersion.h`).
type GetVersion = unsafe extern "C" fn() -> c_uint;

/// The version of the WebKitGTK library `library` (a soname or a path), or why it cannot be loaded.
pub(crate) fn webkitgtk_version(library: &str) -> Result<WebviewVersion, String> {
    let name = CString::new(library).map_err(|_| format!("`{library}` contains a NUL byte"))?;
    // SAFETY: `name` is a valid C string. Loading runs the ELF constructors of WebKitGTK and its dependencies (GLib,
    // GTK, ...), which register types and do not need a display. RTLD_NOW: unresolved symbols fail here, cleanly.
    // Failure is reported by a null handle.
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return Err(last_dl_error().unwrap_or_else(|| format!("{library} cannot be loaded")));
    }
    ["webkit_get_major_version", "webkit_get_minor_version", "webkit_get_micro_version"]
        .iter()
        .map(|symbol| call_version_function(handle, symbol))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|parts| WebviewVersion::from_parts(&parts).map_err(|e| e.to_string()))
}

/// The WebKitGTK version the distribution's package manager has installed (`dpkg-query`, `rpm`, `pacman`); `None`
/// when it is not installed or the tool is not there.
#[must_use]
pub fn package_version(family: Family) -> Option<WebviewVersion> {
    let (program, args): (&str, &[&str]) = match family {
        Family::Debian => ("dpkg-query", &["-W", "-f=${Status}\t${Version}", "libwebkit2gtk-4.1-0"]),
        Family::Fedora => ("rpm", &["-q", "--qf", "installed\t%{VERSION}", "webkit2gtk4.1"]),
        Family::OpenSuse => ("rpm", &["-q", "--qf", "installed\t%{VERSION}", "libwebkit2gtk-4_1-0"]),
        Family::Arch => ("pacman", &["-Q", "webkit2gtk-4.1"]),
        Family::Alpine | Family::Unknown => return None,
    };
    let output = Command::new(program).args(args).output().ok().filter(|o| o.status.success())?;
    parse_package_version(family, &String::from_utf8_lossy(&output.stdout))
}

/// The upstream version in a package manager's answer (see [`package_version`]).
#[must_use]
pub fn parse_package_version(family: Family, output: &str) -> Option<WebviewVersion> {
    let version = match family {
        Family::Debian => {
            let (status, version) = output.trim().split_once('\t')?;
            if !status.ends_with(" installed") {
                return None;
            }
            // `[epoch:]upstream[-revision]`
            version.split_once(':').map_or(version, |(_, rest)| rest)
        }
        Family::Fedora | Family::OpenSuse => output.trim().strip_prefix("installed\t")?,
        Family::Arch => output.split_whitespace().nth(1)?,
        Family::Alpine | Family::Unknown => return None,
    };
    let numeric: String = version.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    numeric.trim_end_matches('.').parse().ok()
}

fn call_version_function(handle: *mut c_void, symbol: &str) -> Result<u32, String> {
    let name = CString::new(symbol).map_err(|e| e.to_string())?;
    // SAFETY: `handle` is a live handle from dlopen and `name` a valid C string.
    let address = unsafe { libc::dlsym(handle, name.as_ptr()) };
    if address.is_null() {
        return Err(format!("{SONAME} has no `{symbol}`: it is not WebKitGTK"));
    }
    // SAFETY: WebKitGTK declares this symbol as `guint (void)`, which is `GetVersion`; function and data pointers
    // have the same size on every platform glibc supports.
    let function = unsafe { std::mem::transmute::<*mut c_void, GetVersion>(address) };
    // SAFETY: takes no argument, has no precondition and returns a constant.
    Ok(unsafe { function() })
}

fn last_dl_error() -> Option<String> {
    // SAFETY: dlerror returns null or a C string that stays valid until the next dl* call on this thread; it is
    // copied out at once.
    let message: *const c_char = unsafe { libc::dlerror() };
    if message.is_null() {
        return None;
    }
    // SAFETY: non-null, NUL-terminated (see above).
    Some(unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_is_an_error_not_a_crash() {
        let error = webkitgtk_version("libmillennium-no-such-webview.so.0").unwrap_err();
        assert!(error.contains("libmillennium-no-such-webview.so.0"), "{error}");
    }

    #[test]
    fn package_manager_answers_are_read() {
        let v = |family, text| parse_package_version(family, text).map(|v| v.to_string());
        assert_eq!(v(Family::Debian, "install ok installed\t2.50.6-1~deb12u2"), Some("2.50.6".into()));
        assert_eq!(v(Family::Debian, "install ok installed\t1:2.44.1-2ubuntu1"), Some("2.44.1".into()));
        assert_eq!(v(Family::Debian, "deinstall ok config-files\t2.44.1-1"), None);
        assert_eq!(v(Family::Fedora, "installed\t2.44.2"), Some("2.44.2".into()));
        assert_eq!(v(Family::Arch, "webkit2gtk-4.1 2.44.2-1\n"), Some("2.44.2".into()));
        assert_eq!(v(Family::Arch, "error: package 'webkit2gtk-4.1' was not found"), None);
    }

    #[test]
    fn a_library_that_is_not_webkitgtk_is_an_error() {
        // libc is always there and has no webkit_get_major_version.
        let error = webkitgtk_version("libc.so.6").unwrap_err();
        assert!(error.contains("has no `webkit_get_major_version`"), "{error}");
    }

    #[test]
    fn a_nul_byte_is_an_error() {
        assert!(webkitgtk_version("a\0b").unwrap_err().contains("NUL"));
    }
}
