//! The OpenAPI document's description of what the API *accepts*, exactly: the event body and every query or
//! path parameter, as JSON Schema whose patterns describe the same sets as `domain::event`'s validators
//! (`identifier`, `parse_timestamp`, …). utoipa generates the routes and response types; `document` adds these.

use serde_json::{json, Map, Value};

use crate::domain::event::{
    MAX_CHANNEL, MAX_EMAIL, MAX_ID, MAX_PHONE, MAX_PROPERTIES_BYTES, MAX_PROPERTIES_DEPTH,
    MAX_TEXT, MAX_TYPE,
};

/// Control characters (`char::is_control`): refused everywhere.
const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";
/// Control characters and white space (`char::is_whitespace`): what an id may not start or end with.
const CONTROL_OR_SPACE: &str =
    r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// White space (`char::is_whitespace`): what `trim` removes.
const SPACE: &str = r"\x09-\x0d\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// `domain::event::parse_timestamp`: RFC 3339 with an offset, years 1970-2200 as written, real dates only.
pub const TIMESTAMP_PATTERN: &str = concat!(
    "^(?:",
    "(?:19[7-9][0-9]|20[0-9]{2}|21[0-9]{2}|2200)-",
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))",
    "|(?:19(?:7[26]|8[048]|9[26])|20(?:[02468][048]|[13579][26])|21(?:0[48]|[2468][048]|[13579][26]))-02-29",
    ")T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
);

/// `domain::event::identifier` (with `maxLength`): non-empty, no control characters, no surrounding space.
pub fn identifier_pattern() -> String {
    format!("^[^{CONTROL_OR_SPACE}](?:[^{CONTROL}]*[^{CONTROL_OR_SPACE}])?$")
}

/// An optional query identifier: empty means absent.
fn optional_identifier_pattern() -> String {
    format!("^(?:[^{CONTROL_OR_SPACE}](?:[^{CONTROL}]*[^{CONTROL_OR_SPACE}])?)?$")
}

/// Free text of an event (name, phone), trimmed: then no control characters.
fn text_pattern() -> String {
    format!("^[{SPACE}]*[^{CONTROL_OR_SPACE}](?:[^{CONTROL}]*[^{CONTROL_OR_SPACE}])?[{SPACE}]*$")
}

/// `customer_email`, trimmed: then no control characters or spaces, `local@domain`.
fn email_pattern() -> String {
    let x = format!("{CONTROL}\\x20");
    format!("^[{SPACE}]*[^{CONTROL_OR_SPACE}@][^{x}@]*@[^{x}]*[^{CONTROL_OR_SPACE}][{SPACE}]*$")
}

/// An optional event field: null, only white space (of any length: both mean absent), or a value.
fn optional_field(pattern: String, max: usize, description: &str) -> Value {
    json!({"description": description, "anyOf": [
        {"type": "null"},
        {"type": "string", "pattern": format!("^[{SPACE}]*$")},
        {"type": "string", "pattern": pattern, "maxLength": max},
    ]})
}

/// One event as `POST /v1/events` and `seen import` take it.
fn event_schema() -> Value {
    let zones: Vec<Value> = jiff::tz::db()
        .available()
        .map(|name| Value::String(name.to_string()))
        .collect();
    json!({
        "type": "object",
        "description": "One customer interaction. Unknown fields are refused.",
        "additionalProperties": false,
        "required": ["type", "customer"],
        "properties": {
            "id": {"type": ["string", "null"], "pattern": identifier_pattern(), "maxLength": MAX_ID, "description": "Your id for the event; a repeated id is a duplicate (a conflict if stored for another customer); absent or null: a UUIDv7 is minted"},
            "type": {"type": "string", "pattern": format!("^[A-Za-z0-9._:/-]{{1,{MAX_TYPE}}}$"), "description": "e.g. message.received, booking.created, purchase"},
            "customer": {"type": "string", "pattern": identifier_pattern(), "maxLength": MAX_ID, "description": "Your id for the customer"},
            "at": {"type": ["string", "null"], "pattern": TIMESTAMP_PATTERN, "description": "RFC 3339 with offset, years 1970-2200; absent or null: when Seen received it"},
            "channel": optional_field(identifier_pattern(), MAX_CHANNEL, "email, phone, chat, web, in_person, app, …; empty: none"),
            "ref": optional_field(identifier_pattern(), MAX_ID, "The thread, booking or order it belongs to; empty: none"),
            "customer_email": optional_field(email_pattern(), MAX_EMAIL, "Updates the profile (the latest event wins); empty: unchanged"),
            "customer_name": optional_field(text_pattern(), MAX_TEXT, "Updates the profile; empty: unchanged"),
            "customer_phone": optional_field(text_pattern(), MAX_PHONE, "Updates the profile; empty: unchanged"),
            "customer_timezone": {"description": "An IANA time zone; updates the profile; empty: unchanged", "anyOf": [
                {"type": "null"},
                {"type": "string", "pattern": format!("^[{SPACE}]*$")},
                {"type": "string", "enum": zones},
            ]},
            "properties": {"type": ["object", "null"], "description": format!(
                "Any JSON object of at most {MAX_PROPERTIES_BYTES} bytes and {MAX_PROPERTIES_DEPTH} levels of nesting, numbers within a 64-bit float; read back exactly as sent")},
        }
    })
}

