//! What every story writes with: the customer being generated, the lines of their history, running
//! reference numbers, and the random draws the stories share.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

use super::survey::{Ask, LetDown};
use super::time::{Hours, Window};

/// Running numbers, shared by all customers in customer order.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) event: u64,
    pub(super) booking: u64,
    pub(super) order: u64,
    pub(super) thread: u64,
    pub(super) visit: u64,
    pub(super) ticket: u64,
    /// Survey sends.
    pub(super) send: u64,
}

/// One line of a customer's history, before it becomes an event.
pub(super) struct Raw {
    pub(super) at: i64,
    pub(super) kind: &'static str,
    pub(super) channel: Option<&'static str>,
    pub(super) reference: Option<String>,
    pub(super) props: Map<String, Value>,
    /// A form submission: carries the customer's name and email.
    pub(super) form: bool,
}

/// The customer whose history is being written.
pub(super) struct Customer<'a> {
    pub(super) rng: ChaCha8Rng,
    pub(super) window: &'a Window,
    pub(super) hours: &'a Hours,
    pub(super) counters: &'a mut Counters,
    /// Local offset from UTC, in seconds.
    pub(super) offset: i64,
    pub(super) platform: &'static str,
    /// Starts every event id and survey send id: `demo-SEED-`.
    pub(super) id_prefix: &'a str,
    pub(super) out: Vec<Raw>,
    /// Surveys the policies ask, sent (or not) at the end: [`Customer::surveys`].
    pub(super) asks: Vec<Ask>,
    /// When promises to the customer were broken.
    pub(super) let_downs: Vec<LetDown>,
}

impl Customer<'_> {
    /// Records an event.
    pub(super) fn emit(
        &mut self,
        at: i64,
        kind: &'static str,
        channel: Option<&'static str>,
        reference: Option<&str>,
        props: Map<String, Value>,
    ) {
        self.record(at, kind, channel, reference, props, false);
    }

    /// Records an event that a form submitted: it carries the customer's name and email.
    pub(super) fn emit_form(
        &mut self,
        at: i64,
        kind: &'static str,
        channel: Option<&'static str>,
        reference: Option<&str>,
        props: Map<String, Value>,
    ) {
        self.record(at, kind, channel, reference, props, true);
    }

    fn record(
        &mut self,
        at: i64,
        kind: &'static str,
        channel: Option<&'static str>,
        reference: Option<&str>,
        props: Map<String, Value>,
        form: bool,
    ) {
        // Anything after `end` has not happened yet; since every follow-on event is later than its
        // cause, dropping it keeps histories coherent.
        if self.after_end(at) {
            return;
        }
        self.out.push(Raw {
            at,
            kind,
            channel,
            reference: reference.map(str::to_string),
            props,
            form,
        });
    }

    pub(super) fn after_end(&self, t: i64) -> bool {
        t > self.window.end
    }

    /// The next reference number of a kind, e.g. `BK-10001`.
    pub(super) fn next_ref(&mut self, prefix: &str, kind: fn(&mut Counters) -> &mut u64) -> String {
        let counter = kind(self.counters);
        *counter += 1;
        format!("{prefix}{}", 10_000 + *counter)
    }

    /// The next survey send id, e.g. `survey-demo-42-000001` (the answer links and the reminder of one
    /// survey message share it).
    pub(super) fn next_send(&mut self) -> String {
        self.counters.send += 1;
        format!("survey-{}{:06}", self.id_prefix, self.counters.send)
    }

    /// The properties of something staff did: which of them did it.
    pub(super) fn agent(&mut self) -> Map<String, Value> {
        props([("agent", pick(&mut self.rng, &STAFF).into())])
    }
}

const STAFF: [&str; 5] = ["Priya", "Tom", "Aisha", "Ben", "Chloe"];

/// An event's properties, in the order given.
pub(super) fn props<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect()
}

pub(super) fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

pub(super) fn pick_weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen_range(0..total);
    for &(item, weight) in items {
        if x < weight {
            return item;
        }
        x -= weight;
    }
    items[items.len() - 1].0
}

/// Exponentially distributed with the given mean.
pub(super) fn exponential(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    let u: f64 = rng.r#gen();
    -(1.0 - u).ln() * mean
}

/// An amount of money in pounds, from pence.
pub(super) fn money(cents: i64) -> Value {
    Value::from(cents as f64 / 100.0)
}
