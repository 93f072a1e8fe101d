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
//!
//! # Delta forms
//!
//! Delta containers gain forms that older appliers refuse (`millennium-delta`'s interleaved bsdiff diff, its
//! container version 3 and its bounded-window streams). A client names the forms it reads beyond the first ones in a second header, sent with
//! `X-Millennium-Installed`:
//!
//! ```text
//! X-Millennium-Delta-Forms: bsdiff-interleaved, result-xxh3, bounded-window
//! ```
//!
//! ([`DELTA_FORMS_HEADER`], [`DeltaForms`]; tokens separated by commas, unknown ones ignored). Forms are cumulative, in
//! the order of [`DeltaForm::ALL`]: a client that reads one reads every form before it. Every delta offered without
//! the header is one every Millennium client reads. Where the server also keeps the delta made with every form it
//! knows (smaller, and cheaper to apply), it offers that one instead to a client whose header names the newest of
//! them; in a deltas index the entry lists it under `alternatives`
//! (`[{"form":"bounded-window","size":…,"blake2b_256":…}]`, its file beside the index named `<from>.<form>`), a field
//! older clients ignore.

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

/// Longest delta form token read in a deltas index.
const MAX_FORM_LEN: usize = 32;

/// Most alternatives one deltas index entry lists.
pub const MAX_ALTERNATIVES: usize = 4;

/// Longest `encoder` name accepted, in bytes.
pub const MAX_ENCODER_LEN: usize = 16;

/// The request header naming the delta forms a client reads beyond those every client reads ([`DeltaForms`]).
pub const DELTA_FORMS_HEADER: &str = "X-Millennium-Delta-Forms";

/// Longest [`DELTA_FORMS_HEADER`] value read, in bytes; a longer one counts as no header.
pub const MAX_DELTA_FORMS_LEN: usize = 256;

/// A delta form that not every client reads (see the module's "Delta forms").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DeltaForm {
    /// `millennium-delta`'s bsdiff payload with its diff in the interleaved form (diff form 2): runs and values in
    /// one stream, smaller and several times cheaper to apply on moved code. Read by Millennium updaters since
    /// 2026-12-06; the ones before refuse it ("unknown diff form").
    BsdiffInterleaved,
    /// `millennium-delta`'s container version 3: the result checked by XXH3-64 instead of BLAKE2b-256 (the updater
    /// checks the result's signature and signed hash anyway). Read by Millennium updaters since 2026-12-06.
    ResultXxh3,
    /// `millennium-delta`'s bsdiff payload with every stream decoded within a 64 KiB window (LZMA2 codec 4, or
    /// stored): applying it touches a fixed amount of memory whatever the streams' lengths. Read by Millennium
    /// updaters since the third form (2026-12-06); the ones before refuse it ("unknown stream codec").
    BoundedWindow,
}

impl DeltaForm {
    /// Every form, oldest first: a client that reads one reads every one before it.
    pub const ALL: [DeltaForm; 3] = [DeltaForm::BsdiffInterleaved, DeltaForm::ResultXxh3, DeltaForm::BoundedWindow];

    /// The newest form: what a delta made with every form is labelled by.
    pub const NEWEST: DeltaForm = DeltaForm::BoundedWindow;

    /// The header token, also the suffix of its delta files' names: `bsdiff-interleaved`, `result-xxh3`,
    /// `bounded-window`.
    pub fn token(self) -> &'static str {
        match self {
            DeltaForm::BsdiffInterleaved => "bsdiff-interleaved",
            DeltaForm::ResultXxh3 => "result-xxh3",
            DeltaForm::BoundedWindow => "bounded-window",
        }
    }

    fn bit(self) -> u8 {
        match self {
            DeltaForm::BsdiffInterleaved => 1,
            DeltaForm::ResultXxh3 => 2,
            DeltaForm::BoundedWindow => 4,
        }
    }

    /// The form named `token`, `None` for a token this build does not know.
    pub fn from_token(token: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|form| form.token() == token)
    }
}

/// The delta forms a client reads beyond those every client reads: the value of [`DELTA_FORMS_HEADER`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeltaForms(u8);

