//! Release-health events: what an install reports back to the update server (`POST /{app}/events`).
//!
//! The updater sends small batches of [`Event`]s in the background: an update was installed, the new version started
//! healthily (confirmed), it was rolled back, installing or downloading it failed, or the system webview was too old
//! for it. The server counts them per release and halts a staged rollout whose failure rate is too high (see
//! `docs/protocol.md` §10).
//!
//! The endpoint is unauthenticated, so the parser here is strict and bounded like every other one in this crate: at
//! most [`MAX_BODY_LEN`] bytes, [`MAX_EVENTS`] events, no duplicate keys, closed sets for the kind, install id and
//! error code alphabets (so nothing a client sends can become a metric label or a log line with control characters).
//! Unknown fields are ignored, so a newer client may add fields without its batches being refused; an unknown
//! `kind` refuses the whole batch (the server answers 400, which a client treats as final and drops the batch).
//!
//! An event carries nothing personal: the install id is the random per-install id the updater already sends with its
//! checks (a UUID for Millennium's updater), never derived from the machine or the user.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{Error, Result, snippet};
use crate::{Target, Version};

/// Largest event batch body accepted, in bytes (64 KiB). A full batch of [`MAX_EVENTS`] typical events is ~20 KiB.
pub const MAX_BODY_LEN: usize = 64 * 1024;

/// Most events in one batch.
pub const MAX_EVENTS: usize = 100;

/// Longest install id accepted, in bytes (the server's limit for the install id of checks).
pub const MAX_INSTALL_ID_LEN: usize = 128;

/// Longest error code accepted, in bytes.
pub const MAX_ERROR_CODE_LEN: usize = 64;

/// Shortest event id accepted, in bytes: 16 characters of the id alphabet leave room for 80 random bits at least
/// (Millennium's updater sends 32 hex digits, 128 bits), so the ids of different installs do not meet.
pub const MIN_EVENT_ID_LEN: usize = 16;

/// Longest event id accepted, in bytes.
pub const MAX_EVENT_ID_LEN: usize = 64;

/// What happened on an install. Written in snake_case on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// An update was installed (the new version is about to start).
    Installed,
    /// The new version started and reported itself healthy.
    Confirmed,
    /// The new version did not confirm its health and the previous version was restored.
    RolledBack,
    /// Installing the downloaded update failed; the previous version is still running.
    InstallFailed,
    /// Downloading (or verifying) the update failed.
    DownloadFailed,
    /// The update was refused because the system webview is older than the release needs.
    WebviewTooOld,
}

impl EventKind {
    /// Every kind, in wire order.
    pub const ALL: [EventKind; 6] = [
        EventKind::Installed,
        EventKind::Confirmed,
        EventKind::RolledBack,
        EventKind::InstallFailed,
        EventKind::DownloadFailed,
        EventKind::WebviewTooOld,
    ];

    /// The wire name (`rolled_back`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Installed => "installed",
            EventKind::Confirmed => "confirmed",
            EventKind::RolledBack => "rolled_back",
            EventKind::InstallFailed => "install_failed",
            EventKind::DownloadFailed => "download_failed",
            EventKind::WebviewTooOld => "webview_too_old",
        }
    }

    /// Whether this kind counts as a failure of the release for an automatic rollout halt: a rollback or a failed
    /// install. (A failed download or a too-old webview says nothing about the release's code.)
    pub fn is_release_failure(self) -> bool {
        matches!(self, EventKind::RolledBack | EventKind::InstallFailed)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::UnknownEventKind { value: snippet(s) })
    }
}

