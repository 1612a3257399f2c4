//! Checks on what dashboard forms and paths carry, before anything reaches the store: identifiers, emails
//! and notes with control characters (a NUL breaks PostgreSQL) or absurd lengths get a 400 naming the field.

use super::PageError;

/// Longest customer id, policy name or event id (the same limit as events' own ids).
pub const MAX_ID: usize = 200;
/// Longest email address (RFC 5321).
pub const MAX_EMAIL: usize = 254;
/// Longest note on the queue.
pub const MAX_NOTE: usize = 2_000;
/// Longest display name.
pub const MAX_NAME: usize = 200;
/// Longest password the login form checks (argon2 hashes whatever it gets; no need to feed it megabytes).
pub const MAX_PASSWORD: usize = 1_024;

/// Why a field is refused (`None`: it is fine). Newlines and tabs are allowed only where `multiline`.
pub fn problem(value: &str, max: usize, multiline: bool) -> Option<String> {
    if value.chars().count() > max {
        return Some(format!("longer than {max} characters"));
    }
    let bad = |c: char| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'));
    if value.chars().any(bad) {
        return Some("contains control characters".into());
    }
    None
}

/// An identifier (customer, policy, event): non-empty, no surrounding spaces, no control characters.
pub fn id<'a>(field: &str, value: &'a str) -> Result<&'a str, PageError> {
    if value.is_empty() {
        return Err(PageError::BadRequest(format!("{field}: is empty")));
    }
    if value.trim() != value {
        return Err(PageError::BadRequest(format!(
            "{field}: has leading or trailing whitespace"
        )));
    }
    check(field, value, MAX_ID, false)
}

/// Any single-line text field.
pub fn line<'a>(field: &str, value: &'a str, max: usize) -> Result<&'a str, PageError> {
    check(field, value, max, false)
}

/// A note: newlines allowed.
pub fn note<'a>(field: &str, value: &'a str) -> Result<&'a str, PageError> {
    check(field, value, MAX_NOTE, true)
}

fn check<'a>(
    field: &str,
    value: &'a str,
    max: usize,
    multiline: bool,
) -> Result<&'a str, PageError> {
    match problem(value, max, multiline) {
        None => Ok(value),
        Some(why) => Err(PageError::BadRequest(format!("{field}: {why}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_lengths_are_refused_with_the_field_named() {
        assert_eq!(id("customer", "c-1").ok(), Some("c-1"));
        for (value, why) in [
            ("a\0b", "customer: contains control characters"),
            ("a\u{7f}", "customer: contains control characters"),
            ("a\nb", "customer: contains control characters"),
            ("", "customer: is empty"),
            (" c1", "customer: has leading or trailing whitespace"),
        ] {
            match id("customer", value) {
                Err(PageError::BadRequest(text)) => assert_eq!(text, why, "{value:?}"),
                other => panic!("{value:?}: {other:?}"),
            }
        }
        assert!(id("customer", &"x".repeat(MAX_ID)).is_ok());
        assert!(id("customer", &"x".repeat(MAX_ID + 1)).is_err());
        assert_eq!(
            note("note", "line 1\r\n\tline 2").ok(),
            Some("line 1\r\n\tline 2")
        );
        assert!(note("note", "a\0").is_err());
        assert!(note("note", &"é".repeat(MAX_NOTE + 1)).is_err());
        assert!(line("email", "a\tb@x", MAX_EMAIL).is_err());
    }
}
