//! Background work inside `seen serve`.

pub mod actions;
pub mod churn;
pub mod retention;
pub mod scheduler;
pub mod visits;

use std::sync::Arc;

use tokio::sync::Notify;

/// Ingestion wakes every background sleeper: each has its own `Notify`, so a wake-up that arrives while
/// one is busy is kept as a permit and none is lost.
#[derive(Debug, Default, Clone)]
pub struct Wake {
    pub scheduler: Arc<Notify>,
    pub actions: Arc<Notify>,
}

/// Hands memory freed by a large job (a churn refit) back to the system. glibc keeps freed blocks in its
/// per-thread arenas, so without this the resident size stays at the job's peak while the server idles.
pub fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own heaps under their locks; it is safe from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Caps glibc's malloc arenas (default 8 per core): every thread that allocates may otherwise get an arena
/// of its own, and each keeps its freed memory. Called once at start, before the runtime's threads exist.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt is called before any other thread is started.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

impl Wake {
    pub fn ingested(&self) {
        self.scheduler.notify_one();
        self.actions.notify_one();
    }
}
