//! The optional `transform:` stage of a stream: row-wise SQL expressions evaluated by polars,
//! batch by batch, between the source and the destination.
//!
//! The block (`select`, `rename`, `cast`, `filter`, `derive`, or one `sql` SELECT) is parsed
//! here whatever the build; checking and running it needs the `transform` cargo feature
//! (polars). A binary built without it refuses a spec with `transform:` and says so.
//!
//! Order of the steps of a declarative block: `filter` (on the source's columns), `derive`
//! (new or replaced columns, from the source's columns), `cast`, `select`, `rename`. Every
//! key names columns as the source (or `derive`) calls them; only `rename` changes names.

#[cfg(feature = "transform")]
mod convert;
#[cfg(feature = "transform")]
mod plan;
#[cfg(feature = "transform")]
mod sql;
#[cfg(feature = "transform")]
mod types;

use crate::connectors::BatchStream;
use crate::error::Result;
use crate::spec::{env, StreamSpec};
use arrow::datatypes::SchemaRef;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use std::fmt;

/// The `transform:` block of a stream, as written.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformSpec {
    /// Output columns, in order (default: the source's columns, then the derived ones).
    #[serde(default, deserialize_with = "env::list")]
    pub select: Vec<String>,
    /// `{column: new_name}`, applied last.
    #[serde(default)]
    pub rename: OrderedMap,
    /// `{column: type}`, e.g. `decimal(18,2)`, `timestamp[us, UTC]`, `string`.
    #[serde(default)]
    pub cast: OrderedMap,
    /// A SQL boolean expression; rows where it is not true are dropped.
    #[serde(default, deserialize_with = "env::opt")]
    pub filter: Option<String>,
    /// `{new_column: SQL expression}`, in the order written.
    #[serde(default)]
    pub derive: OrderedMap,
    /// One `SELECT ... FROM input [WHERE ...]`, instead of the keys above.
    #[serde(default, deserialize_with = "env::opt")]
    pub sql: Option<String>,
}

/// A YAML mapping kept in the order it was written; values are env-expanded like every scalar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderedMap(pub Vec<(String, String)>);

impl OrderedMap {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One env-expanded scalar (a string, or a number/bool read as its text).
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        env::value(d).map(Text)
    }
}

impl<'de> Deserialize<'de> for OrderedMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of column names to values")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<OrderedMap, A::Error> {
                let mut out: Vec<(String, String)> = Vec::new();
                while let Some((k, Text(v))) = map.next_entry::<String, Text>()? {
                    if out.iter().any(|(seen, _)| *seen == k) {
                        return Err(de::Error::custom(format!("`{k}` is given twice")));
                    }
                    out.push((k, v));
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// What a binary built without polars says about a spec that needs it.
pub const MISSING_FEATURE: &str = "`transform:` needs the `transform` cargo feature (polars), and this etl was built without it; rebuild with `cargo build --features transform` (it is on by default)";

/// Checks a stream's `transform:` block without a schema: the SQL parses, is row-wise (no
/// aggregate, window function, join, subquery, GROUP BY, ORDER BY, DISTINCT or LIMIT), the
/// types of `cast` are known and names are not used twice. Messages start with the key.
pub fn validate(t: &TransformSpec) -> std::result::Result<(), String> {
    #[cfg(feature = "transform")]
    {
        plan::Plan::compile(t).map(|_| ())
    }
    #[cfg(not(feature = "transform"))]
    {
        let _ = t;
        Err(MISSING_FEATURE.to_string())
    }
}

/// Puts the stream's transform (if it has one) between `batches` and the destination: returns
/// the schema the destination receives and the transformed batches. Columns and expressions
/// are checked against the source's `schema` here, before anything is written; every output
/// batch has exactly the returned schema.
pub fn apply(
    stream: &StreamSpec,
    schema: SchemaRef,
    batches: BatchStream,
) -> Result<(SchemaRef, BatchStream)> {
    let Some(t) = &stream.transform else {
        return Ok((schema, batches));
    };
    #[cfg(feature = "transform")]
    {
        let stage = plan::Plan::compile(t)
            .and_then(|p| p.bind(&schema))
            .map_err(|m| crate::Error::spec(format!("transform: {m}")))?;
        Ok((stage.schema(), stage.pipe(batches)))
    }
    #[cfg(not(feature = "transform"))]
    {
        let _ = (t, batches);
        Err(crate::Error::spec(MISSING_FEATURE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(yaml: &str) -> std::result::Result<TransformSpec, String> {
        serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn maps_keep_their_order_and_refuse_repeats() {
        let t = block("derive: {z: \"1\", a: 2, m: \"a + z\"}").unwrap();
        let keys: Vec<&str> = t.derive.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["z", "a", "m"]);
        assert_eq!(t.derive.get("a"), Some("2"));
        let e = block("rename: {a: b, a: c}").unwrap_err();
        assert!(e.contains("`a`") || e.contains("duplicate"), "{e}");
        assert!(block("colour: red").unwrap_err().contains("unknown field"));
    }

    #[cfg(not(feature = "transform"))]
    #[test]
    fn without_the_feature_a_transform_is_refused() {
        let e = validate(&block("filter: a > 1").unwrap()).unwrap_err();
        assert!(e.contains("`transform` cargo feature"), "{e}");
    }
}
