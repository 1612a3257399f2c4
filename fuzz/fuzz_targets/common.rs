//! Checks shared by the fuzz targets: what every validated `Event` must satisfy.

use seen::domain::event::Event;
use serde_json::value::RawValue;

fn clean(field: &str, value: &str, max: usize) {
    assert!(value.chars().count() <= max, "{field} longer than {max}");
    assert!(
        !value.chars().any(char::is_control),
        "{field} has control characters"
    );
}

fn token(field: &str, value: &str, max: usize) {
    assert!(!value.is_empty(), "{field} is empty");
    assert_eq!(value.trim(), value, "{field} is not trimmed");
    clean(field, value, max);
}

pub fn invariants(event: &Event) {
    token("id", &event.id, 200);
    token("customer", &event.customer, 200);
    token("type", &event.kind, 100);
    assert!(event
        .kind
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/')));
    if let Some(channel) = &event.channel {
        token("channel", channel, 50);
    }
    if let Some(reference) = &event.reference {
        token("ref", reference, 200);
    }
    // The stores keep `at` as i64 nanoseconds.
    assert!(i64::try_from(event.at.as_nanosecond()).is_ok());
    let year = event.at.to_zoned(jiff::tz::TimeZone::UTC).year();
    assert!((1970..=2200).contains(&year), "year {year}");
    if let Some(properties) = &event.properties {
        // Kept as sent: valid JSON (numbers beyond f64 pass the syntax check, so this is not a `Value`).
        assert!(serde_json::from_str::<&RawValue>(properties).is_ok());
        assert!(properties.starts_with('{'), "properties are an object");
    }
    assert!(event.properties_value().is_object());
    let _ = event.property_timestamp("starts_at");
    let profile = &event.profile;
    if let Some(email) = &profile.email {
        clean("customer_email", email, 254);
        assert!(email.contains('@'));
    }
    if let Some(name) = &profile.name {
        clean("customer_name", name, 500);
    }
    if let Some(phone) = &profile.phone {
        clean("customer_phone", phone, 50);
    }
    if let Some(zone) = &profile.timezone {
        assert!(jiff::tz::TimeZone::get(zone).is_ok());
    }
}
