//! "did you mean `cursor_field`?": the one valid name close to a mistyped one.
//!
//! Closeness is the optimal-string-alignment edit distance (insertions, deletions,
//! substitutions and swaps of two neighbouring characters, each costing 1), compared
//! case-insensitively. A name is suggested only when it is within a third of the typed
//! word's length (at least 1, at most 3 edits) and no other valid name is as close, so a
//! suggestion is never a guess between two.
//!
//! About 40 lines, so no crate: `strsim` does the same, but only this one function is needed.

/// The edit distance between `a` and `b` (optimal string alignment), on characters.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    // Three rows of the dynamic-programming table: two back (for swaps), one back, current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut current = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
        }
        before = std::mem::replace(&mut previous, current);
    }
    previous[b.len()]
}

/// The one candidate close enough to `typed` to be what was meant, if there is exactly one.
pub fn closest<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (typed.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &str)> = None;
    let mut tie = false;
    for c in candidates {
        if c == typed {
            return None;
        }
        let d = distance(typed, c);
        if d > limit {
            continue;
        }
        match best {
            Some((b, _)) if d > b => {}
            Some((b, _)) if d == b => tie = true,
            _ => {
                best = Some((d, c));
                tie = false;
            }
        }
    }
    best.filter(|_| !tie).map(|(_, c)| c)
}

/// `"; did you mean `x`?"` when one candidate is close to `typed`, else "".
pub fn hint<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(typed, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// The names in backticks in `text` (`` `a`, `b` or `c` `` -> a, b, c).
pub fn quoted(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Adds a suggestion to serde's "unknown field `x`, expected one of `a`, `b`" and "unknown
/// variant `x`, expected `a` or `b`" messages; other messages are returned unchanged.
pub fn annotate(message: &str) -> String {
    for what in ["unknown field `", "unknown variant `"] {
        let Some(start) = message.find(what) else {
            continue;
        };
        let rest = &message[start + what.len()..];
        let Some(end) = rest.find('`') else {
            continue;
        };
        let typed = &rest[..end];
        let expected = &rest[end + 1..];
        let line_end = expected.find('\n').unwrap_or(expected.len());
        let hint = hint(typed, quoted(&expected[..line_end]));
        if hint.is_empty() {
            return message.to_string();
        }
        let at = start + what.len() + end + 1 + line_end;
        let mut out = message.to_string();
        out.insert_str(at, &hint);
        return out;
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(
            distance("cursor_feild", "cursor_field"),
            1,
            "a swap is one edit"
        );
        assert_eq!(distance("incremntal", "incremental"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("Format", "format"), 0);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn one_close_name_or_none() {
        let keys = [
            "name",
            "table",
            "query",
            "mode",
            "cursor_field",
            "primary_key",
        ];
        assert_eq!(closest("cursor_feild", keys), Some("cursor_field"));
        assert_eq!(closest("cursorfield", keys), Some("cursor_field"));
        assert_eq!(closest("primary_keys", keys), Some("primary_key"));
        assert_eq!(closest("colour", keys), None, "nothing close");
        assert_eq!(closest("mod", keys), Some("mode"));
        // Two names equally close: no guess.
        assert_eq!(closest("ab", ["aa", "bb"]), None);
        assert_eq!(closest("x", ["y"]), Some("y"));
    }

    #[test]
    fn serde_messages_get_a_hint() {
        assert_eq!(
            annotate("streams[0]: unknown field `cursor_feild`, expected one of `name`, `cursor_field`"),
            "streams[0]: unknown field `cursor_feild`, expected one of `name`, `cursor_field`; did you mean `cursor_field`?"
        );
        assert_eq!(
            annotate("unknown variant `sqlit`, expected `sqlite` or `mysql`"),
            "unknown variant `sqlit`, expected `sqlite` or `mysql`; did you mean `sqlite`?"
        );
        let plain = "unknown field `colour`, expected `base_path` or `format`";
        assert_eq!(annotate(plain), plain);
    }
}
