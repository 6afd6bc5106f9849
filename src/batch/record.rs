//! Records: parsing a JSON Lines record into its id and text (one pass over the line,
//! other fields skipped unread), and the table of record ids the outputs name units by.

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use super::input::Line;
use super::{BatchError, reserve_lean};

enum Key {
    Id,
    Text,
    Other,
}

/// The names of the id and text fields.
#[derive(Clone, Copy)]
pub(super) struct Fields<'a> {
    pub(super) id: &'a str,
    pub(super) text: &'a str,
}

struct KeySeed<'a>(Fields<'a>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = Key;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(if v == self.0.text {
            Key::Text
        } else if v == self.0.id {
            Key::Id
        } else {
            Key::Other
        })
    }
}

#[derive(Default)]
/// The two fields of a record that matter, as parsed.
pub(super) struct RawRecord {
    id: Option<serde_json::Value>,
    text: Option<serde_json::Value>,
}

impl<'de> DeserializeSeed<'de> for Fields<'_> {
    type Value = RawRecord;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<RawRecord, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Fields<'_> {
    type Value = RawRecord;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawRecord, A::Error> {
        let mut record = RawRecord::default();
        while let Some(key) = map.next_key_seed(KeySeed(self))? {
            match key {
                Key::Text => record.text = Some(map.next_value()?),
                Key::Id => record.id = Some(map.next_value()?),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(record)
    }
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// [`parse_record`] with the default field names (`id`, `text`), for the fuzz checks
/// ([`crate::fuzzing`]).
pub(crate) fn parse_default_record(line: &[u8]) -> Result<(Option<String>, String), String> {
    parse_record(
        line,
        Fields {
            id: "id",
            text: "text",
        },
    )
}

/// Parses one line: its id (as JSON text, when present) and its text.
pub(super) fn parse_record(
    line: &[u8],
    fields: Fields<'_>,
) -> Result<(Option<String>, String), String> {
    let mut de = serde_json::Deserializer::from_slice(line);
    let record = fields
        .deserialize(&mut de)
        .and_then(|r| de.end().map(|()| r))
        .map_err(|e| match e.classify() {
            serde_json::error::Category::Data => e.to_string(),
            _ => format!("invalid JSON: {e}"),
        })?;
    let text = text_of(record.text, fields.text)?;
    Ok((record.id.map(|v| v.to_string()), text))
}

/// A record's text from its field `field` (`None` when absent): a string, or why not.
pub(super) fn text_of(text: Option<serde_json::Value>, field: &str) -> Result<String, String> {
    match text {
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(other) => Err(format!(
            "field {field:?} is {}, not a string",
            json_type(&other)
        )),
        None => Err(format!("no field {field:?}")),
    }
}

/// The records' ids as JSON text, end to end in one buffer: a record without an id is
/// named by its line number (`"input:line"` when there are several inputs).
#[derive(Default)]
pub(super) struct Ids {
    /// Per record: end of its id in `bytes`.
    ends: Vec<u64>,
    bytes: Vec<u8>,
}

impl Ids {
    /// Stores a record's id (its JSON text; the line number when absent) and returns the
    /// record's number. `names` are the inputs' names.
    pub(super) fn push(
        &mut self,
        line: &Line,
        id: Option<String>,
        names: &[String],
    ) -> Result<u32, BatchError> {
        let ordinal = self.ends.len();
        if ordinal >= u32::MAX as usize {
            return Err(BatchError::TooLarge(format!(
                "more than {} records",
                u32::MAX - 1
            )));
        }
        match id {
            Some(id) => self.bytes.extend_from_slice(id.as_bytes()),
            None if names.len() > 1 => {
                let id = format!("{}:{}", names[line.source as usize], line.number);
                self.bytes
                    .extend_from_slice(serde_json::Value::from(id).to_string().as_bytes());
            }
            None => self
                .bytes
                .extend_from_slice(line.number.to_string().as_bytes()),
        }
        reserve_lean(&mut self.ends, 1);
        self.ends.push(self.bytes.len() as u64);
        Ok(ordinal as u32)
    }

    /// The id of record `record`, as JSON text.
    pub(super) fn get(&self, record: u32) -> &[u8] {
        let r = record as usize;
        let start = if r == 0 { 0 } else { self.ends[r - 1] };
        &self.bytes[start as usize..self.ends[r] as usize]
    }

    /// Heap bytes held.
    pub(super) fn memory_bytes(&self) -> usize {
        self.bytes.capacity() + self.ends.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields<'static> {
        Fields {
            id: "id",
            text: "text",
        }
    }

    #[test]
    fn records_parse_with_escaped_keys_and_any_id_type() {
        let (id, text) = parse_record(
            br#"{"meta":{"a":[1]},"t\u0065xt":"caf\u00e9","id":7}"#,
            fields(),
        )
        .unwrap();
        assert_eq!((id.as_deref(), text.as_str()), (Some("7"), "café"));
        let (id, _) = parse_record(br#"{"text":"x","id":"a\"b"}"#, fields()).unwrap();
        assert_eq!(id.as_deref(), Some(r#""a\"b""#));
        let (id, _) = parse_record(br#"{"text":"x"}"#, fields()).unwrap();
        assert_eq!(id, None);
    }

    #[test]
    fn bad_records_say_what_is_wrong() {
        let err = |line: &[u8]| parse_record(line, fields()).unwrap_err();
        assert!(err(b"{\"text\": ").starts_with("invalid JSON"));
        assert!(err(b"{\"text\": \"a\"} trailing").starts_with("invalid JSON"));
        assert_eq!(err(br#"{"id": 1}"#), "no field \"text\"");
        assert_eq!(
            err(br#"{"text": null}"#),
            "field \"text\" is null, not a string"
        );
        assert!(err(b"\"just a string\"").contains("expected a JSON object"));
    }
}
