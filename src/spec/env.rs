//! `${VAR}` / `${VAR:-default}` expansion, applied to every scalar value of a spec *after* the
//! YAML is parsed, so a secret holding `:`, `#` or quotes is never re-read as YAML.
//!
//! The helpers here plug into serde (`#[serde(deserialize_with = "env::value")]`), which lets
//! errors carry the line and column of the offending value.

use serde::de::{self, Deserialize, Deserializer, Visitor};
use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

/// Expands `${VAR}` and `${VAR:-default}` in `input` using `lookup`.
///
/// `$${` produces a literal `${`; a `$` not followed by `{` is kept as is. `:-default` is used
/// when the variable is unset or empty, as in POSIX shells.
pub fn expand_with(input: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(body) = after.strip_prefix("${") {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unterminated `${{` in `{input}`"))?;
            let expr = &body[..end];
            let (name, default) = match expr.find(":-") {
                Some(i) => (&expr[..i], Some(&expr[i + 2..])),
                None => (expr, None),
            };
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "invalid environment variable name `{name}` in `${{{expr}}}`"
                ));
            }
            match (lookup(name).filter(|v| !v.is_empty() || default.is_none()), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(format!(
                        "environment variable `{name}` is not set (use `${{{name}:-default}}` for a default)"
                    ))
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Expands from the process environment.
pub fn expand(input: &str) -> Result<String, String> {
    expand_with(input, |name| std::env::var(name).ok())
}

/// A short human name for the type a value must parse into, used in error messages.
pub trait Kind {
    const KIND: &'static str;
}
macro_rules! kinds {
    ($($t:ty => $k:expr),* $(,)?) => { $(impl Kind for $t { const KIND: &'static str = $k; })* };
}
kinds! {
    String => "a string",
    bool => "true or false",
    u16 => "a whole number from 0 to 65535",
    u32 => "a non-negative whole number",
    u64 => "a non-negative whole number",
    usize => "a non-negative whole number",
    char => "a single character",
}

/// Declares a keyword enum (a spec value that is one of a few words) once: each variant with
/// the word a spec writes for it, then any other words accepted for it. Generates the enum
/// (`Debug, Clone, Copy, PartialEq, Eq`, plus the derives given), `ALL` and `as_str`, `FromStr`
/// (ASCII case-insensitive; an unknown word gets a message listing the valid ones), `Display`
/// and `serde::Serialize` (the word), and [`Kind`] (the valid words, for spec errors with
/// `file:line:column`).
///
/// ```ignore
/// keyword_enum! {
///     /// What a source does with a zero date.
///     #[derive(Default)]
///     pub enum ZeroDates: "zero_dates" {
///         #[default]
///         Fail = "fail",
///         Null = "null",
///     }
/// }
/// ```
#[macro_export]
macro_rules! keyword_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident: $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $word:literal $(| $alias:literal)* ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word a spec writes for this value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> ::std::result::Result<Self, String> {
                match s.to_ascii_lowercase().as_str() {
                    $($word $(| $alias)* => Ok($name::$variant),)+
                    _ => Err(format!(
                        "unknown {} `{s}`, expected {}",
                        $what,
                        <$name as $crate::spec::env::Kind>::KIND
                    )),
                }
            }
        }

        impl $crate::spec::env::Kind for $name {
            const KIND: &'static str = $crate::keyword_list!($($word),+);
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

/// `"`a`, `b` or `c`"` from the words of a [`keyword_enum!`] (a `const` string).
#[doc(hidden)]
#[macro_export]
macro_rules! keyword_list {
    ($only:literal) => {
        concat!("`", $only, "`")
    };
    ($a:literal, $b:literal) => {
        concat!("`", $a, "` or `", $b, "`")
    };
    ($first:literal, $($rest:literal),+) => {
        concat!("`", $first, "`, ", $crate::keyword_list!($($rest),+))
    };
}

/// A scalar that went through env expansion and then `FromStr`.
struct Expanded<T>(T);

impl<'de, T> Deserialize<'de> for Expanded<T>
where
    T: FromStr + Kind,
    T::Err: fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<T> V<T>
        where
            T: FromStr + Kind,
            T::Err: fmt::Display,
        {
            fn parse<E: de::Error>(raw: &str) -> Result<Expanded<T>, E> {
                let s = expand(raw).map_err(E::custom)?;
                s.trim().parse::<T>().map(Expanded).or_else(|e| {
                    // Strings are never trimmed: the untrimmed value always parses. Nor is a
                    // value that is only whitespace (`delimiter: "\t"`, a tab: trimmed, it was
                    // refused as an empty string — found by the read_csv fuzz target).
                    if T::KIND == "a string" || (s.trim().is_empty() && !s.is_empty()) {
                        s.parse::<T>()
                            .map(Expanded)
                            .map_err(|e| E::custom(e.to_string()))
                    } else {
                        Err(E::custom(invalid_value(s.trim(), T::KIND, &e.to_string())))
                    }
                })
            }
        }
        impl<'de, T> Visitor<'de> for V<T>
        where
            T: FromStr + Kind,
            T::Err: fmt::Display,
        {
            type Value = Expanded<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(T::KIND)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Self::parse(v)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Self::parse(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Self::parse(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Self::parse(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Self::parse(&v.to_string())
            }
        }
        // `deserialize_str` hands over the scalar exactly as written (`0123` stays `0123`).
        d.deserialize_str(V(PhantomData))
    }
}

/// The message for a value that does not parse: the type's own message when it already names
/// the value (`unknown mode `incremntal`, expected ...`), else `invalid value `x`: expected
/// KIND (why)`; then "did you mean `y`?" when one of the keywords KIND lists is close.
fn invalid_value(value: &str, kind: &str, why: &str) -> String {
    let message = if value.is_empty() || why.contains(&format!("`{value}`")) {
        why.to_string()
    } else {
        format!("invalid value `{value}`: expected {kind} ({why})")
    };
    format!("{message}{}", super::suggest::hint(value, keywords(kind)))
}

/// The keywords a [`Kind`] description lists: the names in backticks (`` `a` or `b` ``), or a
/// bare list (`one of a, b, c`, `true or false`); nothing for a description such as `a
/// duration such as 45s, 30m, 2h or 1d`.
fn keywords(kind: &str) -> Vec<&str> {
    if kind.contains('`') {
        return super::suggest::quoted(kind);
    }
    let list = kind.strip_prefix("one of ").unwrap_or(kind);
    let words: Vec<&str> = list
        .split(", ")
        .flat_map(|w| w.split(" or "))
        .map(str::trim)
        .collect();
    let keyword = |w: &&str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    if words.len() >= 2 && words.iter().all(keyword) {
        words
    } else {
        Vec::new()
    }
}

/// `deserialize_with` for a required scalar.
pub fn value<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + Kind,
    T::Err: fmt::Display,
{
    Expanded::<T>::deserialize(d).map(|e| e.0)
}

/// A path or name that must not be empty: an empty one (often an unset variable,
/// `${OUT_DIR}`) would otherwise mean the current folder or a bucket's root. `OPTIONAL`: the
/// key may be left out for its default, which the message says.
struct NonEmpty<const OPTIONAL: bool>(String);

impl<const OPTIONAL: bool> FromStr for NonEmpty<OPTIONAL> {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match (s.is_empty(), OPTIONAL) {
            (false, _) => Ok(NonEmpty(s.to_string())),
            (true, false) => Err("must not be empty (is it set from an empty environment variable?)"),
            (true, true) => Err("must not be empty: leave the key out for its default (is it set from an empty environment variable?)"),
        }
    }
}

impl<const OPTIONAL: bool> Kind for NonEmpty<OPTIONAL> {
    const KIND: &'static str = "a non-empty path or name";
}

/// `deserialize_with` for a required path or name that must not be empty.
pub fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    value::<D, NonEmpty<false>>(d).map(|v| v.0)
}

/// `deserialize_with` for an optional path or name (pair it with `#[serde(default)]`): leaving
/// the key out means its default, an empty value is refused.
pub fn non_empty_if_given<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    value::<D, NonEmpty<true>>(d).map(|v| v.0)
}

/// `deserialize_with` for an optional scalar (pair it with `#[serde(default)]`).
pub fn opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + Kind,
    T::Err: fmt::Display,
{
    Option::<Expanded<T>>::deserialize(d).map(|o| o.map(|e| e.0))
}

/// `deserialize_with` for a list of scalars (pair it with `#[serde(default)]`).
pub fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + Kind,
    T::Err: fmt::Display,
{
    Vec::<Expanded<T>>::deserialize(d).map(|v| v.into_iter().map(|e| e.0).collect())
}

/// A secret value (password, key, token): expanded like any value, never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself; call only where it is handed to a driver.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("\"********\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("********")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = value::<D, String>(d)?;
        remember_secret(&s);
        Ok(Secret(s))
    }
}

