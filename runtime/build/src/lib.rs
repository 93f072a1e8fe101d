//! Build-script helper that embeds a Millennium app's web assets into its binary.
//!
//! Call [`embed_assets`] from the app's `build.rs`; then `millennium::include_assets!()` in the app evaluates to a
//! `millennium::Assets` that the runtime serves through its custom protocol. No file is read at run time and no
//! server is started.
//!
//! How: every regular file under the directory (dotfiles and symlinks skipped, so nothing outside the directory can be
//! pulled in) is written to `$OUT_DIR/millennium-assets/<n>`, deflate-compressed or as it is, and
//! `$OUT_DIR/millennium_assets.rs` lists them as `millennium::Asset { path, mime, len, data: include_bytes!(...),
//! encoding }`, sorted by path, with the MIME type guessed from the extension here, at build time. Cargo is told to
//! rerun the script when anything in the directory changes.
//!
//! Compressing costs the app the inflater's code (about 36 KiB in a size-optimised build), so the assets are
//! compressed only when that saves more than [`INFLATER_COST`] in all, and then only the files it makes smaller: a
//! small page is embedded as it is and its app links no inflater.
//!
//! ```no_run
//! // In `fn main` of build.rs:
//! if let Err(error) = millennium_build::embed_assets("dist") {
//!     eprintln!("error: {}", millennium_build::Report::new(&error));
//!     std::process::exit(1);
//! }
//! ```

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::DeflateEncoder;

/// The name of the generated file inside `OUT_DIR`, included by `millennium::include_assets!()`.
pub const GENERATED_FILE: &str = "millennium_assets.rs";

/// What the inflater adds to a size-optimised app (measured: `hello` with its assets stored vs deflated, stripped,
/// rounded up): compression pays only beyond it.
pub const INFLATER_COST: usize = 40 * 1024;

/// Shows an [`Error`] with its cause and hint: `eprintln!("error: {}", Report::new(&error))`.
pub use millennium_report::Report;

/// Errors while embedding assets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("could not {action} `{path}`")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The asset directory does not exist or is not a directory.
    #[error(
        "asset directory `{path}` is not a directory\nhint: pass the folder holding `index.html`, relative to the crate root"
    )]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// A file name is not UTF-8, so it cannot be a URL path.
    #[error("asset path `{path}` is not valid UTF-8")]
    NonUtf8Path {
        /// The offending path.
        path: PathBuf,
    },
    /// An environment variable Cargo sets for build scripts is missing.
    #[error("`{name}` is not set\nhint: call `embed_assets` from a build script (`build.rs`)")]
    MissingEnv {
        /// The variable.
        name: &'static str,
    },
}

/// One file found in the asset directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetFile {
    /// URL path, starting with `/` and using `/` separators (e.g. `/js/app.js`).
    pub url_path: String,
    /// The file on disk.
    pub source: PathBuf,
    /// The `Content-Type` to serve it with.
    pub mime: String,
}