impl DeltaForms {
    /// None beyond the first forms: a client without the header.
    pub const NONE: DeltaForms = DeltaForms(0);
    /// Every form this build knows: what an updater built with it reads.
    pub const ALL: DeltaForms = DeltaForms(7);

    /// Whether `form` is among them.
    pub fn reads(self, form: DeltaForm) -> bool {
        self.0 & form.bit() != 0
    }

    /// Parses a header value: comma-separated tokens, blanks around them allowed, unknown tokens ignored (a newer
    /// client's); a value longer than [`MAX_DELTA_FORMS_LEN`] reads as none. Never fails: an update check does not
    /// fail over this header.
    pub fn parse_header(text: &str) -> Self {
        let mut forms = Self::NONE;
        if text.len() <= MAX_DELTA_FORMS_LEN {
            for form in text.split(',').filter_map(|token| DeltaForm::from_token(token.trim())) {
                forms.0 |= form.bit();
            }
        }
        forms
    }

    /// The header value naming them; `None` when there is none to name (then no header is sent).
    pub fn to_header(self) -> Option<String> {
        let tokens: Vec<&str> =
            DeltaForm::ALL.into_iter().filter(|form| self.reads(*form)).map(DeltaForm::token).collect();
        (!tokens.is_empty()).then(|| tokens.join(", "))
    }
}

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
    /// The same delta in newer forms, for clients that read them (only in a deltas index; a dynamic answer offers
    /// the one delta the request's [`DELTA_FORMS_HEADER`] allows).
    pub alternatives: Vec<DeltaAlternative>,
}

/// A delta from the same base to the same result in a [`DeltaForm`] that not every client reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaAlternative {
    /// Its form.
    pub form: DeltaForm,
    /// Where to download it (in a deltas index: the file beside it named `<from>.<form>`).
    pub url: ArtifactUrl,
    /// Its size in bytes.
    pub size: u64,
    /// BLAKE2b-256 of the delta file.
    pub blake2b_256: Blake2b256,
}

impl DeltaOffer {
    pub(crate) fn to_json_value(&self) -> Value {
        let mut out = Map::new();
        out.insert("from".into(), Value::String(self.from.to_hex()));
        out.insert("url".into(), Value::String(self.url.as_str().to_owned()));
        out.insert("size".into(), Value::from(self.size));
        out.insert("blake2b_256".into(), Value::String(self.blake2b_256.to_hex()));
        out.insert("encoder".into(), Value::String(self.encoder.clone()));
        if !self.alternatives.is_empty() {
            let alternatives = self
                .alternatives
                .iter()
                .map(|alternative| {
                    let mut entry = Map::new();
                    entry.insert("form".into(), Value::String(alternative.form.token().into()));
                    entry.insert("size".into(), Value::from(alternative.size));
                    entry.insert("blake2b_256".into(), Value::String(alternative.blake2b_256.to_hex()));
                    Value::Object(entry)
                })
                .collect();
            out.insert("alternatives".into(), Value::Array(alternatives));
        }
        Value::Object(out)
    }

