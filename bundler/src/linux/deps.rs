//! Package dependencies computed from the binaries' shared libraries, the way `dpkg-shlibdeps` does it.
//!
//! For each `DT_NEEDED` soname that the package does not ship itself:
//! 1. find the library file in the binary's runpath and the target's library directories;
//! 2. ask dpkg which package owns it (`dpkg -S PATH…`: one run for the library files of every soname, since each
//!    run reads dpkg's whole file list database, which costs far more than the look-up itself);
//! 3. read that package's `symbols` file (`/var/lib/dpkg/info/PKG.symbols`): the dependency template of the soname
//!    with `#MINVER#` replaced by the highest version among the symbols the binary imports; else its `shlibs` file.
//!
//! A library that is not found, or not owned by any package (built locally, or a non-Debian build machine), is
//! reported back as unresolved: the caller prints a warning and the user can list the dependency in `deb.depends` /
//! `deb.extra-depends`. rpm needs none of this: its `Requires` are the sonames themselves
//! ([`super::elf::rpm_requires`]).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Arch;
use crate::linux::elf::Needs;

/// Computed Debian dependencies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DebDepends {
    /// `Depends` entries, sorted, one per package.
    pub depends: Vec<String>,
    /// Sonames that could not be mapped to a package, with the reason.
    pub unresolved: Vec<(String, String)>,
}

/// Where dpkg keeps its database; overridable for tests.
#[derive(Debug, Clone)]
pub struct Dpkg {
    pub info_dir: PathBuf,
    pub lib_dirs: Vec<PathBuf>,
}

impl Dpkg {
    /// The build machine's dpkg, with library directories for `arch`.
    pub fn system(arch: Arch) -> Dpkg {
        let triplet = arch.gnu_triplet();
        let lib_dirs = [
            format!("/lib/{triplet}"),
            format!("/usr/lib/{triplet}"),
            "/lib64".into(),
            "/usr/lib64".into(),
            "/lib".into(),
            "/usr/lib".into(),
        ];
        Dpkg {
            info_dir: PathBuf::from("/var/lib/dpkg/info"),
            lib_dirs: lib_dirs.into_iter().map(PathBuf::from).collect(),
        }
    }

    /// Maps the needs of every binary to `Depends`. `shipped` are sonames the package carries itself.
    pub fn depends(&self, needs: &[Needs], shipped: &[String]) -> DebDepends {
        let mut seen = BTreeSet::new();
        let wanted: Vec<(&String, Vec<PathBuf>)> = needs
            .iter()
            .flat_map(|need| need.needed.iter().map(move |soname| (soname, need)))
            .filter(|(soname, _)| !shipped.contains(soname) && seen.insert(*soname))
            .map(|(soname, need)| (soname, self.locate(soname, &need.runpaths, None)))
            .collect();
        let owners = Owners::query(wanted.iter().flat_map(|(_, candidates)| candidates.iter().map(PathBuf::as_path)));
        let imports: Vec<&str> = needs.iter().flat_map(|n| n.imports.iter().map(String::as_str)).collect();
        // package name -> (full dependency, min version)
        let mut deps: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
        let mut unresolved = Vec::new();
        for (soname, candidates) in &wanted {
            match self.resolve(soname, candidates, &owners, &imports) {
                Ok(dep) => {
                    let name = dep.split_whitespace().next().unwrap_or_default().to_owned();
                    let version = min_version(&dep);
                    let replace = match deps.get(&name) {
                        None => true,
                        Some((_, old)) => match (old, &version) {
                            (None, Some(_)) => true,
                            (Some(a), Some(b)) => compare_versions(b, a) == Ordering::Greater,
                            _ => false,
                        },
                    };
                    if replace {
                        deps.insert(name, (dep, version));
                    }
                }
                Err(reason) => unresolved.push(((*soname).clone(), reason)),
            }
        }
        DebDepends { depends: deps.into_values().map(|(d, _)| d).collect(), unresolved }
    }

    /// Where the dynamic linker would find `soname`: the runpath (with `$ORIGIN` = `origin`), then the system
    /// library directories. All existing candidates, in search order.
    pub fn locate(&self, soname: &str, runpaths: &[String], origin: Option<&Path>) -> Vec<PathBuf> {
        let origin = origin.map(|o| o.to_string_lossy().into_owned());
        let mut dirs: Vec<PathBuf> = runpaths
            .iter()
            .flat_map(|r| r.split(':'))
            .filter_map(|d| match &origin {
                Some(o) => Some(d.replace("${ORIGIN}", o).replace("$ORIGIN", o)),
                None => (!d.contains('$')).then(|| d.to_owned()),
            })
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .collect();
        dirs.extend(self.lib_dirs.iter().cloned());
        dirs.iter().map(|d| d.join(soname)).filter(|p| p.exists()).collect()
    }