/// Embed `dir` (relative to the crate root, or absolute) into the crate being built. For use in `build.rs`.
///
/// # Errors
///
/// When not run by Cargo as a build script, when `dir` is not a directory, or on I/O failure.
pub fn embed_assets(dir: impl AsRef<Path>) -> Result<(), Error> {
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").ok_or(Error::MissingEnv { name: "CARGO_MANIFEST_DIR" })?;
    let out_dir = std::env::var_os("OUT_DIR").ok_or(Error::MissingEnv { name: "OUT_DIR" })?;
    let dir = Path::new(&manifest_dir).join(dir);
    // The generated file is not watched: it is written during the run, so Cargo would always see it as newer than
    // the run and rebuild the app on every build.
    let (_generated, watched) = generate(&dir, Path::new(&out_dir))?;
    for path in watched {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    Ok(())
}

/// Write the assets of `dir` (compressed where that pays) into `out_dir` and write [`GENERATED_FILE`] there. Returns its path and the paths to
/// watch for changes (the directories and files read).
///
/// # Errors
///
/// When `dir` is not a directory, or on I/O failure.
pub fn generate(dir: &Path, out_dir: &Path) -> Result<(PathBuf, Vec<PathBuf>), Error> {
    let files = collect(dir)?;
    let blob_dir = out_dir.join("millennium-assets");
    std::fs::create_dir_all(&blob_dir).map_err(|source| Error::Io {
        action: "create",
        path: blob_dir.clone(),
        source,
    })?;

    let mut contents = Vec::with_capacity(files.len());
    for file in &files {
        let data = std::fs::read(&file.source).map_err(|source| Error::Io {
            action: "read",
            path: file.source.clone(),
            source,
        })?;
        let deflated =
            deflate(&data).map_err(|source| Error::Io { action: "compress", path: file.source.clone(), source })?;
        contents.push((data, deflated));
    }
    let saved: usize = contents.iter().map(|(data, deflated)| data.len().saturating_sub(deflated.len())).sum();
    let compress = saved > INFLATER_COST;

    let mut code =
        String::from("// Generated by millennium-build: the app's embedded assets.\nmillennium::Assets::new(&[\n");
    let mut watched = vec![dir.to_path_buf()];
    for (index, (file, (data, deflated))) in files.iter().zip(&contents).enumerate() {
        let (bytes, encoding) =
            if compress && deflated.len() < data.len() { (deflated, "DEFLATE") } else { (data, "STORED") };
        let blob = blob_dir.join(index.to_string());
        std::fs::write(&blob, bytes).map_err(|source| Error::Io { action: "write", path: blob.clone(), source })?;
        let blob_str = blob.to_str().ok_or_else(|| Error::NonUtf8Path { path: blob.clone() })?;
        // `{:?}` of a `str` is a valid Rust string literal.
        let _ = writeln!(
            code,
            "    millennium::Asset {{ path: {:?}, mime: {:?}, len: {}, data: include_bytes!({:?}), encoding: millennium::Encoding::{encoding} }},",
            file.url_path,
            file.mime,
            data.len(),
            blob_str
        );
        watched.push(file.source.clone());
        let parent = file.source.parent().map(Path::to_path_buf);
        if let Some(parent) = parent.filter(|p| !watched.contains(p)) {
            watched.push(parent);
        }
    }
    code.push_str("])\n");
    let generated = out_dir.join(GENERATED_FILE);
    std::fs::write(&generated, code).map_err(|source| Error::Io {
        action: "write",
        path: generated.clone(),
        source,
    })?;
    Ok((generated, watched))
}

/// Every regular, non-hidden file under `dir`, sorted by URL path. Symlinks are skipped.
///
/// # Errors
///
/// When `dir` is not a directory, a name is not UTF-8, or on I/O failure.
pub fn collect(dir: &Path) -> Result<Vec<AssetFile>, Error> {
    if !dir.is_dir() {
        return Err(Error::NotADirectory { path: dir.to_path_buf() });
    }
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|source| Error::Io {
            action: "list",
            path: current.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| Error::Io { action: "list", path: current.clone(), source })?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_str().ok_or_else(|| Error::NonUtf8Path { path: path.clone() })?;
            if name.starts_with('.') {
                continue;
            }
            let kind =
                entry.file_type().map_err(|source| Error::Io { action: "inspect", path: path.clone(), source })?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let relative = path.strip_prefix(dir).unwrap_or(&path);
                let mut url_path = String::new();
                for part in relative.components() {
                    let part = part.as_os_str().to_str().ok_or_else(|| Error::NonUtf8Path { path: path.clone() })?;
                    url_path.push('/');
                    url_path.push_str(part);
                }
                let mime = mime_for(&url_path);
                files.push(AssetFile { url_path, source: path, mime });
            }
        }
    }
    files.sort_by(|a, b| a.url_path.cmp(&b.url_path));
    Ok(files)
}

/// The `Content-Type` for a URL path, from its extension; text types get `charset=utf-8`.
pub fn mime_for(path: &str) -> String {
    let extension = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    let essence = match extension.as_str() {
        // The current standard type for scripts, also for modules.
        "js" | "mjs" | "cjs" => "text/javascript".to_owned(),
        "wasm" => "application/wasm".to_owned(),
        "map" => "application/json".to_owned(),
        _ => mime_guess::from_ext(&extension).first_raw().unwrap_or("application/octet-stream").to_owned(),
    };
    let textual = essence.starts_with("text/")
        || matches!(
            essence.as_str(),
            "application/json" | "image/svg+xml" | "application/xml" | "application/manifest+json"
        );
    if textual { format!("{essence}; charset=utf-8") } else { essence }
}

