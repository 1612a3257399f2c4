//! Live pages (the front desk's board, a visitor's place in the queue, the waiting-room display) as
//! Server-Sent Events: each stream renders its fragment when this node stores a visit event (the service's
//! change counter) or every few seconds (other nodes' changes, the clock), and sends it only when it
//! changed. Both edges use it; the pages also work without it (a plain refresh shows the same).

use std::future::Future;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::watch;

/// A render is retried at least this often without a change (waits move on; other nodes write too).
const TICK: Duration = Duration::from_secs(5);

/// An SSE response whose `update` events carry `render()`'s HTML each time it changes. `render` returning
/// `None` ends the stream (the visit is gone, the link no longer verifies).
pub fn updates<F, Fut>(
    changed: watch::Receiver<u64>,
    render: F,
) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<String>> + Send,
{
    struct State<F> {
        changed: watch::Receiver<u64>,
        render: F,
        last: Option<String>,
        first: bool,
    }
    let state = State {
        changed,
        render,
        last: None,
        first: true,
    };
    let stream = futures::stream::unfold(state, |mut state| async move {
        loop {
            if !state.first {
                tokio::select! {
                    changed = state.changed.changed() => {
                        if changed.is_err() {
                            // The service is gone (shutting down): end the stream.
                            return None;
                        }
                    }
                    () = tokio::time::sleep(TICK) => {}
                }
            }
            state.first = false;
            let html = (state.render)().await?;
            if state.last.as_deref() != Some(html.as_str()) {
                let event = Event::default().event("update").data(&html);
                state.last = Some(html);
                return Some((Ok(event), state));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The script of every live page: it replaces the `data-live` element's content with each `update`. Served
/// from this origin (the pages' CSP allows `script-src 'self'`, nothing inline).
pub const SCRIPT: &str = r#"// Seen's live pages: each `update` event replaces the [data-live] element's content (HTML rendered and
// escaped by the server). Without this script the page still shows the same on a refresh.
(function () {
  var box = document.querySelector("[data-live]");
  if (!box || !window.EventSource) { return; }
  var source = new EventSource(box.getAttribute("data-live"));
  source.addEventListener("update", function (e) {
    box.innerHTML = e.data;
    box.setAttribute("data-updated", String(Date.now()));
  });
})();
"#;
