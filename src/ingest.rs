//! Batch ingestion from files: JSONL or CSV (or stdin), parsed in a thread of its own into validated
//! events, in batches, each rejected line reported with its number and reason.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use jiff::Timestamp;
use serde_json::value::RawValue;

use crate::domain::event::{parse_event_json, EventError, EventInput};
use crate::domain::Event;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
    /// The CDNOW purchase data (`../shared/data/cdnow/`): whitespace-separated `customer date(YYYYMMDD)
    /// cds dollars`, or the sample's `master_id sample_id date cds dollars`. Each line becomes a `purchase`
    /// event of customer `cdnow-ID` at noon UTC of its date, with `properties.value` and `items`.
    Cdnow,
}

impl Format {
    /// `.csv` files are CSV; everything else (and stdin) is JSON lines.
    pub fn detect(path: &str) -> Format {
        if path.to_ascii_lowercase().ends_with(".csv") {
            Format::Csv
        } else {
            Format::Jsonl
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// 1-based line number in the input.
    pub line: u64,
    pub error: EventError,
}

#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<Event>,
    pub rejections: Vec<Rejection>,
    /// Bytes of input consumed up to the end of this batch.
    pub bytes_read: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read {0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}: {1}")]
    Header(String, String),
}

/// Opens a path, or stdin for `-`.
pub fn open_source(path: &str) -> Result<(Box<dyn Read + Send>, Option<u64>), IngestError> {
    if path == "-" {
        return Ok((Box::new(std::io::stdin()), None));
    }
    let file =
        std::fs::File::open(Path::new(path)).map_err(|e| IngestError::Io(path.to_string(), e))?;
    let len = file.metadata().ok().map(|m| m.len());
    Ok((Box::new(file), len))
}

/// Mints UUIDv7 ids for events that come without one.
pub fn new_event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Parses `source` and calls `sink` with batches of up to `batch_size` events. `sink` returning false stops.
pub fn parse(
    name: &str,
    source: impl Read,
    format: Format,
    batch_size: usize,
    now: Timestamp,
    mut sink: impl FnMut(Batch) -> bool,
) -> Result<(), IngestError> {
    let io = |e| IngestError::Io(name.to_string(), e);
    let mut new_id = new_event_id;
    let mut batch = Batch::default();
    match format {
        Format::Jsonl | Format::Cdnow => {
            let mut reader = BufReader::with_capacity(1 << 20, source);
            let mut line = Vec::with_capacity(1024);
            let mut number = 0u64;
            let mut bytes = 0u64;
            loop {
                line.clear();
                let n = reader.read_until(b'\n', &mut line).map_err(io)?;
                if n == 0 {
                    break;
                }
                number += 1;
                bytes += n as u64;
                let outcome = match std::str::from_utf8(&line) {
                    Err(_) => Err(EventError::new("(line)", "is not valid UTF-8")),
                    Ok(text) if text.trim().is_empty() => continue,
                    // The master file of the lifetimes copy starts with a header line.
                    Ok(text) if format == Format::Cdnow && number == 1 && text.contains("date") => {
                        continue
                    }
                    Ok(text) if format == Format::Cdnow => match cdnow_event(text, number) {
                        Ok(json) => parse_event_json(&json)
                            .and_then(|input| input.validate(now, &mut new_id)),
                        Err(e) => Err(e),
                    },
                    Ok(text) => parse_event_json(text.trim())
                        .and_then(|input| input.validate(now, &mut new_id)),
                };
                push(&mut batch, number, outcome);
                if batch.events.len() + batch.rejections.len() >= batch_size {
                    batch.bytes_read = bytes;
                    if !sink(std::mem::take(&mut batch)) {
                        return Ok(());
                    }
                }
            }
            batch.bytes_read = bytes;
        }
        Format::Csv => {
            let counting = CountingReader {
                inner: source,
                count: 0,
            };
            let mut reader = csv::ReaderBuilder::new()
                .flexible(false)
                .from_reader(counting);
            let headers = reader
                .headers()
                .map_err(|e| IngestError::Header(name.to_string(), e.to_string()))?
                .clone();
            let columns =
                CsvColumns::new(&headers).map_err(|e| IngestError::Header(name.to_string(), e))?;
            let mut record = csv::StringRecord::new();
            loop {
                let line = reader.position().line() + 1;
                match reader.read_record(&mut record) {
                    Ok(false) => break,
                    Ok(true) => {
                        let line = record.position().map_or(line, |p| p.line());
                        let outcome = columns.event(&record, now, &mut new_id);
                        push(&mut batch, line, outcome);
                    }
                    Err(e) if e.is_io_error() => {
                        return Err(io(std::io::Error::other(e.to_string())))
                    }
                    Err(e) => {
                        let line = e.position().map_or(line, |p| p.line());
                        push(
                            &mut batch,
                            line,
                            Err(EventError::new("(csv)", e.to_string())),
                        );
                    }
                }
                if batch.events.len() + batch.rejections.len() >= batch_size {
                    batch.bytes_read = reader.get_ref().count;
                    if !sink(std::mem::take(&mut batch)) {
                        return Ok(());
                    }
                }
            }
            batch.bytes_read = reader.get_ref().count;
        }
    }
    if !batch.events.is_empty() || !batch.rejections.is_empty() {
        sink(batch);
    }
    Ok(())
}

/// One CDNOW line as the JSON of a `purchase` event.
fn cdnow_event(line: &str, number: u64) -> Result<String, EventError> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (id, date, items, value) = match fields.as_slice() {
        [id, date, items, value] | [id, _, date, items, value] => (*id, *date, *items, *value),
        _ => {
            return Err(EventError::new(
                "(line)",
                format!(
                    "expected 4 or 5 whitespace-separated fields, got {}",
                    fields.len()
                ),
            ))
        }
    };
    let bad_date = |why: String| EventError::new("date", format!("{date:?} is not YYYYMMDD{why}"));
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_date(String::new()));
    }
    let date =
        jiff::civil::Date::strptime("%Y%m%d", date).map_err(|e| bad_date(format!(": {e}")))?;
    let items: u64 = items
        .parse()
        .map_err(|_| EventError::new("number_of_cds", format!("{items:?} is not a count")))?;
    let value: f64 = value
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| EventError::new("dollar_value", format!("{value:?} is not an amount")))?;
    Ok(serde_json::json!({
        "id": format!("cdnow-{id}-{date}-{number}"),
        "type": "purchase",
        "customer": format!("cdnow-{id}"),
        "at": format!("{date}T12:00:00Z"),
        "properties": { "value": value, "items": items },
    })
    .to_string())
}