/// The schema of a query or path parameter, by name (and path where one name means different things).
fn parameter_schema(path: &str, name: &str) -> Option<Value> {
    let id = |max: usize| json!({"type": "string", "pattern": optional_identifier_pattern(), "maxLength": max});
    Some(match (path, name) {
        (_, "as_of")
        | (_, "since")
        | ("/v1/journeys/{name}" | "/v1/visits/summary", "from" | "to") => {
            json!({"type": "string", "pattern": TIMESTAMP_PATTERN})
        }
        ("/v1/journeys/{name}", "name") => {
            json!({"type": "string", "pattern": identifier_pattern(), "maxLength": MAX_ID})
        }
        (_, "limit") => json!({"type": "integer", "minimum": 1, "maximum": 100_000}),
        (_, "top") => json!({"type": "integer", "minimum": 1, "maximum": 10_000}),
        (_, "all") => json!({"type": "boolean"}),
        ("/v1/customers/{id}", "id") => {
            json!({"type": "string", "pattern": identifier_pattern(), "maxLength": MAX_ID})
        }
        (_, "customer") | (_, "policy") => id(MAX_ID),
        ("/v1/obligations", "status") => {
            let mut values: Vec<Value> = crate::domain::Status::ALL
                .iter()
                .map(|s| json!(s.as_str()))
                .collect();
            values.push(json!(""));
            json!({"type": "string", "enum": values})
        }
        ("/v1/outbox", "status") => json!({"type": "string", "enum":
            crate::store::OutboxStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>()}),
        ("/v1/outbox", "after") => {
            json!({"type": "string", "pattern": format!("^[^{CONTROL}]*$"), "maxLength": super::outbox::MAX_OUTBOX_KEY})
        }
        ("/v1/visits/summary", "by") => {
            json!({"type": "string", "enum": ["type", "location", "staff", "hour"]})
        }
        ("/v1/surveys/summary", "by") => json!({"type": "string", "enum":
            ["all", "policy", "channel", "team", "survey", "day", "week", "month"]}),
        _ => return None,
    })
}

/// The OpenAPI document served at `/openapi.json`: utoipa's, with exact input schemas and the 503 every
/// route may answer while storage is unavailable.
pub fn document() -> Value {
    use utoipa::OpenApi;
    let mut doc = serde_json::to_value(super::ApiDoc::openapi()).unwrap_or_default();
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.insert("EventInput".into(), event_schema());
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return doc;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (_, operation) in item.iter_mut() {
            let Some(operation) = operation.as_object_mut() else {
                continue;
            };
            describe_parameters(path, operation);
            if path.starts_with("/v1/") {
                add_unavailable(operation);
            }
        }
    }
    if let Some(body) =
        doc.pointer_mut("/paths/~1v1~1events/post/requestBody/content/application~1json")
    {
        body["schema"] = json!({"oneOf": [
            {"$ref": "#/components/schemas/EventInput"},
            {"type": "array", "items": {"$ref": "#/components/schemas/EventInput"}, "minItems": 1,
             "description": "A batch of up to [server] max_batch events (default 10 000)"},
        ]});
    }
    doc
}

fn describe_parameters(path: &str, operation: &mut Map<String, Value>) {
    let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for parameter in parameters {
        let name = parameter["name"].as_str().unwrap_or_default().to_string();
        if let Some(schema) = parameter_schema(path, &name) {
            parameter["schema"] = schema;
        }
    }
}

fn add_unavailable(operation: &mut Map<String, Value>) {
    if let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    {
        responses.entry("503").or_insert_with(|| json!({
            "description": "Storage is unavailable (busy, unreachable or full); nothing was stored, retry after the given seconds",
            "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 0}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }));
    }
}
