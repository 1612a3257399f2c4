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

/// Parses `source` and calls `sink` with batches of up to `batch_size` events. `sink` returning false stops.
pub fn parse(
    name: &str,
    source: impl Read,
    format: Format,
    batch_size: usize,
    now: Timestamp,
    sink: impl FnMut(Batch) -> bool,
) -> Result<(), IngestError> {
    parse_checked(name, source, format, batch_size, now, &|_| Ok(()), sink)
}

/// `parse`, with each valid event also put to `check` (what the configuration adds, e.g. known visit
/// types): an event it refuses is rejected on its line like any invalid one.
pub fn parse_checked(
    name: &str,
    source: impl Read,
    format: Format,
    batch_size: usize,
    now: Timestamp,
    check: &dyn Fn(&Event) -> Result<(), EventError>,
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
                push(
                    &mut batch,
                    number,
                    outcome.and_then(|e| check(&e).map(|()| e)),
                );
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
            let mut records = CsvRecords::new(BufReader::with_capacity(1 << 20, source));
            let headers: Vec<String> = match records.next().map_err(io)? {
                None => Vec::new(),
                Some(CsvItem::Unclosed { line, reason }) => {
                    return Err(IngestError::Header(
                        name.to_string(),
                        format!("line {line}: {reason}"),
                    ))
                }
                Some(CsvItem::Record { line, .. }) => records
                    .fields()
                    .map_err(|e| {
                        IngestError::Header(name.to_string(), format!("line {line}: {e}"))
                    })?
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
            };
            let columns =
                CsvColumns::new(&headers).map_err(|e| IngestError::Header(name.to_string(), e))?;
            records.expect_fields(headers.len());
            while let Some(item) = records.next().map_err(io)? {
                let (line, outcome) = match item {
                    CsvItem::Record { line, .. } => (
                        line,
                        records.fields().and_then(|fields| {
                            if fields.len() == headers.len() {
                                columns.event(&fields, now, &mut new_id)
                            } else {
                                Err(EventError::new(
                                    "(csv)",
                                    format!(
                                        "found {} fields, but the header has {}",
                                        fields.len(),
                                        headers.len()
                                    ),
                                ))
                            }
                        }),
                    ),
                    CsvItem::Unclosed { line, reason } => {
                        (line, Err(EventError::new("(csv)", reason)))
                    }
                };
                push(
                    &mut batch,
                    line,
                    outcome.and_then(|e| check(&e).map(|()| e)),
                );
                if batch.events.len() + batch.rejections.len() >= batch_size {
                    batch.bytes_read = records.bytes;
                    if !sink(std::mem::take(&mut batch)) {
                        return Ok(());
                    }
                }
            }
            batch.bytes_read = records.bytes;
        }
    }
    if !batch.events.is_empty() || !batch.rejections.is_empty() {
        sink(batch);
    }
    Ok(())
}

/// Longest stretch of input a quoted field may span across line ends. A quote still open after this many
/// bytes, or at the end of the input, is taken for a stray quote (see `CsvRecords`).
pub const MAX_QUOTED_SPAN: usize = 64 * 1024;

/// One physical line of CSV input (with its line end), numbered from 1; `start` is where its unread part
/// begins (after a record that ended at a lone `\r`).
struct Line {
    number: u64,
    bytes: Vec<u8>,
    start: usize,
}

enum CsvItem {
    /// A record that began on `line`; its fields are in `CsvRecords::fields`.
    Record { line: u64 },
    /// A quote opened on `line` never closed in time: that line is rejected, the lines after it are read
    /// again as lines.
    Unclosed { line: u64, reason: String },
}

/// CSV records read line by line with `csv_core` (the `csv` crate's own parser), so that one stray quote
/// costs one line instead of the rest of the file. A record that runs over a line end (an open quote) is
/// kept while it grows; if its quote is still open at the end of the input or after `MAX_QUOTED_SPAN`
/// bytes, or if it ends with another number of fields than the header, the line where it opened is
/// reported and the lines after it are parsed again. Memory stays bounded by `MAX_QUOTED_SPAN`.
struct CsvRecords<R> {
    source: R,
    core: csv_core::Reader,
    /// Lines read but to be parsed again (after a stray quote), in order.
    replay: std::collections::VecDeque<Line>,
    /// The lines of the record in progress (a quoted field spanning line ends).
    pending: Vec<Line>,
    pending_bytes: usize,
    lines_read: u64,
    /// Bytes read from `source` so far.
    bytes: u64,
    out: Vec<u8>,
    ends: Vec<usize>,
    out_len: usize,
    ends_len: usize,
    /// The header's number of fields, once known.
    expected: Option<usize>,
    max_span: usize,
}

impl<R: BufRead> CsvRecords<R> {
    fn new(source: R) -> CsvRecords<R> {
        CsvRecords {
            source,
            core: csv_core::Reader::new(),
            replay: Default::default(),
            pending: Vec::new(),
            pending_bytes: 0,
            lines_read: 0,
            bytes: 0,
            out: vec![0; 4 * 1024],
            ends: vec![0; 64],
            out_len: 0,
            ends_len: 0,
            expected: None,
            max_span: MAX_QUOTED_SPAN,
        }
    }

