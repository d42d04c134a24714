//! Streams by pattern: a `streams:` entry whose `table:` holds `*` or `?` (`sales.*`,
//! `order_?`) stands for one stream per source table it matches (per sub-folder for a file
//! source), named after the table. An entry keyed by a matched stream's name (or naming its
//! table) overrides that stream's settings key by key; `disabled: true` leaves a stream (or
//! a pattern's every stream) out. See the README's "Selecting streams".
//!
//! Matching ignores ASCII case on every source: SQL databases differ on whether table names
//! are case-sensitive, and one rule is easier to predict than five.

use super::{Spec, StreamSpec};
use crate::connectors::Source;
use crate::error::{Error, Result};
use serde_yaml_ng::{Mapping, Value};
use std::collections::BTreeMap;

/// Whether `text` is a glob (holds `*` or `?`).
pub fn is_glob(text: &str) -> bool {
    text.contains(['*', '?'])
}

/// Whether `text` matches the glob `pattern` (`*` any run of characters, `?` one character),
/// ignoring ASCII case.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen and the text position it has absorbed up to, for backtracking.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((s, mark)) = star {
            star = Some((s, mark + 1));
            pi = s + 1;
            ti = mark + 1;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// `sales.order_*` -> (`Some("sales")`, `order_*`); `order_*` -> (`None`, `order_*`). The schema
/// part is literal: one pattern entry per schema.
pub fn split_pattern(pattern: &str) -> std::result::Result<(Option<&str>, &str), String> {
    match pattern.rsplit_once('.') {
        None => Ok((None, pattern)),
        Some((schema, _)) if schema.is_empty() || is_glob(schema) => Err(format!(
            "`{pattern}`: only the table part of a pattern may hold `*` or `?`; the schema before the `.` is written out (one pattern entry per schema)"
        )),
        Some((schema, glob)) => Ok((Some(schema), glob)),
    }
}

/// Spec-time checks of a pattern entry.
pub(super) fn validate_entry(
    i: usize,
    s: &StreamSpec,
    pattern: &str,
) -> std::result::Result<(), String> {
    let at = format!("streams[{i}] (`table: {pattern}`)");
    split_pattern(pattern).map_err(|e| format!("{at}: {e}"))?;
    if !s.name.is_empty() && !s.name.contains("{table}") {
        return Err(format!(
            "{at}: the `name` of a pattern entry is a template for each matched table's stream name and must hold `{{table}}` (e.g. `crm_{{table}}`); leave it out to name each stream after its table"
        ));
    }
    if !s.name.is_empty() {
        super::check_file_name(
            &format!("streams[{i}].name"),
            &s.name.replace("{table}", "t"),
        )?;
    }
    if let Some(x) = s.exclude.iter().find(|x| x.trim().is_empty()) {
        return Err(format!("{at}: exclude: `{x}` is empty"));
    }
    Ok(())
}

/// Spec-time checks of an entry that is not a pattern.
pub(super) fn validate_named(i: usize, s: &StreamSpec) -> std::result::Result<(), String> {
    if s.name.is_empty() {
        return Err(format!(
            "streams[{i}]: `name` is required (only a pattern entry, whose `table:` holds `*` or `?`, may leave it out)"
        ));
    }
    if !s.exclude.is_empty() {
        return Err(format!(
            "streams[{i}] (`{}`): `exclude` applies to a pattern entry (a `table:` holding `*` or `?`)",
            s.name
        ));
    }
    Ok(())
}

/// Each `streams:` entry of the spec text as written (before env expansion).
pub(super) fn entries_as_written(
    text: &str,
) -> std::result::Result<Vec<Value>, serde_yaml_ng::Error> {
    let doc: Value = serde_yaml_ng::from_str(text)?;
    Ok(match doc.get("streams") {
        Some(Value::Sequence(entries)) => entries.clone(),
        _ => Vec::new(),
    })
}

/// What one pattern entry matched, as `etl run --dry-run` and `etl discover` show it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PatternMatch {
    /// Index of the entry in `streams:`.
    pub entry: usize,
    pub pattern: String,
    /// The streams it gives, in name order (overridden and disabled ones included).
    pub streams: Vec<String>,
    /// Matched tables left out by `exclude`.
    pub excluded: Vec<String>,
    /// Streams whose settings an entry keyed by name overrides: `name (streams[j])`.
    pub overridden: Vec<String>,
    /// Streams that are `disabled`.
    pub disabled: Vec<String>,
}

/// The streams a spec runs, once its patterns are expanded.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Enabled streams, in the spec's order (a pattern's in name order at its place).
    pub streams: Vec<StreamSpec>,
    /// Streams left out by `disabled: true`.
    pub disabled: Vec<String>,
    /// One per pattern entry.
    pub patterns: Vec<PatternMatch>,
}

