//! The macOS part of `import-tauri`: `bundle.macOS` (minimum system version, frameworks, entitlements, and in Tauri
//! v2 the `dmg` window), `bundle.category` and `bundle.copyright` become `[macos]` and `[dmg]` tables.

use serde_json::Value;
use toml::{Table, Value as T};

/// Tauri's app category → Apple's `LSApplicationCategoryType` suffix.
fn apple_category(tauri: &str) -> Option<&'static str> {
    Some(match tauri {
        "Business" => "business",
        "DeveloperTool" => "developer-tools",
        "Education" => "education",
        "Entertainment" => "entertainment",
        "Finance" => "finance",
        "Game" => "games",
        "ActionGame" => "action-games",
        "AdventureGame" => "adventure-games",
        "ArcadeGame" => "arcade-games",
        "BoardGame" => "board-games",
        "CardGame" => "card-games",
        "CasinoGame" => "casino-games",
        "DiceGame" => "dice-games",
        "EducationalGame" => "educational-games",
        "FamilyGame" => "family-games",
        "KidsGame" => "kids-games",
        "MusicGame" => "music-games",
        "PuzzleGame" => "puzzle-games",
        "RacingGame" => "racing-games",
        "RolePlayingGame" => "role-playing-games",
        "SimulationGame" => "simulation-games",
        "SportsGame" => "sports-games",
        "StrategyGame" => "strategy-games",
        "TriviaGame" => "trivia-games",
        "WordGame" => "word-games",
        "GraphicsAndDesign" => "graphics-design",
        "HealthcareAndFitness" => "healthcare-fitness",
        "Lifestyle" => "lifestyle",
        "Medical" => "medical",
        "Music" => "music",
        "News" => "news",
        "Photography" => "photography",
        "Productivity" => "productivity",
        "Reference" => "reference",
        "SocialNetworking" => "social-networking",
        "Sports" => "sports",
        "Travel" => "travel",
        "Utility" => "utilities",
        "Video" => "video",
        "Weather" => "weather",
        _ => return None,
    })
}

/// Adds `[macos]` and `[dmg]` to `out` from a Tauri `bundle` object.
pub fn import(bundle: &Value, out: &mut Table) {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(|x| T::String(x.to_owned()));
    let mac = bundle.get("macOS").cloned().unwrap_or_default();
    let mut macos = Table::new();
    if let Some(v) = s(mac.get("minimumSystemVersion")) {
        macos.insert("minimum-system-version".into(), v);
    }
    if let Some(category) = bundle.get("category").and_then(Value::as_str).and_then(apple_category) {
        macos.insert("category".into(), T::String(format!("public.app-category.{category}")));
    }
    if let Some(v) = s(bundle.get("copyright")) {
        macos.insert("copyright".into(), v);
    }
    if let Some(frameworks) = mac.get("frameworks").and_then(Value::as_array) {
        let list: Vec<T> = frameworks
            .iter()
            .filter_map(Value::as_str)
            // Tauri also accepts system framework names (`CoreML`); only paths can be copied into the bundle.
            .filter(|f| f.ends_with(".framework") || f.ends_with(".dylib"))
            .map(|f| T::String(f.to_owned()))
            .collect();
        if !list.is_empty() {
            macos.insert("frameworks".into(), T::Array(list));
        }
    }
    if let Some(v) = s(mac.get("entitlements")) {
        macos.insert("entitlements".into(), v);
    }
    if !macos.is_empty() {
        out.insert("macos".into(), T::Table(macos));
    }

    let Some(dmg_conf) = mac.get("dmg") else { return };
    let pair = |v: Option<&Value>, a: &str, b: &str| -> Option<T> {
        let v = v?;
        let x = v.get(a)?.as_u64()?;
        let y = v.get(b)?.as_u64()?;
        Some(T::Array(vec![T::Integer(x as i64), T::Integer(y as i64)]))
    };
    let mut dmg = Table::new();
    if let Some(v) = s(dmg_conf.get("background")) {
        dmg.insert("background".into(), v);
    }
    for (from, to, a, b) in [
        ("windowSize", "window-size", "width", "height"),
        ("windowPosition", "window-position", "x", "y"),
        ("appPosition", "app-position", "x", "y"),
        ("applicationFolderPosition", "applications-position", "x", "y"),
    ] {
        if let Some(v) = pair(dmg_conf.get(from), a, b) {
            dmg.insert(to.into(), v);
        }
    }
    if !dmg.is_empty() {
        out.insert("dmg".into(), T::Table(dmg));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn imports_macos_and_dmg_settings() {
        let json = r#"{
          "productName": "Hello", "version": "1.2.3", "identifier": "com.example.hello",
          "bundle": { "category": "DeveloperTool", "copyright": "© Hello",
                      "macOS": { "minimumSystemVersion": "11.0", "frameworks": ["CoreML", "vendor/X.framework"],
                                 "entitlements": "entitlements.plist",
                                 "dmg": { "background": "dmg/bg.png", "windowSize": { "width": 600, "height": 400 },
                                          "appPosition": { "x": 150, "y": 200 },
                                          "applicationFolderPosition": { "x": 450, "y": 200 } } } }
        }"#;
        let text = crate::tauri_import::convert(json, std::path::Path::new("tauri.conf.json"))
            .unwrap_or_else(|e| panic!("{e}"));
        let config: crate::config::Config = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.macos.minimum_system_version.as_deref(), Some("11.0"));
        assert_eq!(config.macos.category.as_deref(), Some("public.app-category.developer-tools"));
        assert_eq!(config.macos.copyright.as_deref(), Some("© Hello"));
        assert_eq!(config.macos.frameworks, ["vendor/X.framework"]);
        assert_eq!(config.macos.entitlements.as_deref(), Some("entitlements.plist"));
        assert_eq!(config.dmg.background.as_deref(), Some("dmg/bg.png"));
        assert_eq!(config.dmg.window_size, Some([600, 400]));
        assert_eq!(config.dmg.app_position, Some([150, 200]));
        assert_eq!(config.dmg.applications_position, Some([450, 200]));
    }
}
