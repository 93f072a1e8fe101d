//! `millennium new NAME`: a working app from a template — `Cargo.toml`, `build.rs`, `src/main.rs`, `dist/` (the page),
//! `Millennium.toml` (identifier, icons, a commented updater section) and a generated icon — that builds, runs and
//! packages as is.
//!
//! Templates live in `cli/templates/TEMPLATE/` and are compiled into the binary; `*.in` files get `{{name}}`,
//! `{{product}}`, `{{identifier}}` and the framework dependency lines substituted. While the framework is not
//! published, `--framework-path` points the app at a local checkout (path dependencies), else at the git repository.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::error::{Error, Result};

/// Options of `millennium new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The app's name: its crate and binary name and its directory (letters, digits, `-`, `_`).
    pub name: String,
    /// The starting point.
    #[arg(long, value_enum, default_value_t = Template::Vanilla)]
    pub template: Template,
    /// Create it here instead of `./NAME`.
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// A local checkout of Millennium to depend on (path dependencies) instead of its git repository.
    #[arg(long, env = crate::env_vars::FRAMEWORK_PATH)]
    pub framework_path: Option<PathBuf>,
}

/// The templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Template {
    /// Plain HTML, CSS and JavaScript in `dist/`, no JavaScript build step.
    Vanilla,
}

/// The files of a template: (path, contents); `.in` files are substituted and lose the suffix.
const VANILLA: &[(&str, &str)] = &[
    ("Cargo.toml.in", include_str!("../templates/vanilla/Cargo.toml.in")),
    ("Millennium.toml.in", include_str!("../templates/vanilla/Millennium.toml.in")),
    ("build.rs.in", include_str!("../templates/vanilla/build.rs.in")),
    ("src/main.rs.in", include_str!("../templates/vanilla/src/main.rs.in")),
    ("dist/index.html.in", include_str!("../templates/vanilla/dist/index.html.in")),
    ("dist/app.js", include_str!("../templates/vanilla/dist/app.js")),
    ("dist/style.css", include_str!("../templates/vanilla/dist/style.css")),
    // Named without its dot in the source tree so that it does not apply to the template itself.
    (".gitignore", include_str!("../templates/vanilla/gitignore")),
];

/// The framework's git repository, for apps made without `--framework-path`.
const REPOSITORY: &str = "https://github.com/millennium-app/millennium";

/// What `new` made.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    /// The app's directory.
    pub path: PathBuf,
    /// Its crate name.
    pub name: String,
    /// Its bundle identifier.
    pub identifier: String,
    /// The files written, relative to `path`.
    pub files: Vec<String>,
}

/// Creates the app.
///
/// # Errors
///
/// A name that is not a crate name, a directory that exists and is not empty, a framework path without the
/// framework, or a file that cannot be written.
pub fn run(args: &NewArgs) -> Result<Created> {
    check_name(&args.name)?;
    let dir = args.path.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    if std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(Error::usage(format!(
            "`{}` exists and is not empty\nhint: choose another name, or `--path` to another directory",
            dir.display()
        )));
    }
    let (millennium, millennium_build) = match &args.framework_path {
        Some(path) => {
            let root = std::path::absolute(path).map_err(Error::io("find", path))?;
            for krate in ["runtime/millennium", "runtime/build"] {
                if !root.join(krate).join("Cargo.toml").is_file() {
                    return Err(Error::usage(format!(
                        "`{}` is not a Millennium checkout (no `{krate}/Cargo.toml`)\nhint: pass the repository's root directory",
                        root.display()
                    )));
                }
            }
            let dep = |name: &str, krate: &str| {
                format!("{name} = {{ path = {} }}", toml_string(&root.join(krate).to_string_lossy()))
            };
            (dep("millennium", "runtime/millennium"), dep("millennium-build", "runtime/build"))
        }
        None => (
            format!("millennium = {{ git = \"{REPOSITORY}\" }}"),
            format!("millennium-build = {{ git = \"{REPOSITORY}\" }}"),
        ),
    };
    let identifier = format!("com.example.{}", args.name.to_ascii_lowercase().replace('_', "-"));
    let product = product_name(&args.name);
    let substitute = |text: &str| {
        text.replace("{{name}}", &args.name)
            .replace("{{product}}", &product)
            .replace("{{identifier}}", &identifier)
            .replace("{{millennium}}", &millennium)
            .replace("{{millennium_build}}", &millennium_build)
    };
    let files = match args.template {
        Template::Vanilla => VANILLA,
    };
    let mut written = Vec::new();
    for (name, text) in files {
        let (name, text) = match name.strip_suffix(".in") {
            Some(name) => (name, substitute(text)),
            None => (*name, (*text).to_owned()),
        };
        write(&dir.join(name), text.as_bytes())?;
        written.push(name.to_owned());
    }
    write(&dir.join("icons/icon.png"), &crate::icon::placeholder()?)?;
    written.push("icons/icon.png".to_owned());
    Ok(Created { path: dir, name: args.name.clone(), identifier, files: written })
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    }
    std::fs::write(path, bytes).map_err(Error::io("write", path))
}

/// A crate name that is also a fine directory and binary name.
fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "`{name}` is not a usable app name\nhint: start with a letter; then letters, digits, `-` and `_` (e.g. `my-app`)"
        )))
    }
}

/// `my-app` → `My App`.
fn product_name(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_products_and_bad_names_are_refused() {
        assert_eq!(product_name("my-app"), "My App");
        assert_eq!(product_name("demo"), "Demo");
        for bad in ["", "1app", "my app", "../x", "a/b", "ä"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        check_name("my_app-2").unwrap();
    }

    #[test]
    fn the_template_makes_a_complete_app_and_refuses_a_non_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned();
        let args = NewArgs {
            name: "demo".into(),
            template: Template::Vanilla,
            path: Some(dir.path().join("demo")),
            framework_path: Some(checkout.clone()),
        };
        let created = run(&args).unwrap();
        assert_eq!(created.identifier, "com.example.demo");
        let cargo = std::fs::read_to_string(dir.path().join("demo/Cargo.toml")).unwrap();
        let manifest: toml::Table = toml::from_str(&cargo).unwrap();
        let dep = &manifest["dependencies"]["millennium"]["path"];
        assert_eq!(dep.as_str().unwrap(), checkout.join("runtime/millennium").to_str().unwrap());
        let config = std::fs::read_to_string(dir.path().join("demo/Millennium.toml")).unwrap();
        assert!(config.contains("identifier = \"com.example.demo\""), "{config}");
        for file in ["build.rs", "src/main.rs", "dist/index.html", "dist/app.js", "icons/icon.png", ".gitignore"] {
            assert!(dir.path().join("demo").join(file).is_file(), "{file}");
        }
        let error = run(&args).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("hint:"), "{error}");
    }
}