    fn expect_fields(&mut self, fields: usize) {
        self.expected = Some(fields);
    }

    /// The next line to parse: a replayed one, else one from the source (a final line without a line end
    /// gets one, so that only an open quote leaves a record unfinished at the end).
    fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        if let Some(line) = self.replay.pop_front() {
            return Ok(Some(line));
        }
        let mut bytes = Vec::new();
        let n = self.source.read_until(b'\n', &mut bytes)?;
        if n == 0 {
            return Ok(None);
        }
        self.bytes += n as u64;
        self.lines_read += 1;
        if bytes.last() != Some(&b'\n') {
            bytes.push(b'\n');
        }
        Ok(Some(Line {
            number: self.lines_read,
            bytes,
            start: 0,
        }))
    }

    fn next(&mut self) -> std::io::Result<Option<CsvItem>> {
        use csv_core::ReadRecordResult as R;
        loop {
            let Some(line) = self.next_line()? else {
                if self.pending.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(self.stray_quote(
                    None,
                    "a quote opened on this line is still open at the end of the input",
                )));
            };
            if self.pending.is_empty() {
                (self.out_len, self.ends_len) = (0, 0);
            }
            let mut at = line.start;
            loop {
                let (result, read, written, ended) = self.core.read_record(
                    &line.bytes[at..],
                    &mut self.out[self.out_len..],
                    &mut self.ends[self.ends_len..],
                );
                at += read;
                self.out_len += written;
                self.ends_len += ended;
                match result {
                    R::OutputFull => self.out.resize(self.out.len() * 2, 0),
                    R::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                    R::InputEmpty | R::End => break,
                    R::Record => return Ok(Some(self.finish(line, at))),
                }
            }
            let blank = line.bytes[line.start..]
                .iter()
                .all(|b| matches!(b, b'\r' | b'\n'));
            if self.pending.is_empty() && blank {
                continue;
            }
            self.pending_bytes += line.bytes.len() - line.start;
            self.pending.push(line);
            if self.pending_bytes > self.max_span {
                let reason = format!(
                    "a quote opened on this line is still open {} KiB later",
                    self.max_span / 1024
                );
                return Ok(Some(self.stray_quote(None, &reason)));
            }
        }
    }

    /// A record ended at `at` in `line`.
    fn finish(&mut self, mut line: Line, at: usize) -> CsvItem {
        let first = self.pending.first().map_or(line.number, |l| l.number);
        if !self.pending.is_empty() && self.expected.is_some_and(|n| n != self.ends_len) {
            let reason = format!(
                "a quote opened on this line runs over {} lines and leaves {} fields instead of {}",
                self.pending.len() + 1,
                self.ends_len,
                self.expected.unwrap_or_default()
            );
            return self.stray_quote(Some(line), &reason);
        }
        self.pending.clear();
        self.pending_bytes = 0;
        if !line.bytes[at..].iter().all(|b| matches!(b, b'\r' | b'\n')) {
            // A record ended at a lone `\r`: the rest of the line is the next record.
            line.start = at;
            self.replay.push_front(line);
        }
        CsvItem::Record { line: first }
    }

    /// The record in progress began with a stray quote: report its first line, parse the others again.
    fn stray_quote(&mut self, last: Option<Line>, reason: &str) -> CsvItem {
        self.core.reset();
        (self.out_len, self.ends_len, self.pending_bytes) = (0, 0, 0);
        let mut lines = std::mem::take(&mut self.pending);
        lines.extend(last);
        let mut lines = lines.into_iter();
        let first = lines.next().map_or(0, |l| l.number);
        for line in lines.rev() {
            self.replay.push_front(Line { start: 0, ..line });
        }
        CsvItem::Unclosed {
            line: first,
            reason: reason.to_string(),
        }
    }

    /// The fields of the record just read.
    fn fields(&self) -> Result<Vec<&str>, EventError> {
        let ends = &self.ends[..self.ends_len];
        let text = std::str::from_utf8(&self.out[..ends.last().copied().unwrap_or(0)])
            .map_err(|_| EventError::new("(csv)", "is not valid UTF-8"))?;
        let mut start = 0;
        Ok(ends
            .iter()
            .map(|&end| {
                let field = text.get(start..end).unwrap_or_default();
                start = end;
                field
            })
            .collect())
    }
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
    fn new(headers: &[String]) -> Result<CsvColumns, String> {
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
        record: &[&str],
        now: Timestamp,
        new_id: &mut dyn FnMut() -> String,
    ) -> Result<Event, EventError> {
        let mut input = EventInput::default();
        let mut properties = serde_json::Map::new();
        for (column, value) in self.fields.iter().zip(record.iter()) {
            if value.is_empty() {
                continue;
            }
            match column {
                Column::Property(name) => {
                    properties.insert(name.clone(), csv_value(value));
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
                    *slot = Some((*value).into());
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

    fn purchase_lines(from: usize, count: usize) -> String {
        (from..from + count)
            .map(|i| format!("{i},purchase,c{i},2026-01-05T10:00:00Z,\n"))
            .collect()
    }

    #[test]
    fn csv_stray_quote_costs_one_line() {
        // An unbalanced quote on line 2, never closed: line 2 is rejected, the 1 000 lines after it are kept.
        let text = format!(
            "id,type,customer,at,properties.note\n\
             x,purchase,c0,2026-01-05T10:00:00Z,\"oops\n{}",
            purchase_lines(1, 1_000)
        );
        let (events, rejections) = run(&text, Format::Csv);
        assert_eq!(events.len(), 1_000);
        assert_eq!(events[0].id, "1");
        assert_eq!(events[999].id, "1000");
        assert_eq!(rejections.len(), 1);
        assert_eq!(rejections[0].line, 2);
        assert_eq!(rejections[0].error.field, "(csv)");
        assert!(
            rejections[0].error.reason.contains("end of the input"),
            "{}",
            rejections[0].error
        );
    }

    #[test]
    fn csv_two_stray_quotes_cost_their_own_lines() {
        // Line 2 opens a quote that line 5's stray quote closes: the record that makes has the wrong number of
        // fields, so line 2 is rejected and lines 3-5 are read again; line 5's quote does the same.
        let text = format!(
            "id,type,customer,at,properties.note\n\
             a,purchase,c0,2026-01-05T10:00:00Z,\"oops\n{}\
             b,purchase,\"c9,2026-01-05T10:00:00Z,\n{}\
             q,purchase,c9,2026-01-05T10:00:00Z,say \"hi\"\n",
            purchase_lines(1, 2),
            purchase_lines(3, 2)
        );
        let (events, rejections) = run(&text, Format::Csv);
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3", "4", "q"]);
        // A quote inside an unquoted field is a character like any other.
        assert_eq!(events[4].properties_value()["note"], "say \"hi\"");
        let lines: Vec<u64> = rejections.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 5], "{rejections:?}");
        assert!(
            rejections[0].error.reason.contains("7 fields instead of 5"),
            "{}",
            rejections[0].error
        );
        // Line 5's quote is closed by the one in `say "hi"` on line 8: again the wrong number of fields.
        assert!(
            rejections[1].error.reason.contains("3 fields instead of 5"),
            "{}",
            rejections[1].error
        );
    }

    #[test]
    fn csv_quoted_fields_may_span_lines() {
        let text = "id,type,customer,at,properties.note\r\n\
                    1,purchase,c1,2026-01-05T10:00:00Z,\"first line\r\nsecond, \"\"quoted\"\"\r\n\r\nfourth\"\r\n\
                    2,purchase,,2026-01-05T10:00:00Z,\r\n\
                    3,purchase,c3,2026-01-05T10:00:00Z,plain\r\n";
        let (events, rejections) = run(text, Format::Csv);
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0].properties_value()["note"],
            "first line\r\nsecond, \"quoted\"\r\n\r\nfourth"
        );
        assert_eq!(events[1].properties_value()["note"], "plain");
        // Line numbers count physical lines: record 2 starts on line 6.
        assert_eq!(rejections.len(), 1);
        assert_eq!(
            (rejections[0].line, rejections[0].error.field.as_str()),
            (6, "customer")
        );
    }

    #[test]
    fn csv_quote_open_longer_than_the_limit_is_a_stray_quote() {
        let long = "x".repeat(1_000);
        let within: String = (0..10).map(|_| format!("{long}\n")).collect();
        let beyond: String = (0..70).map(|_| format!("{long}\n")).collect();
        let text = format!(
            "id,type,customer,at,properties.note\n\
             1,purchase,c1,2026-01-05T10:00:00Z,\"{within}\"\n\
             2,purchase,c2,2026-01-05T10:00:00Z,\"{beyond}\"\n\
             3,purchase,c3,2026-01-05T10:00:00Z,\n"
        );
        let (events, rejections) = run(&text, Format::Csv);
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["1", "3"]);
        assert_eq!(events[0].properties_value()["note"], within.as_str());
        // Line 13 opened the quote; the 69 lines of x after it (one field each) are then read again as
        // records of their own.
        assert_eq!(rejections[0].line, 13);
        assert!(
            rejections[0].error.reason.contains("64 KiB"),
            "{}",
            rejections[0].error
        );
        assert_eq!(rejections.len(), 1 + 69 + 1, "{:?}", &rejections[..3]);
        assert!(rejections[1..70].iter().all(|r| r
            .error
            .reason
            .contains("found 1 fields, but the header has 5")));
        // The closing quote's line (83) opens a quote of its own, open to the end; line 84 is kept.
        assert_eq!(rejections[70].line, 83);
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
