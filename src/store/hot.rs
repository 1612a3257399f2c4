//! Hot paths' SQL is named here so that `tests/it`'s query-plan guard can hold each statement to its index.
//!
//! A new index once turned the outbox claim into a walk over every pending row (reminders 20 s late with a
//! million pending) while every test stayed green. Each backend lists its hot statements, the exact text the
//! store runs, with the index that must serve it; the test asks the database for each plan.

/// One statement on a hot path and the index its plan must use.
#[derive(Debug, Clone)]
pub struct HotQuery {
    /// What the statement is for (stable; test output names it).
    pub name: &'static str,
    /// The exact SQL the store runs.
    pub sql: &'static str,
    /// The index the plan must use.
    pub index: &'static str,
    /// The statement has `ORDER BY … LIMIT`: the index must give the order (no sort of every match).
    pub ordered: bool,
}

impl HotQuery {
    /// A statement served by `index`, in no particular order.
    pub const fn new(name: &'static str, sql: &'static str, index: &'static str) -> HotQuery {
        HotQuery {
            name,
            sql,
            index,
            ordered: false,
        }
    }

    /// The statement has `ORDER BY … LIMIT`: the index must also give the order.
    pub const fn ordered(self) -> HotQuery {
        HotQuery {
            ordered: true,
            ..self
        }
    }
}
