//! Deterministic demo data for Seen: the event history of a small business.
//!
//! A venue hiring meeting rooms, a web shop with an app, and a front desk, with a number of customers,
//! ending at a given instant. The output depends only on the options: the same
//! `(seed, customers, end, months)` always produces byte-identical events, on any machine.
//!
//! Every customer draws its randomness from its own ChaCha8 stream (the seed selects the key, the
//! customer index the stream), so a customer's history does not depend on how many customers are
//! generated or on the chunking. Reference numbers (`BK-…`, `ORD-…`, `TH-…`, `VIS-…`) and event ids
//! come from running counters, assigned in customer order.
//!
//! This file drives the generation: seeding, customers in blocks, and which stories each customer
//! lives, in which order. One file per story (`venue`, `shop`, `front_desk`, `app`, and the
//! `messages`, `tickets` and `survey` the others start; `mailbox` is the shared inbox as raw mail, for the IMAP
//! connector's reading and threading); `customer` is what every story writes with, `profile`
//! who a customer is, `time` the window, the business's opening hours (on [`crate::domain::Calendar`])
//! and the customer's waking hours, `output` the events as [`Event`]s and JSON lines.

mod app;
mod customer;
mod front_desk;
pub mod live_desk;
pub mod mailbox;
mod messages;
mod output;
mod profile;
mod shop;
mod survey;
mod tickets;
mod time;
mod venue;

#[cfg(test)]
mod tests;

use jiff::Timestamp;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::domain::Event;
use customer::{pick, Counters, Customer, Raw};
use time::{Hours, Window, DAY};

pub use mailbox::{mailbox, DemoMail};
pub use output::{validate, write_jsonl};

/// Customers are generated (and handed to the sink) in blocks of this size.
pub const CHUNK_CUSTOMERS: usize = 2_000;

/// Length of the generated history when not told otherwise.
pub const DEFAULT_MONTHS: u32 = 6;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOptions {
    pub seed: u64,
    pub customers: usize,
    /// No event is after this instant.
    pub end: Timestamp,
    /// Length of the history in calendar months before `end` (default 6).
    pub months: u32,
}

impl DemoOptions {
    /// Options with the default history length of [`DEFAULT_MONTHS`].
    pub fn new(seed: u64, customers: usize, end: Timestamp) -> Self {
        DemoOptions {
            seed,
            customers,
            end,
            months: DEFAULT_MONTHS,
        }
    }
}

/// Generates the events and hands them to `sink` one block of [`CHUNK_CUSTOMERS`] customers at a
/// time. Within a block the events are sorted by [`Event::sort_key`]; a customer's events are all in
/// the same block. Memory use is bounded by one block. Stops at the first error of `sink`.
pub fn generate<E>(
    opts: &DemoOptions,
    mut sink: impl FnMut(Vec<Event>) -> Result<(), E>,
) -> Result<(), E> {
    let Some(window) = Window::new(opts.end, opts.months) else {
        return Ok(());
    };
    let hours = Hours::new();
    let base_rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let id_prefix = format!("demo-{}-", opts.seed);
    let mut counters = Counters::default();
    let mut scratch = Vec::new();
    let mut first = 0usize;
    while first < opts.customers {
        let last = opts.customers.min(first.saturating_add(CHUNK_CUSTOMERS));
        let mut block = Vec::with_capacity((last - first) * 32);
        for index in first..last {
            let mut rng = base_rng.clone();
            rng.set_stream(index as u64);
            let customer = Customer {
                rng,
                window: &window,
                hours: &hours,
                counters: &mut counters,
                offset: 0,
                platform: "ios",
                id_prefix: &id_prefix,
                out: std::mem::take(&mut scratch),
                asks: Vec::new(),
                let_downs: Vec::new(),
            };
            scratch = live(customer, index, &id_prefix, &mut block);
        }
        block.sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        if !block.is_empty() {
            sink(block)?;
        }
        first = last;
    }
    Ok(())
}

/// The stories a customer can live.
#[derive(Clone, Copy, PartialEq)]
enum Story {
    Venue,
    Shop,
    FrontDesk,
}

/// Customer `index`: who they are, which stories they live and from when. Appends the customer's
/// events to `block` and returns the emptied scratch buffer for reuse.
fn live(mut c: Customer<'_>, index: usize, id_prefix: &str, block: &mut Vec<Event>) -> Vec<Raw> {
    let (profile, offset) = profile::profile(index, &mut c.rng);
    let stories = choose_stories(&mut c.rng);
    let shop = stories.contains(&Some(Story::Shop));
    let app_user = c.rng.gen_bool(if shop { 0.35 } else { 0.1 });
    c.platform = if c.rng.gen_bool(0.55) {
        "ios"
    } else {
        "android"
    };
    c.offset = offset;
    let born = c.born();
    // The first story starts on the day the customer first appears (always inside the window); a
    // second one starts some time later, if at all.
    for (i, story) in stories.into_iter().flatten().enumerate() {
        let first = if i == 0 {
            born
        } else {
            let spare = (c.window.end - born).max(1);
            born + c.rng.gen_range(0..spare) * 6 / 10
        };
        match story {
            Story::Venue => c.venue(first),
            Story::Shop => c.shop(first, app_user),
            Story::FrontDesk => c.front_desk(first),
        }
    }
    if app_user {
        c.app(born);
    }
    c.surveys();
    c.finish(&profile, id_prefix, block)
}

/// A customer's main story, and now and then a second one.
fn choose_stories(rng: &mut ChaCha8Rng) -> [Option<Story>; 2] {
    let u: f64 = rng.r#gen();
    let primary = if u < 0.27 {
        Story::Venue
    } else if u < 0.77 {
        Story::Shop
    } else {
        Story::FrontDesk
    };
    let mut stories = [Some(primary), None];
    if rng.gen_bool(0.09) {
        let others: Vec<Story> = [Story::Venue, Story::Shop, Story::FrontDesk]
            .into_iter()
            .filter(|s| *s != primary)
            .collect();
        stories[1] = Some(pick(rng, &others));
    }
    stories
}

impl Customer<'_> {
    /// When the customer first appears. A third are existing customers, seen from the start of the
    /// window; the others are new customers arriving at a steady pace.
    fn born(&mut self) -> i64 {
        let window = self.window;
        let days = (window.last_day - window.first_day) / DAY;
        let offset_days = if self.rng.gen_bool(0.35) {
            self.rng.gen_range(0..=days.min(21))
        } else {
            self.rng.gen_range(0..=days)
        };
        self.local_time_on(window.first_day + offset_days * DAY)
    }
}
