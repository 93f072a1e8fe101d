//! Import of an existing `tauri.conf.json` (Tauri v1 or v2) into a `Millennium.toml`, so a Tauri user can try the
//! bundler in one command. Only what has a Millennium equivalent is carried over; the result is parsed back as a
//! [`Config`](crate::config::Config) before it is returned, so it is always a valid file.

use serde_json::Value;
use toml::{Table, Value as T};

use crate::error::{Error, Result};

/// Converts the text of a `tauri.conf.json` into `Millennium.toml` text. `origin` names the file in errors.
pub fn convert(json: &str, origin: &std::path::Path) -> Result<String> {
    let err = |message: String| Error::ConfigSyntax { file: origin.to_owned(), message };
    let conf: Value = serde_json::from_str(json).map_err(|e| err(e.to_string()))?;
    let v1 = conf.get("tauri").is_some();
    let bundle = if v1 { conf.pointer("/tauri/bundle") } else { conf.get("bundle") }.cloned().unwrap_or_default();
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };

    let mut out = Table::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            out.insert(key.into(), T::String(v));
        }
    };
    let product = s(conf.get("productName").or_else(|| conf.pointer("/package/productName")));
    // Package name from the product name when it makes a valid one ("Tauri Hello" -> "tauri-hello").
    let slug = product.as_ref().map(|p| p.trim().to_lowercase().split_whitespace().collect::<Vec<_>>().join("-"));
    put("package-name", slug.filter(|p| crate::config::is_package_name(p)));
    put("product-name", product);
    put("identifier", s(conf.get("identifier").or_else(|| bundle.get("identifier"))));
    let version = s(conf.get("version").or_else(|| conf.pointer("/package/version")));
    // A version that is a path to package.json is Tauri-specific; leave it to the crate's version.
    put("version", version.filter(|v| !v.ends_with(".json")));
    put("description", s(bundle.get("shortDescription")));
    put("long-description", s(bundle.get("longDescription")));
    put("homepage", s(bundle.get("homepage")));
    put("license", s(bundle.get("license")));
    if let Some(publisher) = s(bundle.get("publisher")) {
        out.insert("authors".into(), T::Array(vec![T::String(publisher)]));
    }
    let icons: Vec<T> =
        strings(bundle.get("icon")).into_iter().filter(|i| i.ends_with(".png")).map(T::String).collect();
    if !icons.is_empty() {
        out.insert("icons".into(), T::Array(icons));
    }
    let resources: Vec<String> = match bundle.get("resources") {
        Some(Value::Array(_)) => strings(bundle.get("resources")),
        Some(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    };
    if !resources.is_empty() {
        out.insert("resources".into(), T::Array(resources.into_iter().map(T::String).collect()));
    }
    if let Some(category) = s(bundle.get("category")) {
        let mut desktop = Table::new();
        desktop.insert("categories".into(), T::Array(vec![T::String(desktop_category(&category).into())]));
        out.insert("desktop".into(), T::Table(desktop));
    }
    let deb = if v1 { bundle.get("deb") } else { bundle.pointer("/linux/deb") };
    if let Some(deb) = deb {
        let mut t = Table::new();
        let depends = strings(deb.get("depends"));
        if !depends.is_empty() {
            t.insert("extra-depends".into(), T::Array(depends.into_iter().map(T::String).collect()));
        }
        for (from, to) in [("section", "section"), ("priority", "priority")] {
            if let Some(v) = s(deb.get(from)) {
                t.insert(to.into(), T::String(v));
            }
        }
        if !t.is_empty() {
            out.insert("deb".into(), T::Table(t));
        }
        let mut scripts = Table::new();
        for (from, to) in [
            ("preInstallScript", "pre-install"),
            ("postInstallScript", "post-install"),
            ("preRemoveScript", "pre-remove"),
            ("postRemoveScript", "post-remove"),
        ] {
            if let Some(v) = s(deb.get(from)) {
                scripts.insert(to.into(), T::String(v));
            }
        }
        if !scripts.is_empty() {
            out.insert("scripts".into(), T::Table(scripts));
        }
    }
    if let Some(rpm) = bundle.pointer("/linux/rpm") {
        let mut t = Table::new();
        let depends = strings(rpm.get("depends"));
        if !depends.is_empty() {
            t.insert("extra-requires".into(), T::Array(depends.into_iter().map(T::String).collect()));
        }
        if let Some(release) = s(rpm.get("release")) {
            t.insert("release".into(), T::String(release));
        }
        if !t.is_empty() {
            out.insert("rpm".into(), T::Table(t));
        }
    }
    crate::macos::tauri::import(&bundle, &mut out);
    let updater = if v1 { conf.pointer("/tauri/updater") } else { conf.pointer("/plugins/updater") };
    if let Some(pubkey) = updater.and_then(|u| s(u.get("pubkey"))) {
        let mut t = Table::new();
        t.insert("pubkey".into(), T::String(pubkey));
        let endpoints = strings(updater.and_then(|u| u.get("endpoints")));
        if !endpoints.is_empty() {
            t.insert("endpoints".into(), T::Array(endpoints.into_iter().map(T::String).collect()));
        }
        out.insert("updater".into(), T::Table(t));
    }
    let text = toml::to_string(&out).map_err(|e| err(e.to_string()))?;
    let header = format!("# Imported from `{}` by `millennium-bundler import-tauri`.\n", origin.display());
    let text = header + &text;
    // Round-trip through the real parser so the file we hand out is accepted.
    let _: crate::config::Config =
        toml::from_str(&text).map_err(|e| err(format!("import produced an invalid file: {e}")))?;
    Ok(text)
}