static SECRETS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// A secret at least this long is masked wherever its text appears in a message. A shorter
/// one is masked only where a secret sits (a URL's password, `password=...`): short values
/// such as `test` also spell ordinary names (a database called `test`), which must stay
/// readable. Secrets are never printed by etl itself either way; this guards driver messages.
pub const MASK_ANYWHERE_FROM: usize = 8;

/// Keys after which (`key=value`, `key: value`) a known secret is masked whatever its length.
const SECRET_KEYS: [&str; 6] = ["password", "passwd", "pwd", "secret", "token", "key"];

const MASK: &str = "********";

/// Records a secret so that [`scrub`] can remove it from any text shown to a person.
pub fn remember_secret(s: &str) {
    if !s.is_empty() {
        let mut all = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
        if !all.iter().any(|x| x == s) {
            all.push(s.to_string());
        }
    }
}

/// Masks secrets in `text` (driver errors sometimes embed connection strings or credentials):
/// the password of every URL (`scheme://user:password@host`); a known secret written after a
/// secret-looking key (`password=`, `pwd=`, `secret: `, ...); and every occurrence of a known
/// secret of at least [`MASK_ANYWHERE_FROM`] characters.
pub fn scrub(text: &str) -> String {
    let all = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = mask_url_passwords(text);
    out = mask_after_keys(&out, &all);
    for s in all
        .iter()
        .filter(|s| s.chars().count() >= MASK_ANYWHERE_FROM)
    {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    out
}

/// `scheme://user:password@host` -> `scheme://user:********@host`, for every URL in `text`.
fn mask_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..=colon]);
                        out.push_str(MASK);
                        out.push_str(&authority[at..]);
                    }
                    None => out.push_str(authority),
                }
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