fn deflate(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(data)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types_by_extension() {
        assert_eq!(mime_for("/index.html"), "text/html; charset=utf-8");
        assert_eq!(mime_for("/app.js"), "text/javascript; charset=utf-8");
        assert_eq!(mime_for("/STYLE.CSS"), "text/css; charset=utf-8");
        assert_eq!(mime_for("/logo.svg"), "image/svg+xml; charset=utf-8");
        assert_eq!(mime_for("/logo.png"), "image/png");
        assert_eq!(mime_for("/data.json"), "application/json; charset=utf-8");
        assert_eq!(mime_for("/module.wasm"), "application/wasm");
        assert_eq!(mime_for("/LICENSE"), "application/octet-stream");
    }

    #[test]
    fn collects_nested_files_and_skips_hidden_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<h1>hi</h1>").unwrap();
        std::fs::create_dir(dir.path().join("js")).unwrap();
        std::fs::write(dir.path().join("js/app.js"), "1").unwrap();
        std::fs::write(dir.path().join(".secret"), "no").unwrap();
        let outside = tempfile::NamedTempFile::new().unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(outside.path(), dir.path().join("escape.txt")).unwrap();

        let files = collect(dir.path()).unwrap();
        let paths: Vec<_> = files.iter().map(|f| f.url_path.as_str()).collect();
        assert_eq!(paths, ["/index.html", "/js/app.js"]);
    }

    #[test]
    fn a_small_page_is_embedded_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let page = "<p>hello</p>".repeat(100);
        std::fs::write(dir.path().join("index.html"), &page).unwrap();
        let (generated, watched) = generate(dir.path(), out.path()).unwrap();
        let code = std::fs::read_to_string(generated).unwrap();
        assert!(code.contains(r#"path: "/index.html", mime: "text/html; charset=utf-8", len: 1200"#), "{code}");
        assert!(code.contains("encoding: millennium::Encoding::STORED"), "{code}");
        assert!(!code.contains("DEFLATE"), "no reference to the inflater: {code}");
        assert_eq!(std::fs::read_to_string(out.path().join("millennium-assets/0")).unwrap(), page);
        assert!(watched.contains(&dir.path().join("index.html")));
    }

    #[test]
    fn large_assets_are_compressed_where_it_makes_them_smaller() {
        let dir = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let script = "console.log('a line of a large bundle');\n".repeat(4000);
        std::fs::write(dir.path().join("app.js"), &script).unwrap();
        // Already compressed data (a PNG, a font) does not shrink: kept as it is.
        let mut noise = vec![0u8; 4096];
        getrandom::fill(&mut noise).unwrap();
        std::fs::write(dir.path().join("photo.png"), &noise).unwrap();
        let (generated, _) = generate(dir.path(), out.path()).unwrap();
        let code = std::fs::read_to_string(generated).unwrap();
        let lines: Vec<&str> = code.lines().filter(|l| l.contains("millennium::Asset {")).collect();
        assert!(lines[0].contains(r#"path: "/app.js""#) && lines[0].ends_with("Encoding::DEFLATE },"), "{code}");
        assert!(lines[1].contains(r#"path: "/photo.png""#) && lines[1].ends_with("Encoding::STORED },"), "{code}");
        let blob = std::fs::read(out.path().join("millennium-assets/0")).unwrap();
        assert!(blob.len() < script.len() / 20, "compressed to {} bytes", blob.len());
        let mut inflated = String::new();
        std::io::Read::read_to_string(&mut flate2::read::DeflateDecoder::new(&blob[..]), &mut inflated).unwrap();
        assert_eq!(inflated, script);
        assert_eq!(std::fs::read(out.path().join("millennium-assets/1")).unwrap(), noise);
    }

    #[test]
    fn a_missing_directory_is_an_error_with_a_hint() {
        let error = collect(Path::new("/definitely/not/here")).unwrap_err();
        assert!(error.to_string().contains("hint: "), "{error}");
    }
}
