//! The background jobs of a running app: which ones run (`Jobs`), starting them with a stop signal each,
//! stopping them cleanly (`Running::stop`), and running what is pending once, now (`JobRunner`), so that
//! tests can step the jobs instead of sleeping until they act.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::jobs::actions::Actor;
use crate::store::{Store, StoreError};

/// Which jobs run in the background. Each also obeys its own configuration: the actions need
/// `[actions] enabled`, refits a `[churn] refit_every`, retention a cut-off in `[retention]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jobs {
    /// The breach scheduler.
    pub scheduler: bool,
    /// The planner and sender of actions.
    pub actions: bool,
    /// The churn model's scheduled refits.
    pub churn: bool,
    /// The daily retention pass.
    pub retention: bool,
    /// The dashboard's figures computed once at start.
    pub warm_up: bool,
    /// The connectors that read by themselves (`[[connectors.imap]]`, `[[connectors.nats]]`).
    pub connectors: bool,
}

impl Jobs {
    /// Everything: what `seen serve` and `seen demo --serve` run.
    pub const ALL: Jobs = Jobs {
        scheduler: true,
        actions: true,
        churn: true,
        retention: true,
        warm_up: true,
        connectors: true,
    };

    /// None in the background: a test runs them with `JobRunner::run_pending_jobs` when it chooses, so
    /// nothing acts between its steps.
    pub const NONE: Jobs = Jobs {
        scheduler: false,
        actions: false,
        churn: false,
        retention: false,
        warm_up: false,
        connectors: false,
    };

    /// What an in-process test server runs: what production runs, but for two jobs whose timing would
    /// make a test's outcome depend on how fast it ran.
    /// - `churn`: the first refit runs a minute after start; a test still loading data then (CDNOW takes
    ///   that long on a busy machine) would find customers flagged by a refit it did not ask for, and its
    ///   own refit would count none as newly flagged. Tests refit with `jobs::churn::refit`.
    /// - `warm_up`: it would cache the figures of the empty database a test starts with, and the pages
    ///   the test then reads would show those for `figures_cache_secs`.
    pub const FOR_TESTS: Jobs = Jobs {
        churn: false,
        warm_up: false,
        ..Jobs::ALL
    };
}

/// What a job does when the app stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OnStop {
    /// Told to stop, then awaited: it ends its current turn (a send is finished and recorded).
    Finish,
    /// Told to stop, then cancelled: its work is one transaction or a cache fill, and there is nothing
    /// worth waiting for (a churn refit can take minutes; its scores are saved in one transaction).
    Abandon,
}

struct Task {
    name: &'static str,
    handle: JoinHandle<()>,
    stop: Arc<Notify>,
    on_stop: OnStop,
}

/// The jobs an app started.
#[derive(Default)]
pub struct Running {
    tasks: Vec<Task>,
}

impl Running {
    /// Spawns a job that waits on its own stop signal (given as `Arc<Notify>`).
    pub(super) fn spawn<F, Fut>(&mut self, name: &'static str, on_stop: OnStop, job: F)
    where
        F: FnOnce(Arc<Notify>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stop = Arc::new(Notify::new());
        let handle = tokio::spawn(job(stop.clone()));
        self.tasks.push(Task {
            name,
            handle,
            stop,
            on_stop,
        });
    }

    /// Stops every job and waits until each has ended.
    pub async fn stop(self) {
        for task in &self.tasks {
            // A stored permit: a job busy right now sees it as soon as it waits again.
            task.stop.notify_one();
            if task.on_stop == OnStop::Abandon {
                task.handle.abort();
            }
        }
        for task in self.tasks {
            match task.handle.await {
                Err(err) if err.is_panic() => {
                    tracing::error!(job = task.name, "background job panicked")
                }
                _ => tracing::debug!(job = task.name, "background job stopped"),
            }
        }
    }
}

/// Runs, once and now, what the background jobs would run when woken: the scheduler's pass (breaches
/// that fell due), then the planner and the sender until nothing more is recorded. Refits and retention
/// run on their own schedules and are not pending work.
#[derive(Clone)]
pub struct JobRunner {
    pub(super) store: Arc<dyn Store>,
    pub(super) actor: Option<Arc<Actor>>,
    /// For the front desk's "you're next" pass.
    pub(super) service: crate::service::Service,
}

impl JobRunner {
    pub async fn run_pending_jobs(&self) -> Result<(), StoreError> {
        crate::jobs::scheduler::tick(self.store.as_ref()).await?;
        if let Some(actor) = &self.actor {
            self.service.notify_next(jiff::Timestamp::now()).await?;
            actor.turn().await?;
        }
        Ok(())
    }
}
