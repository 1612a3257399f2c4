//! Seen's integration tests: one binary (the crate is linked once, not once per file), one module per area.
//! Shared set-up (test apps, databases, `seen serve` children, SMTP and webhook peers, prerequisites) is in
//! `common`; fixtures stay in `tests/fixtures`, the SMTP sink in `tests/support`, the browser driver in
//! `tests/browser`.

#[macro_use]
mod common;

mod actions;
mod actions_durability;
mod admin_ops;
mod browser;
mod channels;
mod churn;
mod cli;
mod cluster;
mod dashboard;
mod durability;
mod hooks;
mod http;
mod imap;
mod journeys;
mod nats;
mod ops;
mod pg_restart;
mod promises;
mod public;
mod query_plans;
mod retention_cohorts;
mod silence;
mod stage_updates;
mod status_page;
mod store;
mod surveys;
mod visits;