    /// The delta to download for a client that reads `forms`: the last alternative in a form it reads, else this one
    /// (without alternatives either way).
    pub fn for_forms(&self, forms: DeltaForms) -> DeltaOffer {
        let alternative = self.alternatives.iter().rev().find(|alternative| forms.reads(alternative.form));
        let mut chosen = DeltaOffer { alternatives: Vec::new(), ..self.clone() };
        if let Some(alternative) = alternative {
            chosen.url = alternative.url.clone();
            chosen.size = alternative.size;
            chosen.blake2b_256 = alternative.blake2b_256;
        }
        chosen
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
            Some(rule) => rule(&from, None)?,
            None => ArtifactUrl::parse_at(&required(&mut obj, "url", crate::limits::MAX_URL_LEN)?, &obj.path("url"))?,
        };
        let size = take_size(&mut obj)?;
        let blake2b_256 = Blake2b256::parse_hex(&required(&mut obj, "blake2b_256", 64)?, &obj.path("blake2b_256"))?;
        let encoder = required(&mut obj, "encoder", MAX_ENCODER_LEN)?;
        check_encoder(&encoder, &obj.path("encoder"))?;
        let alternatives = match (url_rule, obj.take("alternatives")) {
            (Some(rule), Some(Value::Array(items))) => {
                let field = obj.path("alternatives");
                if items.len() > MAX_ALTERNATIVES {
                    return Err(Error::TooManyItems { field, max: MAX_ALTERNATIVES });
                }
                let mut alternatives = Vec::new();
                for (i, item) in items.into_iter().enumerate() {
                    let at = format!("{field}[{i}]");
                    let Value::Object(item) = item else {
                        return Err(Error::WrongType { field: at, expected: "an object" });
                    };
                    let mut item = crate::tauri::Fields::new(item, format!("{at}."));
                    let token = required(&mut item, "form", MAX_FORM_LEN)?;
                    let size = take_size(&mut item)?;
                    let blake2b_256 =
                        Blake2b256::parse_hex(&required(&mut item, "blake2b_256", 64)?, &item.path("blake2b_256"))?;
                    // A form this build does not read is a newer server's: skipped, like an unknown header token.
                    if let Some(form) = DeltaForm::from_token(&token) {
                        alternatives.push(DeltaAlternative { form, url: rule(&from, Some(form))?, size, blake2b_256 });
                    }
                }
                alternatives
            }
            (Some(_), Some(_)) => {
                return Err(Error::WrongType { field: obj.path("alternatives"), expected: "a list of deltas" });
            }
            // A dynamic answer offers one delta, already chosen for the request: alternatives there are ignored.
            _ => Vec::new(),
        };
        Ok(Self { from, url, size, blake2b_256, encoder, alternatives })
    }
}