impl serde::Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for EventKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One report from one install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// A random id the client gives the event when it produces it and keeps when it sends it again, so that a batch
    /// resent after a lost answer is not counted twice (the server ignores an id it has already counted within its
    /// window, `docs/protocol.md` §10): [`MIN_EVENT_ID_LEN`] to [`MAX_EVENT_ID_LEN`] characters of
    /// `A-Z a-z 0-9 _ -` (see [`check_event_id`]). Optional: events of older clients have none and are counted
    /// every time they arrive.
    pub id: Option<String>,
    /// What happened.
    pub kind: EventKind,
    /// The install's random id: 1 to [`MAX_INSTALL_ID_LEN`] characters of `A-Z a-z 0-9 . _ -` (see
    /// [`check_install_id`]).
    pub install_id: String,
    /// The version the install ran before the update, when known.
    pub from: Option<Version>,
    /// The release the event is about (the version being installed, confirmed, rolled back from, …).
    pub to: Version,
    /// The platform of the install.
    pub target: Target,
    /// For failures: a short machine code of what went wrong, e.g. `signature` or `no_space` (see
    /// [`check_error_code`]). Never free text.
    pub error: Option<String>,
    /// When it happened, in Unix seconds, if the client knows (events may be sent long after, from the queue).
    pub at: Option<u64>,
}

/// The body of `POST /{app}/events`: `{"events":[…]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventBatch {
    /// 1 to [`MAX_EVENTS`] events.
    pub events: Vec<Event>,
}

impl EventBatch {
    /// Parses a request body strictly: at most [`MAX_BODY_LEN`] bytes of JSON without duplicate keys, an object
    /// with an `events` array of 1 to [`MAX_EVENTS`] valid events. Any problem refuses the whole batch.
    ///
    /// One pass over the bytes reads the fields of each event where they are (strings without escapes borrowed
    /// from the body), instead of building a JSON tree and converting it: the event endpoint parses every batch
    /// before any other check can refuse it. The whole document is read before any field is judged, so a
    /// malformed document is always refused as such, whatever else is wrong in it.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_BODY_LEN {
            return Err(Error::DocumentTooLarge { len: bytes.len(), max: MAX_BODY_LEN });
        }
        let root = crate::json::read(bytes, |de, duplicate| RawSeed { duplicate, place: Place::Root }.deserialize(de))?;
        let Raw::Root(events) = root else {
            return Err(Error::WrongType { field: "(document)".into(), expected: "an object" });
        };
        let events = match *events {
            Raw::Absent => return Err(Error::MissingField { field: "events".into() }),
            Raw::Events(items) => items,
            _ => return Err(Error::WrongType { field: "events".into(), expected: "an array" }),
        };
        if events.is_empty() {
            return Err(Error::EmptyEventBatch);
        }
        if events.len() > MAX_EVENTS {
            return Err(Error::TooManyItems { field: "events".into(), max: MAX_EVENTS });
        }
        let events = events.into_iter().enumerate().map(|(i, item)| parse_event(i, item)).collect::<Result<_>>()?;
        Ok(Self { events })
    }

    /// Writes the batch as the JSON the server accepts. Fails (rather than producing a body the server would
    /// refuse) when the batch is empty, too large, or holds an invalid install id or error code.
    pub fn to_json(&self) -> Result<String> {
        if self.events.is_empty() {
            return Err(Error::EmptyEventBatch);
        }
        if self.events.len() > MAX_EVENTS {
            return Err(Error::TooManyItems { field: "events".into(), max: MAX_EVENTS });
        }
        let mut items = Vec::with_capacity(self.events.len());
        for (i, event) in self.events.iter().enumerate() {
            check_install_id(&format!("events[{i}].install_id"), &event.install_id)?;
            if let Some(id) = &event.id {
                check_event_id(&format!("events[{i}].id"), id)?;
            }
            if let Some(code) = &event.error {
                check_error_code(&format!("events[{i}].error"), code)?;
            }
            let mut object = Map::new();
            if let Some(id) = &event.id {
                object.insert("id".into(), id.clone().into());
            }
            object.insert("kind".into(), event.kind.as_str().into());
            object.insert("install_id".into(), event.install_id.clone().into());
            if let Some(from) = &event.from {
                object.insert("from".into(), from.to_string().into());
            }
            object.insert("to".into(), event.to.to_string().into());
            object.insert("target".into(), event.target.to_string().into());
            if let Some(code) = &event.error {
                object.insert("error".into(), code.clone().into());
            }
            if let Some(at) = event.at {
                object.insert("at".into(), at.into());
            }
            items.push(Value::Object(object));
        }
        let mut root = Map::new();
        root.insert("events".into(), Value::Array(items));
        let text = Value::Object(root).to_string();
        if text.len() > MAX_BODY_LEN {
            return Err(Error::DocumentTooLarge { len: text.len(), max: MAX_BODY_LEN });
        }
        Ok(text)
    }
}