fn push(batch: &mut Batch, line: u64, outcome: Result<Event, EventError>) {
    match outcome {
        Ok(event) => batch.events.push(event),
        Err(error) => batch.rejections.push(Rejection { line, error }),
    }
}

/// Which CSV column holds which field; `properties.NAME` columns become properties.
struct CsvColumns {
    fields: Vec<Column>,
}

enum Column {
    Field(&'static str),
    Property(String),
}

const CSV_FIELDS: [&str; 10] = [
    "id",
    "type",
    "customer",
    "customer_email",
    "customer_name",
    "customer_phone",
    "customer_timezone",
    "at",
    "channel",
    "ref",
];

impl CsvColumns {
    fn new(headers: &csv::StringRecord) -> Result<CsvColumns, String> {
        let mut fields = Vec::new();
        for header in headers.iter() {
            let header = header.trim();
            if let Some(name) = header.strip_prefix("properties.") {
                if name.is_empty() {
                    return Err("column \"properties.\" has no property name".into());
                }
                fields.push(Column::Property(name.to_string()));
            } else if let Some(field) = CSV_FIELDS.iter().find(|f| **f == header) {
                fields.push(Column::Field(field));
            } else {
                return Err(format!(
                    "unknown column {header:?} (expected {} or properties.NAME)",
                    CSV_FIELDS.join(", ")
                ));
            }
        }
        Ok(CsvColumns { fields })
    }

