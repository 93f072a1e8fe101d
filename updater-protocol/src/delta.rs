//! Delta updates on the wire: the `X-Millennium-Installed` request header, in which Millennium's updater names the
//! artifact it has installed, and the `deltas` list of a dynamic answer, which offers binary deltas
//! (`millennium-delta` containers) from that artifact to the offered one.
//!
//! ```text
//! X-Millennium-Installed: blake2b-256:<64 lowercase hex digits>
//! ```
//! ```json
//! {"version":"1.1.0", …, "deltas":[{"from":"<blake2b-256>","url":"https://…","size":10092,
//!   "blake2b_256":"<hash of the delta file>","encoder":"bsdiff"}]}
//! ```
//!
//! The hash is BLAKE2b-256, the one signed release documents record and the delta container names its base by. The
//! server sends `deltas` only to a client that sent the header, and only deltas from the artifact it named; without
//! the header (every Tauri client) the answer is byte for byte what it was before deltas existed. A delta is never
//! trusted: the client rebuilds the artifact from it and then checks the result exactly as a full download (signature,
//! signed hash and size), falling back to the full download on any failure. `size` and `blake2b_256` only let the
//! client stop a delta download early.
//!
//! The secure check (signed metadata, §7) has no answer to carry the list: it reads static files. Its deltas are in a
//! **deltas index** beside the signed documents, `B/deltas/<version>/<target>/index.json` ([`index_segments`],
//! [`parse_index`]), listing every stored delta to that artifact, and each delta is the file beside it named by its
//! `from`: `B/deltas/<version>/<target>/<from>`. The index is unsigned for the same reason the list is:
//! the signed release document already fixes the result's size, hash and signature, and caps the download.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::tauri::ArtifactUrl;

/// The request header naming the installed artifact.
pub const INSTALLED_HEADER: &str = "X-Millennium-Installed";

/// The only hash algorithm of the header, and its prefix.
const PREFIX: &str = "blake2b-256:";

/// Longest header value accepted, in bytes: the prefix and 64 hex digits.
pub const MAX_INSTALLED_LEN: usize = PREFIX.len() + 64;

/// Most deltas one answer lists.
pub const MAX_DELTAS: usize = 8;

/// Longest `encoder` name accepted, in bytes.
pub const MAX_ENCODER_LEN: usize = 16;

/// A BLAKE2b-256 hash: 32 bytes, written as 64 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Blake2b256(pub [u8; 32]);

impl Blake2b256 {
    /// Parses 64 hex digits (either case; written back in lowercase).
    pub fn parse_hex(text: &str, field: &str) -> Result<Self> {
        let invalid = || Error::InvalidHash { field: field.to_owned(), value: crate::error::snippet(text) };
        if text.len() != 64 {
            return Err(invalid());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).map_err(|_| invalid())?;
        Ok(Self(out))
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the value of [`INSTALLED_HEADER`]: `blake2b-256:` and 64 hex digits, nothing around them.
    pub fn parse_header(text: &str) -> Result<Self> {
        if text.len() > MAX_INSTALLED_LEN {
            return Err(Error::FieldTooLong {
                field: INSTALLED_HEADER.into(),
                len: text.len(),
                max: MAX_INSTALLED_LEN,
            });
        }
        let hex = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| Error::InvalidHash { field: INSTALLED_HEADER.into(), value: crate::error::snippet(text) })?;
        Self::parse_hex(hex, INSTALLED_HEADER)
    }

    /// The value of [`INSTALLED_HEADER`] naming this hash.
    pub fn to_header(&self) -> String {
        format!("{PREFIX}{}", self.to_hex())
    }
}

impl std::fmt::Display for Blake2b256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// One delta a dynamic answer offers: from the installed artifact `from` to the answer's artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaOffer {
    /// BLAKE2b-256 of the artifact the delta applies to.
    pub from: Blake2b256,
    /// Where to download it (absolute `http`/`https`).
    pub url: ArtifactUrl,
    /// Its size in bytes: the download stops there.
    pub size: u64,
    /// BLAKE2b-256 of the delta file.
    pub blake2b_256: Blake2b256,
    /// The encoder that made it (`bsdiff`, `zstd`): informative, the container names it too.
    pub encoder: String,
}

impl DeltaOffer {
    pub(crate) fn to_json_value(&self) -> Value {
        let mut out = Map::new();
        out.insert("from".into(), Value::String(self.from.to_hex()));
        out.insert("url".into(), Value::String(self.url.as_str().to_owned()));
        out.insert("size".into(), Value::from(self.size));
        out.insert("blake2b_256".into(), Value::String(self.blake2b_256.to_hex()));
        out.insert("encoder".into(), Value::String(self.encoder.clone()));
        Value::Object(out)
    }