/// The streams of `spec`: its `streams:` with every pattern expanded against `source`'s
/// tables (or the source's every table when the spec lists none), disabled ones left out.
pub async fn resolve(spec: &Spec, source: &dyn Source) -> Result<Selection> {
    if spec.streams.is_empty() {
        return Ok(Selection {
            streams: source.default_streams().await?,
            ..Default::default()
        });
    }
    let mut listing: BTreeMap<Option<String>, Vec<StreamSpec>> = BTreeMap::new();
    for s in &spec.streams {
        if let Some(p) = s.pattern() {
            let (schema, _) = split_pattern(p).map_err(Error::spec)?;
            let key = schema.map(str::to_string);
            if let std::collections::btree_map::Entry::Vacant(slot) = listing.entry(key) {
                let tables = source.pattern_candidates(schema).await.map_err(|e| {
                    e.context(format!("listing the tables pattern `{p}` matches against"))
                })?;
                slot.insert(tables);
            }
        }
    }
    let selection = expand(spec, &listing)?;
    if !selection.patterns.is_empty() {
        super::validate_expanded(spec, &selection.streams)?;
    }
    Ok(selection)
}

/// The names of the streams `--select` picks from `selection` (every stream when `select` is
/// empty): an exact name, or a glob over stream names. A name or glob that picks nothing is
/// an error naming it, as is an exact name of a disabled stream.
pub fn chosen(
    selection: &Selection,
    select: &[String],
) -> Result<std::collections::BTreeSet<String>> {
    let names: Vec<&str> = selection.streams.iter().map(|s| s.name.as_str()).collect();
    if select.is_empty() {
        return Ok(names.iter().map(|n| n.to_string()).collect());
    }
    let mut out = std::collections::BTreeSet::new();
    for s in select {
        let picked: Vec<&str> = if is_glob(s) {
            names.iter().copied().filter(|n| glob_match(s, n)).collect()
        } else {
            names.iter().copied().filter(|n| n == s).collect()
        };
        if picked.is_empty() {
            if selection.disabled.contains(s) {
                return Err(Error::spec(format!(
                    "--select {s}: the stream is disabled in the spec (`disabled: true`)"
                )));
            }
            let hint = if is_glob(s) {
                String::new()
            } else {
                super::suggest::hint(s, names.iter().copied())
            };
            return Err(Error::spec(format!(
                "--select {s}: {} (streams: {}){hint}",
                if is_glob(s) {
                    "the pattern matches no stream"
                } else {
                    "no such stream"
                },
                names.join(", "),
            )));
        }
        out.extend(picked.into_iter().map(str::to_string));
    }
    Ok(out)
}

/// One table a pattern entry matched.
struct Hit {
    entry: usize,
    table: StreamSpec,
    name: String,
}

/// The table (or folder) a candidate reads, as `exclude` and `table:` of an override name it.
fn qualified(c: &StreamSpec) -> &str {
    c.table
        .as_deref()
        .or(c.file_path.as_deref())
        .unwrap_or(&c.name)
}