/// Judges one event as read ([`RawEvent`]), in the order of its fields below, naming the first wrong one.
fn parse_event(index: usize, item: Raw<'_>) -> Result<Event> {
    let path = |name: &str| format!("events[{index}].{name}");
    let Raw::Event(mut raw) = item else {
        return Err(Error::WrongType { field: format!("events[{index}]"), expected: "an object" });
    };
    let mut string = |field: usize, required: bool| -> Result<Option<Cow<'_, str>>> {
        let name = EVENT_FIELDS[field];
        match std::mem::take(&mut raw.fields[field]) {
            Raw::Absent if required => Err(Error::MissingField { field: path(name) }),
            Raw::Absent => Ok(None),
            Raw::Str(s) => Ok(Some(s)),
            _ => Err(Error::WrongType { field: path(name), expected: "a string" }),
        }
    };
    let id = string(ID, false)?;
    if let Some(id) = &id {
        check_event_id(&path("id"), id)?;
    }
    let kind = string(KIND, true)?.unwrap_or_default().parse()?;
    let install_id = string(INSTALL_ID, true)?.unwrap_or_default();
    check_install_id(&path("install_id"), &install_id)?;
    let version = |name: &str, text: &str| {
        Version::parse(text)
            .map_err(|source| Error::InvalidFieldVersion { field: path(name), source: Box::new(source) })
    };
    let from = string(FROM, false)?.map(|t| version("from", &t)).transpose()?;
    let to = version("to", &string(TO, true)?.unwrap_or_default())?;
    let target = string(TARGET, true)?
        .unwrap_or_default()
        .parse()
        .map_err(|source| Error::InvalidEventField { field: path("target"), reason: error_reason(source) })?;
    let error = string(ERROR, false)?;
    if let Some(code) = &error {
        check_error_code(&path("error"), code)?;
    }
    let at = match std::mem::take(&mut raw.fields[AT]) {
        Raw::Absent => None,
        Raw::Whole(n) => Some(n),
        Raw::Number => {
            return Err(Error::WrongType {
                field: path("at"),
                expected: "a whole number of seconds since 1970 (not negative)",
            });
        }
        _ => return Err(Error::WrongType { field: path("at"), expected: "a number" }),
    };
    Ok(Event {
        id: id.map(Cow::into_owned),
        kind,
        install_id: install_id.into_owned(),
        from,
        to,
        target,
        error: error.map(Cow::into_owned),
        at,
    })
}

