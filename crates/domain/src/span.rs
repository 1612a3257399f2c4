//! Human spans of time: `15m`, `1h30m`, `2d`, `90s` (as in `seen.toml`), and their display; and the
//! display of an instant in tables and pages (`format_when`).

use jiff::{SignedDuration, Timestamp};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad span {text:?}: {reason} (expected e.g. 15m, 1h30m, 2d)")]
pub struct SpanError {
    pub text: String,
    pub reason: &'static str,
}

/// Parses `1d2h30m15s` style spans. `d` is always 24 hours of the clock; business time comes from a calendar.
pub fn parse_span(text: &str) -> Result<SignedDuration, SpanError> {
    let err = |reason| SpanError {
        text: text.to_string(),
        reason,
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(err("empty"));
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut last_rank = usize::MAX;
    for c in trimmed.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        let (rank, seconds) = match c {
            'w' => (4, 7 * 86_400),
            'd' => (3, 86_400),
            'h' => (2, 3_600),
            'm' => (1, 60),
            's' => (0, 1),
            _ => return Err(err("unknown unit (use w, d, h, m, s)")),
        };
        if digits.is_empty() {
            return Err(err("a unit without a number"));
        }
        if rank >= last_rank {
            return Err(err("units must go from largest to smallest, each once"));
        }
        last_rank = rank;
        let n: i64 = digits.parse().map_err(|_| err("number too large"))?;
        total = n
            .checked_mul(seconds)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| err("span too large"))?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(err("a number without a unit"));
    }
    Ok(SignedDuration::from_secs(total))
}

/// `2026-05-01 09:12 UTC`: minute precision is what a person reads (the CLI's tables, the dashboard).
pub fn format_when(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// Compact display: `2d 3h`, `45m`, `12s`; at most two units, rounded down.
pub fn format_span(span: SignedDuration) -> String {
    let negative = span.is_negative();
    let mut secs = span.as_secs().unsigned_abs();
    let units = [(86_400u64, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let mut parts = Vec::new();
    for (size, unit) in units {
        if secs >= size && parts.len() < 2 {
            parts.push(format!("{}{unit}", secs / size));
            secs %= size;
        } else if !parts.is_empty() {
            break;
        }
    }
    if parts.is_empty() {
        parts.push("0s".to_string());
    }
    let text = parts.join(" ");
    if negative {
        format!("-{text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spans() {
        let cases = [
            ("15m", 900),
            ("1h30m", 5_400),
            ("2d", 172_800),
            ("90s", 90),
            ("8h30m", 30_600),
            ("1w", 604_800),
            ("0m", 0),
            (" 1h 5m ", 3_900),
        ];
        for (text, secs) in cases {
            assert_eq!(
                parse_span(text),
                Ok(SignedDuration::from_secs(secs)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_bad_spans() {
        for text in [
            "",
            "15",
            "m",
            "1x",
            "1m1h",
            "1h1h",
            "-1h",
            "99999999999999999999d",
        ] {
            assert!(parse_span(text).is_err(), "{text} should be rejected");
        }
    }

    #[test]
    fn formats_spans() {
        assert_eq!(format_span(SignedDuration::from_secs(0)), "0s");
        assert_eq!(format_span(SignedDuration::from_secs(45 * 60)), "45m");
        assert_eq!(
            format_span(SignedDuration::from_secs(2 * 86_400 + 3 * 3_600 + 7)),
            "2d 3h"
        );
        assert_eq!(format_span(SignedDuration::from_secs(86_400 + 60)), "1d");
        assert_eq!(format_span(SignedDuration::from_secs(-90)), "-1m 30s");
    }
}