/// Masks a known secret (any length) where it is the value of a secret-looking key:
/// `password=s`, `PWD = 's'`, `aws_secret_access_key: s`, `"password":"s"`.
fn mask_after_keys(text: &str, secrets: &[String]) -> String {
    if secrets.is_empty() {
        return text.to_string();
    }
    let lower = text.to_ascii_lowercase();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for key in SECRET_KEYS {
        for (at, _) in lower.match_indices(key) {
            let mut i = at + key.len();
            let bytes = text.as_bytes();
            let skip = |i: &mut usize, set: &[u8]| {
                while *i < bytes.len() && set.contains(&bytes[*i]) {
                    *i += 1;
                }
            };
            skip(&mut i, b"\"' ");
            if i >= bytes.len() || !matches!(bytes[i], b'=' | b':') {
                continue;
            }
            i += 1;
            skip(&mut i, b" \"'");
            let value = &text[i..];
            if let Some(s) = secrets
                .iter()
                .filter(|s| value.starts_with(s.as_str()))
                .max_by_key(|s| s.len())
            {
                // The whole value only: `password=test` but not `password=testing`.
                let end = i + s.len();
                let whole = text[end..]
                    .chars()
                    .next()
                    .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'));
                if whole {
                    ranges.push((i, end));
                }
            }
        }
    }
    ranges.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (start, end) in ranges {
        if start < pos {
            continue;
        }
        out.push_str(&text[pos..start]);
        out.push_str(MASK);
        pos = end;
    }
    out.push_str(&text[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::keyword_enum! {
        /// A test keyword.
        #[derive(Default, Hash)]
        enum Colour: "colour" {
            #[default]
            Red = "red",
            DarkBlue = "dark_blue" | "navy",
        }
    }

    #[test]
    fn keyword_enums_parse_print_and_list_their_words() {
        assert_eq!("red".parse::<Colour>(), Ok(Colour::Red));
        assert_eq!("NAVY".parse::<Colour>(), Ok(Colour::DarkBlue));
        assert_eq!(Colour::DarkBlue.to_string(), "dark_blue");
        assert_eq!(Colour::default(), Colour::Red);
        assert_eq!(Colour::ALL, &[Colour::Red, Colour::DarkBlue]);
        assert_eq!(<Colour as Kind>::KIND, "`red` or `dark_blue`");
        assert_eq!(
            "green".parse::<Colour>().unwrap_err(),
            "unknown colour `green`, expected `red` or `dark_blue`"
        );
        assert_eq!(
            serde_json::to_string(&Colour::DarkBlue).unwrap(),
            "\"dark_blue\""
        );
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "PW" => Some("p:a#s's\"w${x}".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_variables_and_defaults() {
        assert_eq!(expand_with("${PW}", env).unwrap(), "p:a#s's\"w${x}");
        assert_eq!(expand_with("a-${NOPE:-d:ef}-b", env).unwrap(), "a-d:ef-b");
        assert_eq!(expand_with("${EMPTY:-x}", env).unwrap(), "x");
        assert_eq!(expand_with("${EMPTY}", env).unwrap(), "");
        assert_eq!(
            expand_with("cost $5 and $${literal}", env).unwrap(),
            "cost $5 and ${literal}"
        );
    }

    #[test]
    fn reports_missing_and_malformed_variables() {
        assert!(expand_with("${NOPE}", env)
            .unwrap_err()
            .contains("`NOPE` is not set"));
        assert!(expand_with("${PW", env)
            .unwrap_err()
            .contains("unterminated"));
        assert!(expand_with("${1X}", env)
            .unwrap_err()
            .contains("invalid environment variable"));
    }

    #[test]
    fn scrub_removes_remembered_secrets() {
        remember_secret("pa55-word");
        assert_eq!(
            scrub("auth failed for pa55-word@host"),
            "auth failed for ********@host"
        );
    }

    #[test]
    fn short_secrets_are_masked_only_where_a_secret_sits() {
        remember_secret("test");
        // The database `test` stays readable.
        assert_eq!(
            scrub("cannot connect to postgresql://postgres@127.0.0.1:5432/test"),
            "cannot connect to postgresql://postgres@127.0.0.1:5432/test"
        );
        // A URL's password is masked whatever it is, known or not.
        assert_eq!(
            scrub("mssql://sa:test@db:1433/test and s3://k:x@h/p"),
            "mssql://sa:********@db:1433/test and s3://k:********@h/p"
        );
        // A known secret after a secret-looking key, whatever its length.
        assert_eq!(
            scrub("dsn host=h password=test dbname=test; PWD = 'test'"),
            "dsn host=h password=******** dbname=test; PWD = '********'"
        );
        // Not a longer word that merely starts like the secret.
        assert_eq!(scrub("password=testing"), "password=testing");
        assert_eq!(scrub("a token: unknown"), "a token: unknown");
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s} {s:?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }
}
