//! Spec checks of the write modes (`mode`, `merge_strategy`, `range`) across keys, each refusal
//! located at the key it is about (`file:line:col`).

use super::{Mode, Spec, StreamSpec};
use crate::error::Error;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// The SQL connector types: they can do every mode and merge strategy.
const SQL: &[&str] = &["postgresql", "sqlite", "mysql", "mssql", "oracle"];

/// Whether `connector_type` is a SQL database.
pub fn is_sql(connector_type: &str) -> bool {
    SQL.contains(&connector_type)
}

/// A refusal of stream `index`'s `key`.
#[derive(Debug)]
pub struct Refusal {
    pub index: usize,
    pub key: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(index: usize, key: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            index,
            key,
            message: message.into(),
        }
    }

    /// The spec error: `origin:line:col: streams[i].key: message`.
    pub fn located(&self, text: &str, origin: &str) -> Error {
        located_message(text, origin, &self.to_string())
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "streams[{}].{}: {}", self.index, self.key, self.message)
    }
}

/// `origin: msg`, with the line and column of the key when `msg` starts with one of stream
/// `i` (`streams[i].key: ...`, as connectors word their refusals of one stream's key).
pub fn located_message(text: &str, origin: &str, msg: &str) -> Error {
    let keyed = msg.strip_prefix("streams[").and_then(|rest| {
        let (index, rest) = rest.split_once("].")?;
        let (key, message) = rest.split_once(": ")?;
        let ok = key.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        Some((index.parse::<usize>().ok()?, key, message)).filter(|_| ok)
    });
    let Some((index, key, message)) = keyed else {
        return Error::spec(format!("{origin}: {msg}"));
    };
    let at = locate(text, &["streams", &index.to_string(), key])
        .map(|(l, c)| format!("{l}:{c}:"))
        .unwrap_or_default();
    Error::spec(format!("{origin}:{at} streams[{index}].{key}: {message}"))
}

/// The mode checks no single key can make.
pub fn validate(spec: &Spec) -> Result<(), Refusal> {
    let sql_source = is_sql(spec.source.connector_type());
    let sql_destination = is_sql(spec.destination.connector_type());
    for (i, s) in spec.streams.iter().enumerate() {
        check_stream(i, s, sql_source, sql_destination)?;
    }
    Ok(())
}

fn check_stream(i: usize, s: &StreamSpec, sql_source: bool, sql_dest: bool) -> Result<(), Refusal> {
    let merges = matches!(s.mode, Mode::Incremental | Mode::Backfill);
    if s.mode == Mode::Backfill && s.cursor_field.is_none() {
        let why = if sql_source {
            "mode `backfill` reads a range of the `cursor_field`: give one"
        } else {
            "mode `backfill` reads a range of a `cursor_field`, and file sources have none (their incremental mode reads new files)"
        };
        return Err(Refusal::new(i, "mode", why));
    }
    if let Some(strategy) = s.merge_strategy {
        if !merges {
            return Err(Refusal::new(
                i,
                "merge_strategy",
                format!(
                    "`merge_strategy` applies to modes `incremental` and `backfill`, not `{}`",
                    s.mode
                ),
            ));
        }
        if s.primary_key.is_empty() {
            return Err(Refusal::new(
                i,
                "merge_strategy",
                "`merge_strategy` merges on the `primary_key`: give one (without it rows are appended)",
            ));
        }
        if !sql_dest && strategy != super::MergeStrategy::UpdateInsert {
            return Err(Refusal::new(
                i,
                "merge_strategy",
                format!("`merge_strategy: {strategy}` needs a SQL destination: files can only be appended to"),
            ));
        }
    }
    if !s.range.is_empty() {
        if s.mode != Mode::Backfill {
            return Err(Refusal::new(
                i,
                "range",
                format!(
                    "`range` applies to mode `backfill`, not `{}` (or run once with `etl run --range START,END`)",
                    s.mode
                ),
            ));
        }
        if s.cursor_field.is_none() {
            return Err(Refusal::new(i, "range", "`range` needs a `cursor_field`"));
        }
        if s.range.len() != 2 || s.range.iter().any(|v| v.trim().is_empty()) {
            return Err(Refusal::new(
                i,
                "range",
                "`range` is two cursor values, `[start, end]` (both included)",
            ));
        }
    }
    Ok(())
}