    fn event(
        &self,
        record: &csv::StringRecord,
        now: Timestamp,
        new_id: &mut dyn FnMut() -> String,
    ) -> Result<Event, EventError> {
        let mut input = EventInput::default();
        let mut properties = serde_json::Map::new();
        for (column, value) in self.fields.iter().zip(record.iter()) {
            if value.is_empty() {
                continue;
            }
            let value = Some(value.into());
            match column {
                Column::Property(name) => {
                    properties.insert(name.clone(), csv_value(record_str(&value)));
                }
                Column::Field(field) => {
                    let slot = match *field {
                        "id" => &mut input.id,
                        "type" => &mut input.kind,
                        "customer" => &mut input.customer,
                        "customer_email" => &mut input.customer_email,
                        "customer_name" => &mut input.customer_name,
                        "customer_phone" => &mut input.customer_phone,
                        "customer_timezone" => &mut input.customer_timezone,
                        "at" => &mut input.at,
                        "channel" => &mut input.channel,
                        _ => &mut input.reference,
                    };
                    *slot = value;
                }
            }
        }
        let raw = if properties.is_empty() {
            None
        } else {
            let text = serde_json::Value::Object(properties).to_string();
            Some(
                RawValue::from_string(text)
                    .map_err(|e| EventError::new("properties", e.to_string()))?,
            )
        };
        input.properties = raw.as_deref();
        input.validate(now, new_id)
    }
}

fn record_str<'a>(value: &'a Option<std::borrow::Cow<'_, str>>) -> &'a str {
    value.as_deref().unwrap_or_default()
}

/// A CSV cell as JSON: numbers and booleans typed, everything else a string.
fn csv_value(text: &str) -> serde_json::Value {
    match text {
        "true" => return serde_json::Value::Bool(true),
        "false" => return serde_json::Value::Bool(false),
        _ => {}
    }
    let numeric = text
        .parse::<i64>()
        .map(serde_json::Value::from)
        .ok()
        .or_else(|| {
            text.parse::<f64>()
                .ok()
                .filter(|f| {
                    f.is_finite()
                        && text
                            .chars()
                            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-'))
                })
                .and_then(|f| serde_json::Number::from_f64(f).map(serde_json::Value::Number))
        });
    numeric.unwrap_or_else(|| serde_json::Value::String(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, format: Format) -> (Vec<Event>, Vec<Rejection>) {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let (mut events, mut rejections) = (Vec::new(), Vec::new());
        parse("t", text.as_bytes(), format, 2, now, |b| {
            events.extend(b.events);
            rejections.extend(b.rejections);
            true
        })
        .unwrap();
        (events, rejections)
    }

    #[test]
    fn import_checks_properties_and_ids_as_the_api_does() {
        let deep = format!("{}1{}", "{\"a\":".repeat(33), "}".repeat(33));
        let text = [
            r#"{"id":"1","type":"x","customer":"c","properties":{"n":1e400}}"#.to_string(),
            r#"{"id":"2","type":"x","customer":"c","properties":{"s":"\ud800"}}"#.to_string(),
            format!(r#"{{"id":"3","type":"x","customer":"c","properties":{deep}}}"#),
            r#"{"id":"4","type":"x","customer":"a\u0000b"}"#.to_string(),
            r#"{"id":"5","type":"x","customer":"c","properties":{"n":"a\u0000b"}}"#.to_string(),
        ]
        .join("\n");
        let (events, rejections) = run(&text, Format::Jsonl);
        let fields: Vec<&str> = rejections.iter().map(|r| r.error.field.as_str()).collect();
        assert_eq!(fields[..2], ["properties.n", "properties.s"]);
        assert!(fields[2].starts_with("properties.a.a"), "{fields:?}");
        assert_eq!(fields[3], "customer");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].properties_value()["n"], "a\u{0}b");

        let csv = format!(
            "type,customer,properties.note\nx,c,{}\nx,c,short\n",
            "y".repeat(70_000)
        );
        let (events, rejections) = run(&csv, Format::Csv);
        assert_eq!(events.len(), 1);
        assert_eq!(rejections[0].error.field, "properties");
        assert_eq!(rejections[0].line, 2);
    }

    #[test]
    fn jsonl_keeps_good_lines_and_numbers_bad_ones() {
        let text = concat!(
            r#"{"id":"1","type":"message.received","customer":"c1","at":"2026-01-05T10:00:00Z"}"#,
            "\n{\"id\":\"2\",\"type\":\n",
            "\n",
            r#"{"id":"3","type":"message.sent","customer":"c1","at":"not a time"}"#,
            "\n",
            r#"{"id":"4","type":"message.sent","at":"2026-01-05T10:00:00Z"}"#,
            "\n",
            r#"{"id":"5","type":"message.sent","customer":"c1","at":"2026-01-05T11:00:00Z"}"#,
        );
        let (events, rejections) = run(text, Format::Jsonl);
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["1", "5"]);
        let lines: Vec<(u64, &str)> = rejections
            .iter()
            .map(|r| (r.line, r.error.field.as_str()))
            .collect();
        assert_eq!(lines, [(2, "type"), (4, "at"), (5, "customer")]);
        assert!(
            rejections[0].error.reason.contains("EOF"),
            "{}",
            rejections[0].error
        );
    }

