//! Fuzz target: a `POST /v1/events` body (one JSON object or an array of them), split into items by
//! `api::events::split_body` (as the handler does), each parsed into `EventInput` and validated into an
//! `Event`. Never panics; every accepted event satisfies the invariants the store relies on.
#![no_main]

#[path = "common.rs"]
mod common;

use jiff::Timestamp;
use libfuzzer_sys::fuzz_target;
use seen::api::events::{split_body, BodyError};
use seen::domain::event::parse_event_json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The handler's own split: '[' → array of raw items, '{' → one item, anything else is a 400 before
    // any parsing.
    match split_body(text) {
        Ok(items) => {
            for item in items {
                check(item.get());
            }
        }
        // Not a body the handler would take; still one event's worth of text for the parser.
        Err(BodyError::NotObjectOrArray) => check(text),
        Err(BodyError::InvalidJson(_)) => {}
    }
});

fn check(text: &str) {
    let now: Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
    let mut n = 0u32;
    let mut new_id = || {
        n += 1;
        format!("minted-{n}")
    };
    match parse_event_json(text).and_then(|input| input.validate(now, &mut new_id)) {
        Ok(event) => common::invariants(&event),
        Err(error) => assert!(!error.field.is_empty(), "an error names its field"),
    }
}