/// Expands `spec`'s patterns against `listing` (the candidates per schema, as
/// [`Source::pattern_candidates`] gives them).
pub fn expand(
    spec: &Spec,
    listing: &BTreeMap<Option<String>, Vec<StreamSpec>>,
) -> Result<Selection> {
    let mut hits: Vec<Hit> = Vec::new();
    let mut patterns = Vec::new();
    for (i, e) in spec.streams.iter().enumerate() {
        let Some(pattern) = e.pattern() else { continue };
        let (schema, glob) = split_pattern(pattern).map_err(Error::spec)?;
        let candidates = listing
            .get(&schema.map(str::to_string))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut matched: Vec<&StreamSpec> = candidates
            .iter()
            .filter(|c| glob_match(glob, &c.name))
            .collect();
        matched.sort_by(|a, b| a.name.cmp(&b.name));
        if matched.is_empty() {
            let names: Vec<&str> = candidates.iter().map(|c| c.name.as_str()).collect();
            return Err(Error::spec(format!(
                "streams[{i}]: `table: {pattern}` matches no table{} (there: {})",
                schema
                    .map(|s| format!(" of schema `{s}`"))
                    .unwrap_or_default(),
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            )));
        }
        let mut m = PatternMatch {
            entry: i,
            pattern: pattern.to_string(),
            ..Default::default()
        };
        for c in matched {
            if e.exclude
                .iter()
                .any(|x| glob_match(x, &c.name) || glob_match(x, qualified(c)))
            {
                m.excluded.push(c.name.clone());
                continue;
            }
            let name = if e.name.is_empty() {
                c.name.clone()
            } else {
                e.name.replace("{table}", &c.name)
            };
            m.streams.push(name.clone());
            hits.push(Hit {
                entry: i,
                table: c.clone(),
                name,
            });
        }
        if m.streams.is_empty() {
            return Err(Error::spec(format!(
                "streams[{i}]: `exclude` leaves out every table `table: {pattern}` matches ({}); remove the entry or narrow `exclude`",
                m.excluded.join(", ")
            )));
        }
        patterns.push(m);
    }
    for (a, h) in hits.iter().enumerate() {
        if let Some(other) = hits[a + 1..]
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(&h.name))
        {
            return Err(Error::spec(format!(
                "streams[{}] and streams[{}] both give a stream named `{}` (tables `{}` and `{}`); leave one out with `exclude`, or name the streams apart with `name: prefix_{{table}}`",
                h.entry,
                other.entry,
                h.name,
                qualified(&h.table),
                qualified(&other.table)
            )));
        }
    }
    // Which hit each entry keyed by name overrides.
    let mut overrides: BTreeMap<usize, usize> = BTreeMap::new(); // hit -> entry
    for (j, e) in spec.streams.iter().enumerate() {
        if e.pattern().is_some() {
            continue;
        }
        let found = hits.iter().position(|h| {
            h.name.eq_ignore_ascii_case(&e.name)
                || e.table.as_deref().is_some_and(|t| {
                    t.eq_ignore_ascii_case(qualified(&h.table))
                        || (h.table.table.is_none() && t.eq_ignore_ascii_case(&h.table.name))
                })
        });
        if let Some(h) = found {
            if let Some(prev) = overrides.insert(h, j) {
                return Err(Error::spec(format!(
                    "streams[{prev}] and streams[{j}] both override stream `{}` of `table: {}`; keep one",
                    hits[h].name,
                    spec.streams[hits[h].entry].table.as_deref().unwrap_or_default()
                )));
            }
        }
    }
    let written = |i: usize| -> Result<&Value> {
        spec.stream_values.get(i).ok_or_else(|| {
            Error::run(format!(
                "streams[{i}]: the entry as written is not known (the spec was not read from a file)"
            ))
        })
    };
    let mut out = Selection {
        patterns,
        ..Default::default()
    };
    for (i, e) in spec.streams.iter().enumerate() {
        // A matched table's stream keeps its place among the pattern's, overridden or not.
        let stream = if e.pattern().is_some() {
            let mut mine = Vec::new();
            for (h, hit) in hits.iter().enumerate().filter(|(_, h)| h.entry == i) {
                let over = match overrides.get(&h) {
                    Some(&j) => {
                        if let Some(m) = out.patterns.iter_mut().find(|m| m.entry == i) {
                            m.overridden.push(format!("{} (streams[{j}])", hit.name));
                        }
                        Some((j, written(j)?))
                    }
                    None => None,
                };
                mine.push(merged(i, written(i)?, hit, over)?);
            }
            mine
        } else if overrides.values().any(|&j| j == i) {
            Vec::new()
        } else {
            vec![e.clone()]
        };
        for s in stream {
            if s.disabled {
                if let Some(m) = out
                    .patterns
                    .iter_mut()
                    .find(|m| m.streams.contains(&s.name))
                {
                    m.disabled.push(s.name.clone());
                }
                out.disabled.push(s.name);
            } else {
                out.streams.push(s);
            }
        }
    }
    Ok(out)
}

