//! Exact text forms of values: decimals, dates, times and timestamps. Shared by connectors that
//! store values as text (SQLite) and by the runner's cursor state, so both read and write the
//! same canonical forms.

use chrono::{Datelike, NaiveDate};

const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Parses exact decimal text (`-12.50`) into the unscaled value of DECIMAL(p,s).
pub fn parse_decimal(text: &str, p: u8, s: i8) -> Result<i128, String> {
    let t = text.trim();
    let bad = || format!("'{t}' is not a decimal number");
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let s = s.max(0) as usize;
    let kept = frac.trim_end_matches('0');
    if kept.len() > s {
        return Err(format!(
            "{t} has more than {s} decimal places for DECIMAL({p},{s})"
        ));
    }
    let int = int.trim_start_matches('0');
    if int.len() + s > p as usize {
        return Err(format!("{t} does not fit DECIMAL({p},{s})"));
    }
    let mut v: i128 = 0;
    for b in int.bytes().chain(kept.bytes()) {
        v = v * 10 + (b - b'0') as i128;
    }
    v *= 10i128.pow((s - kept.len()) as u32);
    Ok(if neg { -v } else { v })
}

/// Formats the unscaled value of a decimal with `scale` digits after the point.
pub fn format_decimal(v: i128, scale: i8) -> String {
    format_decimal_digits(&v.to_string(), scale)
}

/// [`format_decimal`] of an unscaled value already written in decimal digits (`-1234`), for
/// values wider than i128 (Decimal256).
pub fn format_decimal_digits(unscaled: &str, scale: i8) -> String {
    let (sign, digits) = match unscaled.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", unscaled),
    };
    if scale <= 0 {
        let zeros = if digits == "0" { 0 } else { (-scale) as usize };
        return format!("{sign}{digits}{}", "0".repeat(zeros));
    }
    let scale = scale as usize;
    let pad = (scale + 1).saturating_sub(digits.len());
    let padded = format!("{}{digits}", "0".repeat(pad));
    let (i, f) = padded.split_at(padded.len() - scale);
    format!("{sign}{i}.{f}")
}

pub(crate) fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `YYYY-MM-DD` to days since the Unix epoch.
pub fn parse_date(s: &str) -> Option<i32> {
    let s = s.trim();
    let mut it = s.splitn(3, '-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(y)? as i32, num(m)?, num(d)?)?;
    Some(date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE)
}

/// `HH:MM[:SS[.fraction]]` to microseconds since midnight; an error for sub-microsecond digits.
pub fn parse_time(s: &str) -> Result<Option<i64>, String> {
    let s = s.trim();
    let (hms, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    let (h, m, sec) = match parts.as_slice() {
        [h, m] => (num(h), num(m), Some(0)),
        [h, m, sec] => (num(h), num(m), num(sec)),
        _ => return Ok(None),
    };
    let (Some(h), Some(m), Some(sec)) = (h, m, sec) else {
        return Ok(None);
    };
    if h > 23 || m > 59 || sec > 60 || (frac.is_empty() && s.contains('.')) {
        return Ok(None);
    }
    let Some(micros) = fraction_micros(frac)? else {
        return Ok(None);
    };
    Ok(Some(
        ((h * 3600 + m * 60 + sec) as i64) * 1_000_000 + micros,
    ))
}

pub fn fraction_micros(frac: &str) -> Result<Option<i64>, String> {
    if frac.is_empty() {
        return Ok(Some(0));
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return Ok(None);
    }
    let (us, rest) = frac.split_at(frac.len().min(6));
    if rest.bytes().any(|b| b != b'0') {
        return Err(format!(
            "fraction .{frac} has sub-microsecond digits; only microseconds can be carried"
        ));
    }
    Ok(Some(
        us.parse::<i64>().unwrap_or(0) * 10i64.pow(6 - us.len() as u32),
    ))
}

/// ISO-8601 timestamp text to microseconds since the epoch (UTC when an offset is given).
pub fn parse_timestamp(s: &str) -> Result<Option<i64>, String> {
    let s = s.trim();
    if s.len() < 10 {
        return Ok(None);
    }
    let Some(days) = parse_date(&s[..10]) else {
        return Ok(None);
    };
    let rest = &s[10..];
    if rest.is_empty() {
        return Ok(Some(days as i64 * MICROS_PER_DAY));
    }
    let rest = match rest.as_bytes()[0] {
        b' ' | b'T' | b't' => &rest[1..],
        _ => return Ok(None),
    };
    // Split off a trailing `Z` or `±HH[:MM]` offset.
    let (time, offset_secs) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, 0i64)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (t, off) = rest.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let digits: String = off[1..].chars().filter(|c| *c != ':').collect();
        let (hh, mm) = match digits.len() {
            2 => (num(&digits), Some(0)),
            4 => (num(&digits[..2]), num(&digits[2..])),
            _ => (None, None),
        };
        let (Some(hh), Some(mm)) = (hh, mm) else {
            return Ok(None);
        };
        (t.trim_end(), sign * (hh as i64 * 3600 + mm as i64 * 60))
    } else {
        (rest, 0)
    };
    let Some(tod) = parse_time(time)? else {
        return Ok(None);
    };
    Ok(Some(
        days as i64 * MICROS_PER_DAY + tod - offset_secs * 1_000_000,
    ))
}