    /// Whether an installed package owns `path` (`dpkg -S`). `false` when dpkg is unavailable.
    pub fn is_packaged(&self, path: &Path) -> bool {
        Owners::query([path]).owner(path).is_some()
    }

    /// The dependency for `soname`, from the first of its `candidates` (library files, in search order) that a
    /// package owns.
    fn resolve(
        &self,
        soname: &str,
        candidates: &[PathBuf],
        owners: &Owners,
        imports: &[&str],
    ) -> Result<String, String> {
        if candidates.is_empty() {
            return Err("not found in the library directories of this machine".into());
        }
        for path in candidates {
            let Some(package) = owners.owner(path) else { continue };
            let bare = package.split(':').next().unwrap_or(package);
            for name in [package, bare] {
                let symbols = self.info_dir.join(format!("{name}.symbols"));
                if let Ok(text) = std::fs::read_to_string(&symbols)
                    && let Some(dep) = from_symbols(&text, soname, imports)
                {
                    return Ok(dep);
                }
                let shlibs = self.info_dir.join(format!("{name}.shlibs"));
                if let Ok(text) = std::fs::read_to_string(&shlibs)
                    && let Some(dep) = from_shlibs(&text, soname)
                {
                    return Ok(dep);
                }
            }
            return Ok(bare.to_owned());
        }
        Err(match &owners.failure {
            Some(failure) => format!("{failure}, so the owner of `{}` is unknown", candidates[0].display()),
            None => {
                format!("`{}` is not owned by any installed package (`dpkg -S` finds nothing)", candidates[0].display())
            }
        })
    }
}

/// The installed packages owning some files, found with one `dpkg -S` run for all of them.
#[derive(Debug, Default)]
struct Owners {
    /// File as dpkg lists it -> its first owning package (`libfoo1:amd64`).
    by_path: HashMap<String, String>,
    /// Why dpkg could not answer (not installed, or it failed), when it could not.
    failure: Option<String>,
}

/// At most this many paths per `dpkg -S` run, well within any command line limit.
const PATHS_PER_QUERY: usize = 512;

impl Owners {
    /// Asks dpkg about every spelling of each of `paths` (see [`spellings`]) at once.
    fn query<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Owners {
        let mut all = BTreeSet::new();
        for path in paths {
            all.extend(spellings(path));
        }
        let all: Vec<String> = all.into_iter().collect();
        let mut owners = Owners::default();
        for chunk in all.chunks(PATHS_PER_QUERY) {
            let out = match Command::new("dpkg").arg("-S").args(chunk).output() {
                Ok(out) => out,
                Err(e) => {
                    owners.failure = Some(format!("`dpkg` could not be run ({e})"));
                    return owners;
                }
            };
            // Exit status 1 only says that some paths have no owner; the others are listed all the same.
            if !matches!(out.status.code(), Some(0 | 1)) {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let reason = stderr.lines().find(|l| !l.contains("no path found matching")).unwrap_or("").trim();
                owners.failure = Some(format!("`dpkg -S` failed ({}: {reason})", out.status));
            }
            owners.add_listing(&String::from_utf8_lossy(&out.stdout));
        }
        owners
    }

    /// Reads `dpkg -S` output: `pkg1, pkg2: /path` per file (the first package is taken), and `diversion by …`
    /// lines, which name no owner.
    fn add_listing(&mut self, stdout: &str) {
        for line in stdout.lines() {
            if line.starts_with("diversion ") || line.starts_with("local diversion ") {
                continue;
            }
            if let Some((packages, path)) = line.split_once(": ")
                && let Some(package) = packages.split(", ").next()
            {
                self.by_path.entry(path.to_owned()).or_insert_with(|| package.to_owned());
            }
        }
    }

    /// The package owning `path` under any of its spellings, tried in order.
    fn owner(&self, path: &Path) -> Option<&str> {
        spellings(path).into_iter().find_map(|p| self.by_path.get(&p)).map(String::as_str)
    }
}

/// The names dpkg may know `path` by: itself, with or without the `/usr` prefix (merged-/usr systems register
/// either), and its canonical path. Absolute only: dpkg takes a relative name for a substring search.
fn spellings(path: &Path) -> Vec<String> {
    let text = path.to_string_lossy();
    let mut tries = vec![text.to_string()];
    if let Some(rest) = text.strip_prefix("/usr/") {
        tries.push(format!("/{rest}"));
    } else if text.starts_with('/') {
        tries.push(format!("/usr{text}"));
    }
    if let Ok(real) = std::fs::canonicalize(path) {
        tries.push(real.to_string_lossy().into_owned());
    }
    tries.retain(|t| t.starts_with('/'));
    tries
}

