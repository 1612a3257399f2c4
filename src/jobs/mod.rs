//! Background work inside `seen serve`.

pub mod scheduler;