    #[test]
    fn csv_maps_columns_and_properties() {
        let text = "id,type,customer,at,ref,properties.starts_at,properties.amount,properties.note\n\
                    1,booking.confirmed,c1,2026-01-05T10:00:00Z,B1,2026-01-10T09:00:00Z,12.5,hello\n\
                    2,booking.confirmed,,2026-01-05T10:00:00Z,B1,,,\n\
                    3,purchase,c2,2026-01-05T10:00:00Z,,,7,\n";
        let (events, rejections) = run(text, Format::Csv);
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0].property_timestamp("starts_at"),
            Some("2026-01-10T09:00:00Z".parse().unwrap())
        );
        assert_eq!(
            events[0].properties_value()["amount"],
            serde_json::json!(12.5)
        );
        assert_eq!(
            events[0].properties_value()["note"],
            serde_json::json!("hello")
        );
        assert_eq!(events[1].properties_value()["amount"], serde_json::json!(7));
        assert_eq!(rejections.len(), 1);
        assert_eq!(
            (rejections[0].line, rejections[0].error.field.as_str()),
            (3, "customer")
        );
    }

    #[test]
    fn cdnow_lines_become_purchases() {
        let text = "customer_id date number_of_cds dollar_value\n 00004 0001 19970101  2   29.33\n00005 19970102 1 14.96\n00006 0002 1997013 1 1.0\n7 8\n";
        let (events, rejections) = run(text, Format::Cdnow);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].customer, "cdnow-00004");
        assert_eq!(events[0].kind, "purchase");
        assert_eq!(events[0].at.to_string(), "1997-01-01T12:00:00Z");
        assert_eq!(events[0].properties_value()["value"], 29.33);
        assert_eq!(events[1].customer, "cdnow-00005");
        assert_eq!(
            rejections.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert!(
            rejections[0].error.to_string().contains("date"),
            "{}",
            rejections[0].error
        );
    }

    #[test]
    fn csv_rejects_unknown_columns_up_front() {
        let now = Timestamp::UNIX_EPOCH;
        let err = parse(
            "t.csv",
            "type,customer_id\n".as_bytes(),
            Format::Csv,
            10,
            now,
            |_| true,
        )
        .unwrap_err();
        assert!(err.to_string().contains("customer_id"), "{err}");
    }
}