/// The dependency for `soname` from a dpkg `symbols` file, with `#MINVER#` resolved against `imports`.
pub fn from_symbols(text: &str, soname: &str, imports: &[&str]) -> Option<String> {
    let mut template: Option<String> = None;
    let mut best: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with([' ', '\t', '|', '*', '#']) {
            if template.is_some() {
                break;
            }
            let mut parts = line.splitn(2, char::is_whitespace);
            if parts.next() == Some(soname) {
                template = parts.next().map(|t| t.trim().to_owned());
            }
            continue;
        }
        if template.is_none() || !line.starts_with([' ', '\t']) {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(symbol), Some(version)) = (fields.next(), fields.next()) else { continue };
        let name = symbol.split('@').next().unwrap_or(symbol);
        if imports.contains(&name) && best.as_deref().is_none_or(|b| compare_versions(version, b) == Ordering::Greater)
        {
            best = Some(version.to_owned());
        }
    }
    let template = template?;
    let minver = match best.filter(|v| v != "0") {
        Some(v) => format!(" (>= {v})"),
        None => String::new(),
    };
    Some(template.replace(" #MINVER#", &minver).replace("#MINVER#", &minver))
}

/// The dependency for `soname` from a dpkg `shlibs` file (`NAME VERSION DEPENDENCY`).
pub fn from_shlibs(text: &str, soname: &str) -> Option<String> {
    let (name, version) = split_soname(soname)?;
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.split_whitespace().next().is_some_and(|t| t.ends_with(':')))
        .find_map(|line| {
            let mut fields = line.splitn(3, char::is_whitespace);
            (fields.next() == Some(name) && fields.next() == Some(version))
                .then(|| fields.next().map(|d| d.trim().to_owned()))?
        })
}

/// `libfoo.so.1` → (`libfoo`, `1`); `libfoo-1.2.so` → (`libfoo`, `1.2`).
fn split_soname(soname: &str) -> Option<(&str, &str)> {
    if let Some((name, version)) = soname.split_once(".so.") {
        return Some((name, version));
    }
    let stem = soname.strip_suffix(".so")?;
    let dash = stem.rfind('-')?;
    Some((&stem[..dash], &stem[dash + 1..]))
}

/// The Debian package of WebKitGTK 4.1 (upstream version = WebKitGTK version).
pub const WEBKITGTK_DEB: &str = "libwebkit2gtk-4.1-0";

/// `dep` with its minimum version raised to `min` when it is the WebKitGTK package and `min` is newer than the
/// minimum the symbols gave.
pub fn raise_webkitgtk(dep: String, min: &str) -> String {
    if dep.split_whitespace().next() != Some(WEBKITGTK_DEB) {
        return dep;
    }
    match min_version(&dep) {
        Some(current) if compare_versions(&current, min) != Ordering::Less => dep,
        _ => format!("{WEBKITGTK_DEB} (>= {min})"),
    }
}

fn min_version(dep: &str) -> Option<String> {
    let start = dep.find("(>=")? + 3;
    let end = dep[start..].find(')')? + start;
    Some(dep[start..end].trim().to_owned())
}