    /// Checks a delta before it goes into an answer (the same rules the parser applies).
    pub fn validate(&self) -> Result<()> {
        check_encoder(&self.encoder, "deltas[].encoder")
    }

    /// Reads one entry; its URL is the `url` field, or, in a [`parse_index`] entry, the tree's rule for `from`.
    fn from_json(value: Value, at: &str, url_rule: Option<UrlRule<'_>>) -> Result<Self> {
        let Value::Object(obj) = value else {
            return Err(Error::WrongType { field: at.to_owned(), expected: "an object" });
        };
        let mut obj = crate::tauri::Fields::new(obj, format!("{at}."));
        let required = |obj: &mut crate::tauri::Fields, key: &str, max: usize| -> Result<String> {
            obj.take_str(key, max)?.ok_or_else(|| Error::MissingField { field: obj.path(key) })
        };
        let from = Blake2b256::parse_hex(&required(&mut obj, "from", 64)?, &obj.path("from"))?;
        let url = match url_rule {
            Some(rule) => rule(&from)?,
            None => ArtifactUrl::parse_at(&required(&mut obj, "url", crate::limits::MAX_URL_LEN)?, &obj.path("url"))?,
        };
        let size = match obj.take("size") {
            Some(Value::Number(n)) => {
                n.as_u64().ok_or_else(|| Error::WrongType { field: obj.path("size"), expected: "a byte count" })?
            }
            Some(_) => return Err(Error::WrongType { field: obj.path("size"), expected: "a byte count" }),
            None => return Err(Error::MissingField { field: obj.path("size") }),
        };
        let blake2b_256 = Blake2b256::parse_hex(&required(&mut obj, "blake2b_256", 64)?, &obj.path("blake2b_256"))?;
        let encoder = required(&mut obj, "encoder", MAX_ENCODER_LEN)?;
        check_encoder(&encoder, &obj.path("encoder"))?;
        Ok(Self { from, url, size, blake2b_256, encoder })
    }
}

fn check_encoder(encoder: &str, field: &str) -> Result<()> {
    let ok = !encoder.is_empty()
        && encoder.len() <= MAX_ENCODER_LEN
        && encoder.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::WrongType { field: field.to_owned(), expected: "an encoder name (lowercase letters, digits, `-`)" })
    }
}

/// Reads the `deltas` field of a dynamic answer (absent or `null`: none).
pub(crate) fn take_deltas(obj: &mut crate::tauri::Fields) -> Result<Vec<DeltaOffer>> {
    take_list(obj, None)
}

fn take_list(obj: &mut crate::tauri::Fields, url_rule: Option<UrlRule<'_>>) -> Result<Vec<DeltaOffer>> {
    let field = obj.path("deltas");
    match obj.take("deltas") {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            if items.len() > MAX_DELTAS {
                return Err(Error::TooManyItems { field, max: MAX_DELTAS });
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| DeltaOffer::from_json(item, &format!("{field}[{i}]"), url_rule))
                .collect()
        }
        Some(_) => Err(Error::WrongType { field, expected: "a list of deltas" }),
    }
}

/// The path of the deltas index of `version`'s artifact for `target` under the signed-metadata base URL, as URL
/// segments: `deltas/<version>/<target>/index.json`. Each delta it lists is the file beside it named by the delta's
/// `from` (`deltas/<version>/<target>/<from>`).
pub fn index_segments(version: &str, target: &str) -> [String; 4] {
    ["deltas".into(), version.into(), target.into(), "index.json".into()]
}

/// How a deltas index entry's URL is made from its `from`.
pub type UrlRule<'a> = &'a dyn Fn(&Blake2b256) -> Result<ArtifactUrl>;

/// Parses a deltas index (`{"deltas":[{"from","size","blake2b_256","encoder"}, …]}`, at most [`MAX_DELTAS`]), each
/// entry's URL made by `url_of` from its `from` (the tree's rule, beside the index, so that a static mirror of the tree
/// serves its own copies). The index is unsigned, like the dynamic answer's list: a delta needs no trust.
pub fn parse_index(bytes: &[u8], url_of: UrlRule<'_>) -> Result<Vec<DeltaOffer>> {
    let Value::Object(map) = crate::json::parse(bytes)? else {
        return Err(Error::WrongType { field: "(document)".into(), expected: "a JSON object" });
    };
    take_list(&mut crate::tauri::Fields::new(map, String::new()), Some(url_of))
}

