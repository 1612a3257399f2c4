//! Seen: no customer of a business should ever go unseen.
//!
//! See `ARCHITECTURE.md` for the map: `domain` decides, `store` remembers, `service` answers, `api`,
//! `dashboard` and `cli` are the edges (none imports another), `app` assembles the server and its `jobs`,
//! `channels` and `templates` send, `secrets` mints, hashes and signs.

pub mod api;
pub mod app;
pub mod channels;
pub use seen_churn as churn;
pub mod cli;
pub mod config;
pub mod connectors;
pub mod dashboard;
pub mod demo;
pub use seen_domain as domain;
pub mod ingest;
pub mod jobs;
pub mod metrics;
pub mod secrets;
pub mod service;
pub mod store;
pub mod templates;
pub mod words;