/// A matched table's stream: the pattern entry's keys (but `name`, `table`, `exclude`), the
/// table, then the overriding entry's keys, which win.
fn merged(
    entry: usize,
    pattern: &Value,
    hit: &Hit,
    over: Option<(usize, &Value)>,
) -> Result<StreamSpec> {
    const SOURCE_KEYS: [&str; 3] = ["table", "query", "file_path"];
    let key = |k: &str| Value::String(k.to_string());
    // Written values are expanded when the merged entry is read: keep a table name's `${` literal.
    let literal = |v: &str| Value::String(v.replace("${", "$${"));
    let mut m = Mapping::new();
    if let Value::Mapping(p) = pattern {
        for (k, v) in p {
            if !matches!(k.as_str(), Some("name" | "table" | "exclude")) {
                m.insert(k.clone(), v.clone());
            }
        }
    }
    m.insert(key("name"), literal(&hit.name));
    match &hit.table.file_path {
        Some(f) => m.insert(key("file_path"), literal(f)),
        None => m.insert(
            key("table"),
            literal(hit.table.table.as_deref().unwrap_or(&hit.table.name)),
        ),
    };
    let mut at = format!("streams[{entry}] (`{}`)", hit.name);
    if let Some((j, Value::Mapping(o))) = over {
        at = format!("streams[{j}] (`{}`) over streams[{entry}]", hit.name);
        if SOURCE_KEYS.iter().any(|k| o.contains_key(*k)) {
            for k in SOURCE_KEYS {
                m.remove(k);
            }
        }
        for (k, v) in o {
            m.insert(k.clone(), v.clone());
        }
    }
    // Read back from YAML text, as the entries themselves were: scalars stay untyped, so
    // every key parses as it does in a spec file.
    serde_yaml_ng::to_string(&Value::Mapping(m))
        .and_then(|text| serde_yaml_ng::from_str::<StreamSpec>(&text))
        .map_err(|e| Error::spec(format!("{at}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, t, want) in [
            ("*", "orders", true),
            ("order_*", "order_items", true),
            ("order_*", "orders", false),
            ("ORDER_?", "order_1", true),
            ("order_?", "order_12", false),
            ("*_log", "audit_log", true),
            ("*_log", "audit_logs", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("", "", true),
            ("t_0?", "t_05", true),
        ] {
            assert_eq!(glob_match(p, t), want, "{p} ~ {t}");
        }
    }

    #[test]
    fn schema_part_is_literal() {
        assert_eq!(split_pattern("sales.o*").unwrap(), (Some("sales"), "o*"));
        assert_eq!(split_pattern("o*").unwrap(), (None, "o*"));
        assert!(split_pattern("s*.o*").is_err());
        assert!(split_pattern(".o*").is_err());
    }

    /// The unit tests' spec with a pattern, two overrides, a disabled stream and a plain one.
    fn spec_text() -> String {
        super::super::tests::GOOD.replace(
            "  - name: orders\n    table: orders\n",
            r#"  - table: "t_*"
    exclude: [t_3]
    mode: incremental
    cursor_field: id
  - name: t_2
    primary_key: [id]
  - name: T_1
    cursor_field: v
  - name: t_4
    disabled: true
  - name: other
"#,
        )
    }

    fn listing(names: &[&str]) -> BTreeMap<Option<String>, Vec<StreamSpec>> {
        BTreeMap::from([(None, names.iter().map(|n| StreamSpec::named(*n)).collect())])
    }

    #[test]
    fn expands_overrides_and_disables() {
        let spec = super::super::parse(&spec_text(), "t.yaml").unwrap();
        let sel = expand(&spec, &listing(&["t_1", "t_2", "t_3", "t_4", "x"])).unwrap();
        let names: Vec<&str> = sel.streams.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["T_1", "t_2", "other"], "overrides keep their place");
        assert_eq!(sel.streams[0].cursor_field.as_deref(), Some("v"));
        assert_eq!(sel.streams[0].table.as_deref(), Some("t_1"));
        assert_eq!(sel.disabled, ["t_4"]);
        let t2 = &sel.streams[1];
        assert_eq!(t2.primary_key, ["id"]);
        assert_eq!(t2.cursor_field.as_deref(), Some("id"), "inherited");
        assert_eq!(t2.table.as_deref(), Some("t_2"));
        let m = &sel.patterns[0];
        assert_eq!(m.excluded, ["t_3"]);
        assert_eq!(
            m.overridden,
            ["t_1 (streams[2])", "t_2 (streams[1])", "t_4 (streams[3])"]
        );
        assert_eq!(m.disabled, ["t_4"]);
    }

    #[test]
    fn a_pattern_matching_nothing_is_an_error() {
        let spec = super::super::parse(&spec_text(), "t.yaml").unwrap();
        let e = expand(&spec, &listing(&["x", "y"]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`table: t_*` matches no table") && e.contains("x, y"),
            "{e}"
        );
        let e = expand(&spec, &listing(&["t_3"])).unwrap_err().to_string();
        assert!(e.contains("leaves out every table"), "{e}");
    }

    #[test]
    fn two_patterns_giving_one_name_are_refused() {
        let text = spec_text().replace(
            "  - name: other\n",
            "  - table: \"*_1\"\n    name: \"{table}\"\n",
        );
        let spec = super::super::parse(&text, "t.yaml").unwrap();
        let e = expand(&spec, &listing(&["t_1", "t_2"]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("streams[0] and streams[4] both give a stream named `t_1`"),
            "{e}"
        );
    }

    #[test]
    fn spec_errors() {
        let bad = |from: &str, to: &str| {
            super::super::parse(&spec_text().replace(from, to), "t.yaml")
                .unwrap_err()
                .to_string()
        };
        assert!(bad("  - name: other\n", "  - mode: full_refresh\n").contains("`name` is required"));
        assert!(
            bad("  - table: \"t_*\"", "  - table: \"t_*\"\n    name: fixed").contains("{table}")
        );
        assert!(
            bad("  - name: other\n", "  - name: other\n    exclude: [a]\n")
                .contains("`exclude` applies to a pattern entry")
        );
        assert!(bad("\"t_*\"", "\"s*.t_*\"").contains("schema before the `.`"));
    }
}