/// Writes a deltas index of at most [`MAX_DELTAS`] deltas (their URLs are left out: the tree's rule makes them).
pub fn write_index(deltas: &[DeltaOffer]) -> Result<String> {
    if deltas.len() > MAX_DELTAS {
        return Err(Error::TooManyItems { field: "deltas".into(), max: MAX_DELTAS });
    }
    let entries = deltas
        .iter()
        .map(|delta| {
            delta.validate()?;
            let mut entry = delta.to_json_value();
            if let Value::Object(fields) = &mut entry {
                fields.remove("url");
            }
            Ok(entry)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut out = Map::new();
    out.insert("deltas".into(), Value::Array(entries));
    Ok(Value::Object(out).to_string())
}

/// Writes `deltas` into an answer; nothing at all when there is none.
pub(crate) fn write_deltas(deltas: &[DeltaOffer], out: &mut Map<String, Value>) {
    if !deltas.is_empty() {
        out.insert("deltas".into(), Value::Array(deltas.iter().map(DeltaOffer::to_json_value).collect()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn the_installed_header_round_trips() {
        let hash = Blake2b256::parse_header(&format!("blake2b-256:{HASH}")).unwrap();
        assert_eq!(hash.to_header(), format!("blake2b-256:{HASH}"));
        let upper = Blake2b256::parse_header(&format!("blake2b-256:{}", HASH.to_uppercase())).unwrap();
        assert_eq!(upper, hash, "hex digits in either case, written back in lowercase");
    }

    #[test]
    fn malformed_installed_headers_are_refused() {
        for bad in [
            String::new(),
            HASH.to_owned(),
            format!("sha256:{HASH}"),
            format!("blake2b-256:{}", &HASH[..63]),
            format!("blake2b-256:{HASH}0"),
            format!("blake2b-256: {HASH}"),
            format!("blake2b-256:{}g", &HASH[..63]),
            format!("blake2b-256:{}", "x".repeat(10_000)),
        ] {
            assert!(Blake2b256::parse_header(&bad).is_err(), "{bad:?} was accepted");
        }
    }

    fn offer(from: &str, size: u64) -> DeltaOffer {
        let from = Blake2b256::parse_hex(from, "from").unwrap();
        DeltaOffer {
            url: ArtifactUrl::parse(&format!("https://mirror.example/m/demo/deltas/2.0.0/linux-x86_64/{from}"))
                .unwrap(),
            from,
            size,
            blake2b_256: Blake2b256([7; 32]),
            encoder: "bsdiff".into(),
        }
    }

    fn rule(from: &Blake2b256) -> Result<ArtifactUrl> {
        ArtifactUrl::parse(&format!("https://mirror.example/m/demo/deltas/2.0.0/linux-x86_64/{from}"))
    }

    #[test]
    fn a_deltas_index_round_trips_with_urls_made_by_the_tree_rule() {
        let deltas = vec![offer(HASH, 10_092), offer(&"ab".repeat(32), 4_077)];
        let index = write_index(&deltas).unwrap();
        assert!(!index.contains("url"), "the index names no URL: {index}");
        assert_eq!(parse_index(index.as_bytes(), &rule).unwrap(), deltas);
        assert_eq!(parse_index(br#"{"deltas":[]}"#, &rule).unwrap(), []);
        assert_eq!(index_segments("2.0.0", "linux-x86_64").join("/"), "deltas/2.0.0/linux-x86_64/index.json");
    }

    #[test]
    fn malformed_deltas_indexes_are_refused() {
        let entry = format!(r#"{{"from":"{HASH}","size":1,"blake2b_256":"{HASH}","encoder":"bsdiff"}}"#);
        let nine = format!(r#"{{"deltas":[{}]}}"#, [entry.as_str(); MAX_DELTAS + 1].join(","));
        for bad in [
            String::new(),
            "[]".into(),
            r#"{"deltas":{}}"#.into(),
            nine,
            format!(r#"{{"deltas":[{}]}}"#, entry.replace(HASH, "00")),
            format!(r#"{{"deltas":[{}]}}"#, entry.replace(r#""size":1"#, r#""size":-1"#)),
            format!(r#"{{"deltas":[{}]}}"#, entry.replace("bsdiff", "../x")),
            format!(r#"{{"deltas":[{entry}],"deltas":[]}}"#),
        ] {
            assert!(parse_index(bad.as_bytes(), &rule).is_err(), "{bad:?} was accepted");
        }
        assert!(write_index(&vec![offer(HASH, 1); MAX_DELTAS + 1]).is_err());
    }
}