/// Debian version comparison (`dpkg --compare-versions`): epoch, upstream and revision, `~` sorting first.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) => (e.parse().unwrap_or(0), r),
            None => (0, v),
        };
        match rest.rfind('-') {
            Some(i) => (epoch, &rest[..i], &rest[i + 1..]),
            None => (epoch, rest, ""),
        }
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb).then_with(|| verrevcmp(ua, ub)).then_with(|| verrevcmp(ra, rb))
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    fn order(c: Option<u8>) -> i32 {
        match c {
            None => 0,
            Some(b'~') => -1,
            Some(c) if c.is_ascii_digit() => 0,
            Some(c) if c.is_ascii_alphabetic() => c as i32,
            Some(c) => c as i32 + 256,
        }
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied().filter(|c| !c.is_ascii_digit()));
            let bc = order(b.get(j).copied().filter(|c| !c.is_ascii_digit()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            if i < a.len() && !a[i].is_ascii_digit() {
                i += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_version_order() {
        for (a, b) in [("2.34", "2.2.5"), ("1.0", "1.0~rc1"), ("1:0.1", "9.9"), ("1.0-2", "1.0-1"), ("1.10", "1.9")] {
            assert_eq!(compare_versions(a, b), Ordering::Greater, "{a} > {b}");
            assert_eq!(compare_versions(b, a), Ordering::Less, "{b} < {a}");
        }
        assert_eq!(compare_versions("2.34", "2.34"), Ordering::Equal);
    }

    #[test]
    fn symbols_file_minver() {
        let text = "libc.so.6 libc6 #MINVER#\n* Build-Depends-Package: libc-dev\n puts@GLIBC_2.2.5 2.2.5\n \
                    __libc_start_main@GLIBC_2.34 2.34\n unused@GLIBC_2.38 2.38\nlibm.so.6 libc6 #MINVER#\n";
        assert_eq!(from_symbols(text, "libc.so.6", &["puts", "__libc_start_main"]).unwrap(), "libc6 (>= 2.34)");
        assert_eq!(from_symbols(text, "libm.so.6", &["puts"]).unwrap(), "libc6");
        assert_eq!(from_symbols(text, "libz.so.1", &[]), None);
    }

    #[test]
    fn webkitgtk_minimum_is_raised_not_lowered() {
        let dep = "libwebkit2gtk-4.1-0 (>= 2.40.0)".to_owned();
        assert_eq!(raise_webkitgtk(dep.clone(), "2.44.1"), "libwebkit2gtk-4.1-0 (>= 2.44.1)");
        assert_eq!(raise_webkitgtk(dep.clone(), "2.38"), dep);
        assert_eq!(raise_webkitgtk("libwebkit2gtk-4.1-0".to_owned(), "2.44"), "libwebkit2gtk-4.1-0 (>= 2.44)");
        assert_eq!(raise_webkitgtk("libgtk-3-0 (>= 3.0)".to_owned(), "9"), "libgtk-3-0 (>= 3.0)");
    }

    #[test]
    fn dpkg_listing_takes_the_first_owner_and_skips_diversions() {
        let mut owners = Owners::default();
        owners.add_listing(
            "diversion by foo from: /usr/lib/libx.so.1\ndiversion by foo to: /usr/lib/libx.so.1.real\n\
             libx1:amd64, libx1-compat:amd64: /usr/lib/libx.so.1\nlocal diversion from: /lib/liby.so\n\
             zlib1g:amd64: /lib/x86_64-linux-gnu/libz.so.1\n",
        );
        assert_eq!(owners.by_path.get("/usr/lib/libx.so.1").map(String::as_str), Some("libx1:amd64"));
        assert_eq!(owners.by_path.get("/lib/x86_64-linux-gnu/libz.so.1").map(String::as_str), Some("zlib1g:amd64"));
        assert_eq!(owners.by_path.len(), 2);
    }

    #[test]
    fn relative_paths_are_never_asked_about() {
        assert_eq!(spellings(Path::new("/usr/lib/libz.so.1"))[..2], ["/usr/lib/libz.so.1", "/lib/libz.so.1"]);
        assert_eq!(spellings(Path::new("/lib/libz.so.1"))[..2], ["/lib/libz.so.1", "/usr/lib/libz.so.1"]);
        assert!(spellings(Path::new("no/such/libz.so.1")).is_empty());
    }

    /// The batched query must answer as asking dpkg about each file alone does.
    #[test]
    fn one_dpkg_query_finds_the_owners_that_one_query_per_file_finds() {
        millennium_testing::require_tool("dpkg", "dpkg");
        let dpkg = Dpkg::system(Arch::host().unwrap());
        let mut files: Vec<PathBuf> = ["libc.so.6", "libz.so.1", "libgcc_s.so.1", "libm.so.6"]
            .iter()
            .flat_map(|soname| dpkg.locate(soname, &[], None))
            .collect();
        let unowned = tempfile::NamedTempFile::new().unwrap();
        files.push(unowned.path().to_owned());
        let together = Owners::query(files.iter().map(PathBuf::as_path));
        assert!(together.failure.is_none(), "{:?}", together.failure);
        let mut owned = 0;
        for file in &files {
            let alone = Owners::query([file.as_path()]);
            assert_eq!(together.owner(file), alone.owner(file), "{}", file.display());
            owned += usize::from(alone.owner(file).is_some());
        }
        assert_eq!(together.owner(unowned.path()), None);
        assert!(owned >= 4, "libc, libz, libgcc_s and libm have owners on a Debian machine: {files:?}");
    }

    #[test]
    fn shlibs_file() {
        let text = "libz 1 zlib1g (>= 1:1.2.3.4)\nudeb: libz 1 zlib1g-udeb\n";
        assert_eq!(from_shlibs(text, "libz.so.1").unwrap(), "zlib1g (>= 1:1.2.3.4)");
        assert_eq!(split_soname("libfoo-1.2.so"), Some(("libfoo", "1.2")));
    }
}