fn take_size(obj: &mut crate::tauri::Fields) -> Result<u64> {
    match obj.take("size") {
        Some(Value::Number(n)) => {
            n.as_u64().ok_or_else(|| Error::WrongType { field: obj.path("size"), expected: "a byte count" })
        }
        Some(_) => Err(Error::WrongType { field: obj.path("size"), expected: "a byte count" }),
        None => Err(Error::MissingField { field: obj.path("size") }),
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

/// How a deltas index entry's URL is made from its `from` and, for an alternative, its form: the file beside the
/// index named [`delta_file_name`].
pub type UrlRule<'a> = &'a dyn Fn(&Blake2b256, Option<DeltaForm>) -> Result<ArtifactUrl>;

/// The name of a delta's file beside its deltas index: `<from>`, or `<from>.<form>` for an alternative.
pub fn delta_file_name(from: &Blake2b256, form: Option<DeltaForm>) -> String {
    match form {
        None => from.to_hex(),
        Some(form) => format!("{from}.{}", form.token()),
    }
}

/// Reads a delta file name ([`delta_file_name`]): the base, and the form of an alternative. `None` for anything else.
pub fn parse_delta_file_name(name: &str) -> Option<(Blake2b256, Option<DeltaForm>)> {
    let (hex, form) = match name.split_once('.') {
        Some((hex, token)) => (hex, Some(DeltaForm::from_token(token)?)),
        None => (name, None),
    };
    Some((Blake2b256::parse_hex(hex, "from").ok()?, form))
}

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
            alternatives: Vec::new(),
        }
    }

    fn rule(from: &Blake2b256, form: Option<DeltaForm>) -> Result<ArtifactUrl> {
        let name = delta_file_name(from, form);
        ArtifactUrl::parse(&format!("https://mirror.example/m/demo/deltas/2.0.0/linux-x86_64/{name}"))
    }

    #[test]
    fn the_delta_forms_header_round_trips_and_ignores_what_it_does_not_know() {
        let every = "bsdiff-interleaved, result-xxh3, bounded-window";
        assert_eq!(DeltaForms::ALL.to_header().as_deref(), Some(every));
        assert_eq!(DeltaForms::NONE.to_header(), None);
        assert_eq!(DeltaForms::parse_header(every), DeltaForms::ALL);
        assert_eq!(
            DeltaForms::parse_header(" zstd-dict ,bounded-window,result-xxh3 , x,bsdiff-interleaved"),
            DeltaForms::ALL
        );
        let one = DeltaForms::parse_header("bsdiff-interleaved");
        assert!(one.reads(DeltaForm::BsdiffInterleaved) && !one.reads(DeltaForm::ResultXxh3));
        // An updater of the previous release names the two forms before the bounded window, and reads only those.
        let previous = DeltaForms::parse_header("bsdiff-interleaved, result-xxh3");
        assert_ne!(previous, DeltaForms::ALL);
        assert!(previous.reads(DeltaForm::ResultXxh3) && !previous.reads(DeltaForm::BoundedWindow));
        assert_eq!(DeltaForm::NEWEST, DeltaForm::BoundedWindow);
        assert_eq!(DeltaForm::from_token("bounded-window"), Some(DeltaForm::BoundedWindow));
        for none in ["", "bsdiff", "bsdiff-interleaved2", &format!("result-xxh3,{}", "x".repeat(300))] {
            assert_eq!(DeltaForms::parse_header(none), DeltaForms::NONE, "{none:?}");
        }
    }

    #[test]
    fn an_alternative_is_chosen_only_for_a_client_that_reads_its_form() {
        let mut with = offer(HASH, 3_909);
        let from = with.from;
        with.alternatives.push(DeltaAlternative {
            form: DeltaForm::BsdiffInterleaved,
            url: rule(&from, Some(DeltaForm::BsdiffInterleaved)).unwrap(),
            size: 3_828,
            blake2b_256: Blake2b256([9; 32]),
        });
        let index = write_index(std::slice::from_ref(&with)).unwrap();
        assert!(index.contains(r#""alternatives":[{"blake2b_256""#), "{index}");
        let parsed = parse_index(index.as_bytes(), &rule).unwrap();
        assert_eq!(parsed, [with.clone()]);
        let old = parsed[0].for_forms(DeltaForms::NONE);
        assert_eq!((old.size, old.url.as_str().ends_with(HASH)), (3_909, true));
        assert!(old.alternatives.is_empty());
        let new = parsed[0].for_forms(DeltaForms::ALL);
        assert_eq!((new.size, new.blake2b_256), (3_828, Blake2b256([9; 32])));
        assert!(new.url.as_str().ends_with(&format!("{HASH}.bsdiff-interleaved")), "{}", new.url.as_str());
        assert_eq!(
            parse_delta_file_name(&format!("{HASH}.bsdiff-interleaved")),
            Some((from, Some(DeltaForm::BsdiffInterleaved)))
        );
        assert_eq!(parse_delta_file_name(HASH), Some((from, None)));
        assert_eq!(parse_delta_file_name(&format!("{HASH}.zstd-dict")), None);
        // The newest form's alternative goes to a client that names every form, not to one of the previous release.
        let mut newest = offer(HASH, 3_909);
        newest.alternatives.push(DeltaAlternative {
            form: DeltaForm::BoundedWindow,
            url: rule(&from, Some(DeltaForm::BoundedWindow)).unwrap(),
            size: 3_804,
            blake2b_256: Blake2b256([5; 32]),
        });
        let parsed = parse_index(write_index(std::slice::from_ref(&newest)).unwrap().as_bytes(), &rule).unwrap();
        assert_eq!(parsed, [newest]);
        let every = parsed[0].for_forms(DeltaForms::ALL);
        assert!(every.url.as_str().ends_with(&format!("{HASH}.bounded-window")), "{}", every.url.as_str());
        assert_eq!(every.size, 3_804);
        let previous = parsed[0].for_forms(DeltaForms::parse_header("bsdiff-interleaved, result-xxh3"));
        assert_eq!((previous.size, previous.url.as_str().ends_with(HASH)), (3_909, true));
        assert_eq!(
            parse_delta_file_name(&format!("{HASH}.bounded-window")),
            Some((from, Some(DeltaForm::BoundedWindow)))
        );
        // A newer server's form is skipped, not refused.
        let newer = index.replace("bsdiff-interleaved", "zstd-dict");
        assert_eq!(parse_index(newer.as_bytes(), &rule).unwrap(), [offer(HASH, 3_909)]);
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