/// Where the value at `path` (map keys and list indexes) starts in `text`: `(line, column)`.
/// The YAML is read again by a visitor that fails on purpose at that value, so that the parser
/// reports its position.
pub fn locate(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    match Walk(path).deserialize(de) {
        Err(e) if e.to_string().contains(HERE) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

const HERE: &str = "etl-locate-here";

struct Walk<'a>(&'a [&'a str]);

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.0.split_first() else {
            return Err(de::Error::custom(HERE));
        };
        while let Some(key) = map.next_key::<String>()? {
            if key == *first {
                return map.next_value_seed(Walk(rest));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.0.split_first() else {
            return Err(de::Error::custom(HERE));
        };
        let Ok(index) = first.parse::<usize>() else {
            return Ok(());
        };
        for _ in 0..index {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Walk(rest)).map(|_| ())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
}

impl Walk<'_> {
    fn scalar<E: de::Error>(self) -> Result<(), E> {
        if self.0.is_empty() {
            Err(E::custom(HERE))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_values_by_path() {
        let text = "a: 1\nstreams:\n  - name: x\n  - name: y\n    range: [1, 2]\n";
        assert_eq!(locate(text, &["streams", "1", "range"]), Some((5, 12)));
        assert_eq!(locate(text, &["streams", "0", "name"]), Some((3, 11)));
        assert_eq!(locate(text, &["streams", "0", "nope"]), None);
    }

    const SPEC: &str = "version: 1\nname: m\nsource:\n  connector_type: sqlite\n  config:\n    database_path: s.db\ndestination:\n  connector_type: DEST\n  config:\n    DEST_CONFIG\nstreams:\n  - name: t\n    STREAM\n";

    fn refusal(dest: &str, stream: &str) -> String {
        let dest_config = if dest == "sqlite" {
            "database_path: d.db"
        } else {
            "base_path: out\n    format: parquet"
        };
        let text = SPEC
            .replace("DEST_CONFIG", dest_config)
            .replace("DEST", dest)
            .replace("STREAM", &stream.replace('\n', "\n    "));
        match crate::spec::parse(&text, "t.yaml") {
            Ok(_) => String::new(),
            Err(e) => {
                assert_eq!(e.exit_code(), 2, "{e}");
                e.to_string()
            }
        }
    }

    #[test]
    fn misuses_are_refused_at_their_key() {
        let e = refusal(
            "sqlite",
            "mode: incremental\ncursor_field: u\nrange: [1, 5]",
        );
        assert!(e.starts_with("t.yaml:15:12: streams[0].range:"), "{e}");
        assert!(e.contains("applies to mode `backfill`"), "{e}");
        let e = refusal("sqlite", "mode: backfill\nrange: [1, 5]");
        assert!(e.starts_with("t.yaml:13:11: streams[0].mode:"), "{e}");
        let e = refusal("sqlite", "mode: backfill\ncursor_field: u\nrange: [1]");
        assert!(e.starts_with("t.yaml:15:12: streams[0].range:"), "{e}");
        let e = refusal(
            "sqlite",
            "mode: truncate\nprimary_key: [id]\nmerge_strategy: insert_only",
        );
        assert!(
            e.starts_with("t.yaml:15:21: streams[0].merge_strategy:"),
            "{e}"
        );
        assert!(e.contains("not `truncate`"), "{e}");
        let e = refusal(
            "sqlite",
            "mode: incremental\ncursor_field: u\nmerge_strategy: update_only",
        );
        assert!(e.contains("primary_key"), "{e}");
        let e = refusal(
            "local_file",
            "mode: incremental\ncursor_field: u\nprimary_key: [id]\nmerge_strategy: delete_insert",
        );
        assert!(
            e.starts_with("t.yaml:17:21: streams[0].merge_strategy:"),
            "{e}"
        );
        assert!(e.contains("SQL destination"), "{e}");
        assert_eq!(
            refusal(
                "sqlite",
                "mode: backfill\ncursor_field: u\nprimary_key: [id]\nmerge_strategy: delete_insert\nrange: ['2024-01-01', '2024-02-01']"
            ),
            ""
        );
        assert_eq!(refusal("local_file", "mode: snapshot"), "");
    }
}
