//! Seen: no customer of a business should ever go unseen.
//!
//! See `ARCHITECTURE.md` for the map: `domain` decides, `store` remembers, `service` answers,
//! `http` and `cli` are the edges, `jobs` runs in the background, `channels` and `templates` send.

pub mod channels;
pub mod churn;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod http;
pub mod ingest;
pub mod insights;
pub mod jobs;
pub mod metrics;
pub mod service;
pub mod store;
pub mod templates;
pub mod web;