/// Text for a timestamp in microseconds: `YYYY-MM-DD HH:MM:SS.ffffff`.
pub fn format_timestamp_micros(us: i64, with_offset: bool) -> Option<String> {
    let dt = chrono::DateTime::from_timestamp_micros(us)?.naive_utc();
    let mut s = dt.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    if with_offset {
        s.push_str("+00:00");
    }
    Some(s)
}

/// A nanosecond timestamp in calendar form (`2024-02-29 12:00:00.123456789`), for messages
/// about a value: its raw number says nothing to a user.
pub fn timestamp_nanos_text(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S%.9f")
        .to_string()
}

pub fn format_date(days: i32) -> Option<String> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(UNIX_EPOCH_DAYS_FROM_CE)?)
        .map(|d| d.format("%Y-%m-%d").to_string())
}

pub fn format_time_micros(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    format!(
        "{:02}:{:02}:{:02}.{:06}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60,
        us.rem_euclid(1_000_000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact_or_refused() {
        assert_eq!(parse_decimal("12.5", 12, 2).unwrap(), 1250);
        assert_eq!(parse_decimal("-0.07", 12, 2).unwrap(), -7);
        assert_eq!(parse_decimal("12.500", 12, 2).unwrap(), 1250);
        assert!(parse_decimal("12.505", 12, 2)
            .unwrap_err()
            .contains("decimal places"));
        assert!(parse_decimal("12345678901", 12, 2)
            .unwrap_err()
            .contains("does not fit"));
        assert!(parse_decimal("abc", 12, 2).is_err());
        assert_eq!(format_decimal(1250, 2), "12.50");
        assert_eq!(format_decimal(-7, 2), "-0.07");
        assert_eq!(format_decimal(5, 0), "5");
    }

    #[test]
    fn timestamps_parse_with_offsets_and_reject_nanoseconds() {
        let base = parse_timestamp("2024-03-01 10:00:00").unwrap().unwrap();
        assert_eq!(parse_timestamp("2024-03-01T10:00:00Z").unwrap(), Some(base));
        assert_eq!(
            parse_timestamp("2024-03-01 12:00:00+02:00").unwrap(),
            Some(base)
        );
        assert_eq!(
            parse_timestamp("2024-03-01 10:00:00.5").unwrap(),
            Some(base + 500_000)
        );
        assert!(parse_timestamp("2024-03-01 10:00:00.123456789").is_err());
        assert_eq!(parse_timestamp("2024-13-01 10:00:00").unwrap(), None);
        assert_eq!(
            format_timestamp_micros(base + 1, true).unwrap(),
            "2024-03-01 10:00:00.000001+00:00"
        );
        assert_eq!(parse_date("1970-01-02"), Some(1));
        assert_eq!(parse_date("1970-1-2"), None);
    }
}
