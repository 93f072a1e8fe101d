//! Webview versions: dotted numbers of one to four parts (`2.44.1` for WebKitGTK, `124.0.2478.80` for WebView2,
//! `14.5` for macOS). Missing parts count as zero, so `2.44` is `2.44.0` and a minimum of `2.44` accepts `2.44.1`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// A webview version.
#[derive(Debug, Clone, Eq)]
pub struct WebviewVersion {
    parts: Vec<u32>,
}

impl WebviewVersion {
    /// A version from its numeric parts (one to four).
    ///
    /// # Errors
    ///
    /// When there are no parts or more than four.
    pub fn from_parts(parts: &[u32]) -> Result<Self, Error> {
        if parts.is_empty() || parts.len() > 4 {
            return Err(Error::InvalidVersion {
                input: parts.iter().map(u32::to_string).collect::<Vec<_>>().join("."),
                reason: "a version has one to four numeric parts",
            });
        }
        Ok(Self { parts: parts.to_vec() })
    }

    /// The numeric parts, as written.
    #[must_use]
    pub fn parts(&self) -> &[u32] {
        &self.parts
    }

    fn part(&self, index: usize) -> u32 {
        self.parts.get(index).copied().unwrap_or(0)
    }
}

impl FromStr for WebviewVersion {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidVersion { input: input.to_owned(), reason };
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(invalid("it is empty"));
        }
        let parts = trimmed
            .split('.')
            .map(|part| {
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid("each part must be a number, as in `2.44.1`"));
                }
                part.parse::<u32>().map_err(|_| invalid("a part is too large"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if parts.len() > 4 {
            return Err(invalid("a version has at most four parts"));
        }
        Ok(Self { parts })
    }
}

impl PartialEq for WebviewVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Ord for WebviewVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (0..4).map(|i| self.part(i).cmp(&other.part(i))).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for WebviewVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for WebviewVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.parts.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
        f.write_str(&text)
    }
}

impl Serialize for WebviewVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WebviewVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> WebviewVersion {
        text.parse().unwrap()
    }

    #[test]
    fn parses_and_displays_as_written() {
        for text in ["2", "2.44", "2.44.1", "124.0.2478.80"] {
            assert_eq!(v(text).to_string(), text);
        }
        assert_eq!(v(" 2.44.1\n").to_string(), "2.44.1");
    }

    #[test]
    fn compares_numerically_with_missing_parts_as_zero() {
        assert!(v("2.44.1") > v("2.44"));
        assert_eq!(v("2.44"), v("2.44.0"));
        assert!(v("2.10") > v("2.9.9"));
        assert!(v("124.0.2478.80") > v("124.0.2478.9"));
        assert!(v("2.50.6") >= v("2.40"));
    }

    #[test]
    fn rejects_what_is_not_a_version() {
        for bad in ["", "v2.44", "2..1", "2.44.1-rc1", "1.2.3.4.5", "2.99999999999", "two"] {
            let error = bad.parse::<WebviewVersion>().unwrap_err().to_string();
            assert!(error.contains("not a valid webview version"), "{bad}: {error}");
        }
    }

    #[test]
    fn serde_round_trip_is_a_string() {
        let json = serde_json::to_string(&v("2.44.1")).unwrap();
        assert_eq!(json, "\"2.44.1\"");
        assert_eq!(serde_json::from_str::<WebviewVersion>(&json).unwrap(), v("2.44.1"));
        assert!(serde_json::from_str::<WebviewVersion>("\"2.x\"").is_err());
    }
}
