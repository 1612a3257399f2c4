//! The domain decides: events, policies, calendars, obligations and the engine. No I/O, no clock reads:
//! "now" is always an argument.

pub mod action;
pub mod calendar;
pub mod cohort;
pub mod engine;
pub mod event;
pub mod journey;
pub mod obligation;
pub mod policy;
pub mod report;
pub mod span;
pub mod survey;
pub mod trend;
pub mod visit;

pub use calendar::Calendar;
pub use engine::Engine;
pub use event::{Event, EventError, EventInput, ProfileUpdate};
pub use obligation::{Closure, Obligation, Status};
pub use policy::{Policy, PolicyKind, ScheduleAt};
