//! A stream's `table:` as a spec writes it, and how every SQL source words a table it cannot
//! find. Drivers supply only the lookups (does this schema / table exist, which tables are
//! there); the parsing and the messages are here, once.

use crate::error::{Error, ErrorKind};

/// `t`, `s.t`, or either with SQL-style quotes as pasted from a SQL client (`sales."Order"`,
/// `` `s`.`t` ``, `[s].[t]`): `(schema, table)`, quotes taken off and doubled quote characters
/// inside read as one. `None` for text that is not such a name (three parts, an empty part,
/// an unclosed quote); callers then look the text up as written.
pub fn parse_table_name(name: &str) -> Option<(Option<String>, String)> {
    let mut parts: Vec<String> = Vec::new();
    let mut chars = name.trim().chars().peekable();
    loop {
        let mut part = String::new();
        let close = match chars.peek() {
            Some('"') => Some('"'),
            Some('`') => Some('`'),
            Some('[') => Some(']'),
            _ => None,
        };
        match close {
            Some(close) => {
                chars.next();
                loop {
                    match chars.next() {
                        None => return None,
                        Some(c) if c == close => {
                            if chars.peek() == Some(&close) {
                                chars.next();
                                part.push(close);
                            } else {
                                break;
                            }
                        }
                        Some(c) => part.push(c),
                    }
                }
            }
            None => {
                while let Some(&c) = chars.peek() {
                    if c == '.' {
                        break;
                    }
                    if matches!(c, '"' | '`' | '[') {
                        return None;
                    }
                    part.push(c);
                    chars.next();
                }
            }
        }
        if part.is_empty() {
            return None;
        }
        parts.push(part);
        match chars.next() {
            None => break,
            Some('.') => continue,
            Some(_) => return None,
        }
    }
    match parts.len() {
        1 => Some((None, parts.remove(0))),
        2 => {
            let table = parts.remove(1);
            Some((Some(parts.remove(0)), table))
        }
        _ => None,
    }
}

/// Where to look for a stream's `table:`, in order: `(schema, table)` with `None` for the
/// source's configured schema. First the text as written (a table whose name holds a dot),
/// then its parsed parts ([`parse_table_name`]).
pub fn table_candidates(name: &str) -> Vec<(Option<String>, String)> {
    let mut out = vec![(None, name.to_string())];
    if let Some(parsed) = parse_table_name(name) {
        if !out.contains(&parsed) {
            out.push(parsed);
        }
    }
    out
}

/// The schema a table that was not found was looked for in: the one its name gives, else
/// `configured`.
pub fn schema_of_name(name: &str, configured: &str) -> String {
    parse_table_name(name)
        .and_then(|(s, _)| s)
        .unwrap_or_else(|| configured.to_string())
}

/// The error for a stream's table that is not there: "schema `s` does not exist" when the
/// schema is missing, with `known` the schemas there are; else "table `t` not found in schema
/// `s`", with `known` the schema's tables. `noun` is what the database calls a schema
/// (`schema`, MySQL's `database`); `place` names the server (`postgresql://u@h:5432/db`).
pub fn table_not_found(
    table: &str,
    (noun, schema): (&str, &str),
    schema_exists: bool,
    known: &[String],
    place: &str,
) -> Error {
    // A server shared by many projects has many schemas: name the first few.
    const SHOWN: usize = 20;
    let list = |names: &[String]| match names.len() {
        0 => "none".to_string(),
        n if n > SHOWN => format!("{} and {} more", names[..SHOWN].join(", "), n - SHOWN),
        _ => names.join(", "),
    };
    let message = if schema_exists {
        format!(
            "table `{table}` not found in {noun} `{schema}` of {place} (tables: {})",
            list(known)
        )
    } else {
        format!(
            "{noun} `{schema}` does not exist in {place} ({noun}s: {}); check the source's `{noun}` or the table's `{noun}.` prefix",
            list(known)
        )
    };
    Error::driver(ErrorKind::NotFound, "", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<(Option<String>, String)> {
        parse_table_name(s)
    }

    fn two(s: &str, t: &str) -> Option<(Option<String>, String)> {
        Some((Some(s.into()), t.into()))
    }

    #[test]
    fn dotted_names_parse_with_or_without_sql_quotes() {
        assert_eq!(p("orders"), Some((None, "orders".into())));
        assert_eq!(p("sales.Order"), two("sales", "Order"));
        assert_eq!(p("sales.\"Order\""), two("sales", "Order"));
        assert_eq!(p("\"sales\".\"Order\""), two("sales", "Order"));
        assert_eq!(p("`my db`.`t`"), two("my db", "t"));
        assert_eq!(p("[dbo].[a]]b]"), two("dbo", "a]b"));
        assert_eq!(p("\"a.b\""), Some((None, "a.b".into())));
        assert_eq!(p("\"we\"\"ird\""), Some((None, "we\"ird".into())));
        for bad in ["a.b.c", "a.", ".b", "\"open", "a\"b", "\"x\"y", ""] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    #[test]
    fn candidates_try_the_text_as_written_first() {
        assert_eq!(
            table_candidates("sales.\"Order\""),
            vec![
                (None, "sales.\"Order\"".into()),
                two("sales", "Order").unwrap()
            ]
        );
        assert_eq!(table_candidates("t"), vec![(None, "t".into())]);
        assert_eq!(schema_of_name("s.t", "public"), "s");
        assert_eq!(schema_of_name("t", "public"), "public");
    }

    #[test]
    fn a_missing_schema_is_named_as_such() {
        let e = table_not_found(
            "customers",
            ("schema", "nu_shopp"),
            false,
            &["public".into()],
            "db",
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(
            e.to_string()
                .starts_with("schema `nu_shopp` does not exist in db (schemas: public)"),
            "{e}"
        );
        let e = table_not_found("nope", ("schema", "public"), true, &[], "db");
        assert_eq!(
            e.to_string(),
            "table `nope` not found in schema `public` of db (tables: none)"
        );
        let many: Vec<String> = (0..25).map(|i| format!("t{i}")).collect();
        let e = table_not_found("nope", ("database", "d"), true, &many, "db");
        assert!(e.to_string().ends_with("t18, t19 and 5 more)"), "{e}");
    }
}