/// A value as [`EventBatch::parse`] reads it: what the checks need to know of it, and nothing of what no field
/// takes (an object or array where a string belongs is read, for its syntax and keys, and forgotten).
#[derive(Debug, Default)]
enum Raw<'de> {
    /// Missing, or `null`.
    #[default]
    Absent,
    /// A string, borrowed from the body when it has no escapes.
    Str(Cow<'de, str>),
    /// A whole number from 0 to `u64::MAX`.
    Whole(u64),
    /// Any other number.
    Number,
    /// The document, an object: its `events`.
    Root(Box<Raw<'de>>),
    /// The array of `events`.
    Events(Vec<Raw<'de>>),
    /// An item of `events` that is an object.
    Event(Box<RawEvent<'de>>),
    /// Anything else: a boolean, or an object or array where none was expected.
    Other,
}

/// The fields of an event that [`parse_event`] judges; the constants below are their indexes.
const EVENT_FIELDS: [&str; 8] = ["id", "kind", "install_id", "from", "to", "target", "error", "at"];
const ID: usize = 0;
const KIND: usize = 1;
const INSTALL_ID: usize = 2;
const FROM: usize = 3;
const TO: usize = 4;
const TARGET: usize = 5;
const ERROR: usize = 6;
const AT: usize = 7;

/// An event object as read: its known fields (unknown ones are read and dropped).
#[derive(Debug)]
struct RawEvent<'de> {
    fields: [Raw<'de>; EVENT_FIELDS.len()],
}

/// Where in the document a value is, which says what an object or array there is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The document itself: an object holding `events`.
    Root,
    /// The value of `events`: an array of events.
    Events,
    /// An item of `events`: an object of [`EVENT_FIELDS`].
    Event,
    /// A field of an event: a string or a number.
    Field,
}

/// Reads a value at `place` as [`Raw`], refusing duplicate keys at every depth.
#[derive(Clone, Copy)]
struct RawSeed<'a> {
    duplicate: &'a crate::json::Duplicate,
    place: Place,
}

impl RawSeed<'_> {
    fn at(self, place: Place) -> Self {
        Self { place, ..self }
    }

    /// Reads an object's keys and the values of those in `known` at `place` (others are read and dropped); refuses
    /// a key that comes twice, known or not. Returns the known values, by their index in `known`.
    fn read_object<'de, A: MapAccess<'de>, const N: usize>(
        self,
        mut map: A,
        known: &[&str; N],
        place: Place,
    ) -> std::result::Result<[Raw<'de>; N], A::Error> {
        let mut values: [Raw<'de>; N] = std::array::from_fn(|_| Raw::Absent);
        let mut seen = [false; N];
        // Keys no field takes (newer clients' fields), refused when repeated all the same; a set, as a body may
        // hold thousands of them.
        let mut others: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(key) = map.next_key_seed(Key)? {
            let index = known.iter().position(|k| *k == key);
            let again = match index {
                Some(i) => std::mem::replace(&mut seen[i], true),
                None => others.contains(&key),
            };
            if again {
                return Err(crate::json::duplicate_key(self.duplicate, &key));
            }
            match index {
                Some(i) => values[i] = map.next_value_seed(self.at(place))?,
                None => {
                    map.next_value_seed(crate::json::StrictValue { duplicate: self.duplicate })?;
                    others.insert(key);
                }
            }
        }
        Ok(values)
    }
}

/// Reads an object's key, borrowed from the body when it has no escapes (serde's `Cow<str>` always copies it).
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> std::result::Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

impl<'de> DeserializeSeed<'de> for RawSeed<'_> {
    type Value = Raw<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> std::result::Result<Raw<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RawSeed<'_> {
    type Value = Raw<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Raw<'de>, E> {
        Ok(Raw::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<Raw<'de>, E> {
        Ok(Raw::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> std::result::Result<Raw<'de>, E> {
        Ok(Raw::Str(Cow::Owned(v)))
    }

    fn visit_u64<E>(self, v: u64) -> std::result::Result<Raw<'de>, E> {
        Ok(Raw::Whole(v))
    }

    fn visit_i64<E>(self, v: i64) -> std::result::Result<Raw<'de>, E> {
        Ok(u64::try_from(v).map_or(Raw::Number, Raw::Whole))
    }

    fn visit_f64<E>(self, _: f64) -> std::result::Result<Raw<'de>, E> {
        Ok(Raw::Number)
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<Raw<'de>, E> {
        Ok(Raw::Other)
    }

    fn visit_unit<E>(self) -> std::result::Result<Raw<'de>, E> {
        Ok(Raw::Absent)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Raw<'de>, A::Error> {
        if self.place != Place::Events {
            return crate::json::StrictValue { duplicate: self.duplicate }.visit_seq(seq).map(|_| Raw::Other);
        }
        // One event past the limit is kept, to say it was passed; the rest is only read, as nothing of it is kept.
        let mut events = Vec::new();
        while events.len() <= MAX_EVENTS {
            let Some(event) = seq.next_element_seed(self.at(Place::Event))? else { break };
            events.push(event);
        }
        while seq.next_element_seed(self.at(Place::Field))?.is_some() {}
        Ok(Raw::Events(events))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Raw<'de>, A::Error> {
        match self.place {
            Place::Root => {
                let [events] = self.read_object(map, &["events"], Place::Events)?;
                Ok(Raw::Root(Box::new(events)))
            }
            Place::Event => {
                let fields = self.read_object(map, &EVENT_FIELDS, Place::Field)?;
                Ok(Raw::Event(Box::new(RawEvent { fields })))
            }
            Place::Events | Place::Field => {
                crate::json::StrictValue { duplicate: self.duplicate }.visit_map(map).map(|_| Raw::Other)
            }
        }
    }
}