/// Tauri's app category → freedesktop.org main category.
fn desktop_category(tauri: &str) -> &'static str {
    match tauri {
        "DeveloperTool" => "Development",
        "Education" => "Education",
        "Game" | "ActionGame" | "AdventureGame" | "ArcadeGame" | "BoardGame" | "CardGame" | "CasinoGame"
        | "DiceGame" | "EducationalGame" | "FamilyGame" | "KidsGame" | "MusicGame" | "PuzzleGame" | "RacingGame"
        | "RolePlayingGame" | "SimulationGame" | "SportsGame" | "StrategyGame" | "TriviaGame" | "WordGame" => "Game",
        "GraphicsAndDesign" | "Photography" => "Graphics",
        "Music" | "Video" | "Entertainment" => "AudioVideo",
        "SocialNetworking" | "Business" | "Productivity" | "Finance" => "Office",
        "Reference" | "Weather" | "News" => "Education",
        "Medical" | "HealthcareAndFitness" => "Science",
        _ => "Utility",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_tauri_v2() {
        let json = r#"{
          "productName": "Hello", "version": "1.2.3", "identifier": "com.example.hello",
          "bundle": { "icon": ["icons/32x32.png", "icons/icon.icns", "icons/icon.png"], "category": "DeveloperTool",
                      "shortDescription": "hi", "resources": ["assets/*"],
                      "linux": { "deb": { "depends": ["libfoo1"], "section": "devel" }, "rpm": { "release": "2" } } },
          "plugins": { "updater": { "pubkey": "abc", "endpoints": ["https://u.example.com/{{target}}"] } }
        }"#;
        let text = convert(json, std::path::Path::new("tauri.conf.json")).unwrap();
        let config: crate::config::Config = toml::from_str(&text).unwrap();
        assert_eq!(config.identifier.as_deref(), Some("com.example.hello"));
        assert_eq!(config.icons, ["icons/32x32.png", "icons/icon.png"]);
        assert_eq!(config.desktop.categories, ["Development"]);
        assert_eq!(config.deb.extra_depends, ["libfoo1"]);
        assert_eq!(config.rpm.release.as_deref(), Some("2"));
        assert_eq!(config.updater.unwrap().endpoints.len(), 1);
    }

    #[test]
    fn imports_tauri_v1() {
        let json = r#"{ "package": { "productName": "Old", "version": "0.1.0" },
          "tauri": { "bundle": { "identifier": "com.example.old", "deb": { "depends": ["x"] } } } }"#;
        let text = convert(json, std::path::Path::new("tauri.conf.json")).unwrap();
        let config: crate::config::Config = toml::from_str(&text).unwrap();
        assert_eq!(config.product_name.as_deref(), Some("Old"));
        assert_eq!(config.identifier.as_deref(), Some("com.example.old"));
    }
}
