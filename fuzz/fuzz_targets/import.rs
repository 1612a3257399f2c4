//! Fuzz target: a JSONL, CSV or CDNOW import file through `ingest::parse`, in small batches.
//! Never panics; every line is either an event or a numbered rejection; every event is valid.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use seen::ingest::{parse, Format, IngestError};

fuzz_target!(|data: &[u8]| {
    // First byte: the format and the batch size; the rest is the file.
    let Some((&control, file)) = data.split_first() else {
        return;
    };
    let format = match control % 3 {
        0 => Format::Jsonl,
        1 => Format::Csv,
        _ => Format::Cdnow,
    };
    let batch_size = 1 + usize::from(control / 3 % 8);
    let now = "2026-06-01T12:00:00Z".parse().unwrap();
    // The csv crate also ends records at a lone '\r'.
    let newlines = file.iter().filter(|b| **b == b'\n').count() as u64;
    let returns = file.iter().filter(|b| **b == b'\r').count() as u64;
    let lines = newlines + 1 + if format == Format::Csv { returns } else { 0 };
    let mut items = 0u64;
    let mut last_line = 0u64;
    let mut last_bytes = 0u64;
    let result = parse("fuzz", file, format, batch_size, now, |batch| {
        let n = (batch.events.len() + batch.rejections.len()) as u64;
        assert!(n >= 1 && n as usize <= batch_size, "batch of {n}");
        items += n;
        for rejection in &batch.rejections {
            assert!(
                rejection.line >= 1 && rejection.line <= lines,
                "line {}",
                rejection.line
            );
            assert!(!rejection.error.field.is_empty());
            if format != Format::Csv {
                assert!(rejection.line > last_line, "line numbers grow");
                last_line = rejection.line;
            }
        }
        for event in &batch.events {
            common::invariants(event);
        }
        assert!(batch.bytes_read >= last_bytes && batch.bytes_read <= file.len() as u64);
        last_bytes = batch.bytes_read;
        true
    });
    match result {
        Ok(()) => {
            if format != Format::Csv {
                // Every line is one item at most (blank lines and a CDNOW header are skipped).
                assert!(items <= lines, "{items} items from {lines} lines");
            }
        }
        Err(IngestError::Header(..)) => assert_eq!(format, Format::Csv, "only CSV has a header"),
        Err(IngestError::Io(..)) => panic!("reading from memory cannot fail: {result:?}"),
    }
});