fn error_reason(error: Error) -> String {
    error.to_string()
}

/// Checks an install id as events carry it: 1 to [`MAX_INSTALL_ID_LEN`] characters of `A-Z a-z 0-9 . _ -`. That
/// covers the UUIDs Millennium's updater generates, and keeps ids out of logs and labels harmless.
pub fn check_install_id(field: &str, id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_INSTALL_ID_LEN {
        return Err(Error::InvalidEventField {
            field: field.to_owned(),
            reason: format!("an install id is 1 to {MAX_INSTALL_ID_LEN} characters, not {}", id.len()),
        });
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        return Err(Error::InvalidEventField {
            field: field.to_owned(),
            reason: format!("an install id holds only `A-Z a-z 0-9 . _ -`, not `{}`", snippet(id)),
        });
    }
    Ok(())
}

/// Checks an event id: [`MIN_EVENT_ID_LEN`] to [`MAX_EVENT_ID_LEN`] characters of `A-Z a-z 0-9 _ -` (a UUID, or
/// hex or base64url random bytes).
pub fn check_event_id(field: &str, id: &str) -> Result<()> {
    let ok = (MIN_EVENT_ID_LEN..=MAX_EVENT_ID_LEN).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if !ok {
        return Err(Error::InvalidEventField {
            field: field.to_owned(),
            reason: format!(
                "an event id is {MIN_EVENT_ID_LEN} to {MAX_EVENT_ID_LEN} characters of `A-Z a-z 0-9 _ -`, not `{}`",
                snippet(id)
            ),
        });
    }
    Ok(())
}

