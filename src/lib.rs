//! Seen: no customer of a business should ever go unseen.
//!
//! See `ARCHITECTURE.md` for the map: `domain` decides, `store` remembers, `service` answers,
//! `api`, `dashboard` and `cli` are the edges, `jobs` runs in the background, `channels` and `templates` send.

pub mod api;
pub mod channels;
pub mod churn;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod domain;
pub mod ingest;
pub mod insights;
pub mod jobs;
pub mod metrics;
pub mod service;
pub mod store;
pub mod templates;
