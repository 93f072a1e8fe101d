//! Strict JSON reading: a size bound and no duplicate keys.
//!
//! `serde_json::Value` keeps the last of two equal keys, silently. A document that says `"version": "1.0.0"` twice
//! with different values means one thing to a reviewer reading the first, and another to a client; we refuse it.
//! Everything else is `serde_json`'s parser: UTF-8 only, no trailing data, nesting limited to 128 levels.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{Error, Result, snippet};
use crate::limits::MAX_DOCUMENT_LEN;

/// Parses a whole document: at most [`MAX_DOCUMENT_LEN`] bytes of JSON, no duplicate keys, nothing after it.
pub(crate) fn parse(bytes: &[u8]) -> Result<Value> {
    read(bytes, |de, duplicate| StrictValue { duplicate }.deserialize(de))
}

/// Where a strict reader records the first duplicate key it meets (before it fails there).
pub(crate) type Duplicate = RefCell<Option<String>>;

/// Reads a whole document with `reader` (given the deserializer and where to record a duplicate key, which it must
/// refuse at every depth, [`StrictValue`] doing that for any value it reads): at most [`MAX_DOCUMENT_LEN`] bytes,
/// nothing after the value; a duplicate key is [`Error::DuplicateKey`], any other failure [`Error::InvalidJson`].
pub(crate) fn read<'de, T>(
    bytes: &'de [u8],
    reader: impl FnOnce(&mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>, &Duplicate) -> serde_json::Result<T>,
) -> Result<T> {
    if bytes.len() > MAX_DOCUMENT_LEN {
        return Err(Error::DocumentTooLarge { len: bytes.len(), max: MAX_DOCUMENT_LEN });
    }
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = reader(&mut de, &duplicate).and_then(|value| {
        de.end()?;
        Ok(value)
    });
    match (parsed, duplicate.into_inner()) {
        (_, Some(key)) => Err(Error::DuplicateKey { key: snippet(&key) }),
        (Ok(value), None) => Ok(value),
        (Err(source), None) => Err(Error::InvalidJson { source }),
    }
}

/// Fails a strict reader at the duplicate `key`, recording it for [`read`].
pub(crate) fn duplicate_key<E: de::Error>(duplicate: &Duplicate, key: &str) -> E {
    *duplicate.borrow_mut() = Some(key.to_owned());
    E::custom("duplicate key")
}

/// Builds a `Value`, recording the first duplicate key it meets (and failing there).
pub(crate) struct StrictValue<'a> {
    pub(crate) duplicate: &'a Duplicate,
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON cannot spell NaN or infinity, so this is always `Some`; `Null` keeps it total anyway.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue { duplicate: self.duplicate })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(duplicate_key(self.duplicate, &key));
            }
            let value = map.next_value_seed(StrictValue { duplicate: self.duplicate })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_json() {
        let v = parse(br#"{"a":[1,-2,3.5,true,null,"x"],"b":{"c":{}}}"#).unwrap();
        assert_eq!(v["a"][2], 3.5);
        assert_eq!(v["b"]["c"], Value::Object(Map::new()));
    }

    #[test]
    fn rejects_duplicates_at_any_depth() {
        assert!(matches!(parse(br#"{"a":1,"a":2}"#), Err(Error::DuplicateKey { key }) if key == "a"));
        assert!(matches!(
            parse(br#"{"p":{"k":{"url":1,"url":2}}}"#),
            Err(Error::DuplicateKey { key }) if key == "url"
        ));
        assert!(matches!(parse(br#"[{"x":1,"x":1}]"#), Err(Error::DuplicateKey { .. })));
        // Escapes are decoded before comparing.
        assert!(matches!(parse(br#"{"a":1,"\u0061":2}"#), Err(Error::DuplicateKey { .. })));
    }

    #[test]
    fn rejects_bad_json() {
        for doc in [&b""[..], b"{", b"{} {}", b"{}x", b"\xef\xbb\xbf{}", b"{\"a\":\"\xff\"}", b"[1e999]", b"NaN"] {
            assert!(matches!(parse(doc), Err(Error::InvalidJson { .. })), "{doc:?}");
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(parse(deep.as_bytes()), Err(Error::InvalidJson { .. })));
    }

    #[test]
    fn rejects_large_documents() {
        let big = format!("\"{}\"", "a".repeat(MAX_DOCUMENT_LEN));
        assert!(matches!(parse(big.as_bytes()), Err(Error::DocumentTooLarge { max: MAX_DOCUMENT_LEN, .. })));
    }
}