/// Checks an error code: 1 to [`MAX_ERROR_CODE_LEN`] characters of `a-z 0-9 _ .`, starting with a letter (the
/// stable snake_case codes of `docs/conventions.md`, optionally dotted as `crate.code`).
pub fn check_error_code(field: &str, code: &str) -> Result<()> {
    let ok = !code.is_empty()
        && code.len() <= MAX_ERROR_CODE_LEN
        && code.as_bytes()[0].is_ascii_lowercase()
        && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.'));
    if !ok {
        return Err(Error::InvalidEventField {
            field: field.to_owned(),
            reason: format!(
                "an error code is 1 to {MAX_ERROR_CODE_LEN} characters of `a-z 0-9 _ .` starting with a letter, not `{}`",
                snippet(code)
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"events":[
        {"id":"5f0c1d2e3a4b5c6d7e8f9a0b1c2d3e4f","kind":"installed","install_id":"0b9d2c3e-6f4a-4c1e-9d55-1c2b3a4d5e6f",
         "from":"1.0.0","to":"1.1.0","target":"linux-x86_64-deb","at":1700000000},
        {"kind":"rolled_back","install_id":"abc","to":"1.1.0","target":"windows-x86_64","error":"health_timeout",
         "future_field":{"x":1}}
    ]}"#;

    fn one(event: &str) -> Result<EventBatch> {
        EventBatch::parse(format!(r#"{{"events":[{event}]}}"#).as_bytes())
    }

    #[test]
    fn a_good_batch_parses_and_round_trips() {
        let batch = EventBatch::parse(GOOD.as_bytes()).unwrap();
        assert_eq!(batch.events.len(), 2);
        assert_eq!(batch.events[0].kind, EventKind::Installed);
        assert_eq!(batch.events[0].from, Some(Version::parse("1.0.0").unwrap()));
        assert_eq!(batch.events[0].at, Some(1_700_000_000));
        assert_eq!(batch.events[0].id.as_deref(), Some("5f0c1d2e3a4b5c6d7e8f9a0b1c2d3e4f"));
        assert_eq!(batch.events[1].id, None, "an event without an id (an older client) is accepted");
        assert_eq!(batch.events[1].kind, EventKind::RolledBack);
        assert_eq!(batch.events[1].error.as_deref(), Some("health_timeout"));
        assert_eq!(batch.events[1].target.to_string(), "windows-x86_64");
        let again = EventBatch::parse(batch.to_json().unwrap().as_bytes()).unwrap();
        assert_eq!(again, batch);
    }

    #[test]
    fn every_kind_has_its_snake_case_name() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>().unwrap(), kind);
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
        }
        assert!("RolledBack".parse::<EventKind>().is_err());
        assert!("rolledback".parse::<EventKind>().is_err());
    }

    #[test]
    fn bad_batches_are_refused_with_the_field_named() {
        let cases: &[(&str, &str)] = &[
            (r#"{"kind":"exploded","install_id":"a","to":"1.0.0","target":"linux-x86_64"}"#, "unknown event kind"),
            (r#"{"kind":"installed","to":"1.0.0","target":"linux-x86_64"}"#, "events[0].install_id"),
            (r#"{"kind":"installed","install_id":"a b","to":"1.0.0","target":"linux-x86_64"}"#, "events[0].install_id"),
            (r#"{"kind":"installed","install_id":"a","to":"one","target":"linux-x86_64"}"#, "events[0].to"),
            (
                r#"{"kind":"installed","install_id":"a","to":"1.0.0","from":7,"target":"linux-x86_64"}"#,
                "events[0].from",
            ),
            (r#"{"kind":"installed","install_id":"a","to":"1.0.0","target":"beos-x86_64"}"#, "events[0].target"),
            (
                r#"{"kind":"installed","install_id":"a","to":"1.0.0","target":"linux-x86_64","error":"Bad Thing"}"#,
                "events[0].error",
            ),
            (r#"{"kind":"installed","install_id":"a","to":"1.0.0","target":"linux-x86_64","at":-1}"#, "events[0].at"),
            (r#"{"kind":"installed","install_id":"a","to":"1.0.0","target":"linux-x86_64","at":1.5}"#, "events[0].at"),
            (
                r#"{"kind":"installed","kind":"installed","install_id":"a","to":"1.0.0","target":"linux-x86_64"}"#,
                "duplicate key",
            ),
            (r#"7"#, "events[0]"),
            (
                r#"{"id":"short","kind":"installed","install_id":"a","to":"1.0.0","target":"linux-x86_64"}"#,
                "events[0].id",
            ),
            (
                r#"{"id":"0123456789abcdef 12","kind":"installed","install_id":"a","to":"1.0.0","target":"linux-x86_64"}"#,
                "events[0].id",
            ),
            (
                r#"{"id":12345678901234567890,"kind":"installed","install_id":"a","to":"1.0.0","target":"linux-x86_64"}"#,
                "events[0].id",
            ),
        ];
        for (event, needle) in cases {
            let err = one(event).unwrap_err().to_string();
            assert!(err.contains(needle), "{event}: {err}");
        }
        let long_id = "a".repeat(MAX_INSTALL_ID_LEN + 1);
        assert!(
            one(&format!(r#"{{"kind":"installed","install_id":"{long_id}","to":"1.0.0","target":"linux-x86_64"}}"#))
                .is_err()
        );
        let long_code = "a".repeat(MAX_ERROR_CODE_LEN + 1);
        assert!(
            one(&format!(
                r#"{{"kind":"installed","install_id":"a","to":"1.0.0","target":"linux-x86_64","error":"{long_code}"}}"#
            ))
            .is_err()
        );
    }

    #[test]
    fn duplicate_keys_are_refused_everywhere_even_in_fields_no_one_reads() {
        let event = r#"{"kind":"installed","install_id":"a","to":"1.0.0","target":"linux-x86_64""#;
        for doc in [
            format!(r#"{{"events":[{event},"x":1,"x":2}}]}}"#),
            format!(r#"{{"events":[{event},"future":{{"k":1,"k":2}}}}]}}"#),
            format!(r#"{{"events":[{event},"future":[{{"k":1,"k":2}}]}}]}}"#),
            format!(r#"{{"events":[{event}}}],"pad":{{"a":1,"a":2}}}}"#),
            format!(r#"{{"events":[{event}}}],"pad":1,"pad":2}}"#),
            format!(r#"{{"events":[{event}}}],"events":[{event}}}]}}"#),
            // Escapes are decoded before keys are compared.
            format!(r#"{{"events":[{event},"\u006bind":"confirmed"}}]}}"#),
            r#"{"events":[7,{"k":1,"k":2}]}"#.to_owned(),
            // Past the most events a batch may hold, the rest is still read as strictly.
            format!(r#"{{"events":[{}{{"k":1,"k":2}}]}}"#, "{},".repeat(MAX_EVENTS + 5)),
        ] {
            assert!(matches!(EventBatch::parse(doc.as_bytes()), Err(Error::DuplicateKey { .. })), "{doc}");
        }
        // Thousands of fields no one reads: accepted, and one of them repeated at the end is still found.
        let unknown: String = (0..5_000).map(|i| format!(r#","f{i}":0"#)).collect();
        let doc = format!(r#"{{"events":[{event}{unknown}}}]}}"#);
        assert_eq!(EventBatch::parse(doc.as_bytes()).unwrap().events.len(), 1);
        let doc = format!(r#"{{"events":[{event}{unknown},"f17":1}}]}}"#);
        assert!(matches!(EventBatch::parse(doc.as_bytes()), Err(Error::DuplicateKey { key }) if key == "f17"));
    }

    #[test]
    fn a_malformed_document_is_refused_as_such_whatever_comes_before_the_fault() {
        for doc in [
            r#"{"events":[{"kind":"exploded","install_id":"a b","to":"x","target":"y"}],"#,
            r#"{"events":[{"kind":"installed"}]} {}"#,
            r#"{"events":[{"kind":"installed","at":1e999}]}"#,
            r#"7 7"#,
        ] {
            assert!(matches!(EventBatch::parse(doc.as_bytes()), Err(Error::InvalidJson { .. })), "{doc}");
        }
        let past_the_limit = format!(r#"{{"events":[{}{{"k":]}}"#, "{},".repeat(MAX_EVENTS + 5));
        assert!(matches!(EventBatch::parse(past_the_limit.as_bytes()), Err(Error::InvalidJson { .. })));
        let many = format!(r#"{{"events":[{}{{}}]}}"#, "{},".repeat(20_000));
        assert!(matches!(EventBatch::parse(many.as_bytes()), Err(Error::TooManyItems { max: MAX_EVENTS, .. })));
    }

    #[test]
    fn escaped_strings_and_keys_read_as_their_plain_spelling() {
        let escaped = r#"{"\u0065vents":[{"kind":"install\u0065d","install_\u0069d":"a\u002db","to":"1.0.0",
            "target":"linux-x86_64","id":"\u0030123456789abcdef"}]}"#;
        let plain = r#"{"events":[{"kind":"installed","install_id":"a-b","to":"1.0.0","target":"linux-x86_64",
            "id":"0123456789abcdef"}]}"#;
        assert_eq!(EventBatch::parse(escaped.as_bytes()).unwrap(), EventBatch::parse(plain.as_bytes()).unwrap());
    }

    #[test]
    fn each_wrong_type_is_named_with_what_was_expected() {
        let event = r#""kind":"installed","install_id":"a","to":"1.0.0","target":"linux-x86_64""#;
        let cases: &[(String, &str)] = &[
            (format!(r#"{{"events":[{{{event},"at":"5"}}]}}"#), "`events[0].at` must be a number"),
            (format!(r#"{{"events":[{{{event},"at":true}}]}}"#), "`events[0].at` must be a number"),
            (format!(r#"{{"events":[{{{event},"at":18446744073709551616}}]}}"#), "`events[0].at` must be a whole"),
            (format!(r#"{{"events":[{{{event},"at":-5}}]}}"#), "`events[0].at` must be a whole"),
            (format!(r#"{{"events":[{{{event},"kind":null}}]}}"#), "duplicate key"),
            (format!(r#"{{"events":[{{{event},"error":["x"]}}]}}"#), "`events[0].error` must be a string"),
            (format!(r#"{{"events":[{{{event},"from":{{}}}}]}}"#), "`events[0].from` must be a string"),
            (format!(r#"{{"events":[{{{event}}},null]}}"#), "`events[1]` must be an object"),
            (format!(r#"{{"events":[{{{event}}},[]]}}"#), "`events[1]` must be an object"),
            (
                r#"{"events":[{"install_id":"a","to":"1.0.0","target":"linux-x86_64","kind":null}]}"#.into(),
                "events[0].kind",
            ),
            (r#"{"events":{}}"#.into(), "`events` must be an array"),
            (r#"{"events":"x"}"#.into(), "`events` must be an array"),
            (r#"{"events":null}"#.into(), "events"),
            (r#"null"#.into(), "`(document)` must be an object"),
            (r#""events""#.into(), "`(document)` must be an object"),
        ];
        for (doc, needle) in cases {
            let err = EventBatch::parse(doc.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(needle), "{doc}: {err}");
        }
        assert!(matches!(EventBatch::parse(br#"{"events":null}"#), Err(Error::MissingField { .. })));
        let at_max = format!(r#"{{"events":[{{{event},"at":18446744073709551615}}]}}"#);
        assert_eq!(EventBatch::parse(at_max.as_bytes()).unwrap().events[0].at, Some(u64::MAX));
    }

    #[test]
    fn batch_limits_hold() {
        assert!(matches!(EventBatch::parse(br#"{"events":[]}"#), Err(Error::EmptyEventBatch)));
        assert!(matches!(EventBatch::parse(br#"{}"#), Err(Error::MissingField { .. })));
        assert!(matches!(EventBatch::parse(br#"[]"#), Err(Error::WrongType { .. })));
        let event = r#"{"kind":"installed","install_id":"a","to":"1.0.0","target":"linux-x86_64"}"#;
        let many = vec![event; MAX_EVENTS + 1].join(",");
        assert!(matches!(
            EventBatch::parse(format!(r#"{{"events":[{many}]}}"#).as_bytes()),
            Err(Error::TooManyItems { max: MAX_EVENTS, .. })
        ));
        let big = format!(r#"{{"events":[],"pad":"{}"}}"#, "x".repeat(MAX_BODY_LEN));
        assert!(matches!(EventBatch::parse(big.as_bytes()), Err(Error::DocumentTooLarge { max: MAX_BODY_LEN, .. })));
        // A full batch of the longest fields still fits the body limit, so a valid client batch is never refused.
        let id = "a".repeat(MAX_INSTALL_ID_LEN);
        let code = "e".repeat(MAX_ERROR_CODE_LEN);
        let v = u64::MAX.to_string();
        let event = Event {
            id: Some("i".repeat(MAX_EVENT_ID_LEN)),
            kind: EventKind::WebviewTooOld,
            install_id: id,
            from: Some(Version::parse(&format!("{v}.{v}.{v}")).unwrap()),
            to: Version::parse(&format!("{v}.{v}.{v}")).unwrap(),
            target: "darwin-aarch64-app".parse().unwrap(),
            error: Some(code),
            at: Some(u64::MAX),
        };
        let batch = EventBatch { events: vec![event; MAX_EVENTS] };
        let text = batch.to_json().unwrap();
        assert_eq!(EventBatch::parse(text.as_bytes()).unwrap(), batch);
    }

    #[test]
    fn serializing_refuses_what_the_server_would() {
        let mut event = EventBatch::parse(GOOD.as_bytes()).unwrap().events.remove(0);
        event.install_id = "has space".into();
        assert!(EventBatch { events: vec![event.clone()] }.to_json().is_err());
        event.install_id = "ok".into();
        event.error = Some("Not-A-Code".into());
        assert!(EventBatch { events: vec![event.clone()] }.to_json().is_err());
        event.error = None;
        event.id = Some("too-short".into());
        assert!(EventBatch { events: vec![event] }.to_json().is_err());
        assert!(EventBatch::default().to_json().is_err());
    }
}
