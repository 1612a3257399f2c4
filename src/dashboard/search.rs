//! Customer search (`GET /search?q=`), from the box every page's header carries: customers whose id,
//! email, phone digits or name start with what was typed, linking to their page.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use minijinja::context;
use serde::Deserialize;

use super::auth::CurrentUser;
use super::pages::render;
use super::{input, DashboardState, PageResult};

/// Most customers one search lists ("more" says when others matched).
pub const SEARCH_LIMIT: usize = 50;
/// Longest search text.
pub const MAX_SEARCH: usize = 200;

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: Option<String>,
}

pub async fn page(
    State(state): State<DashboardState>,
    user: CurrentUser,
    Query(query): Query<SearchQuery>,
) -> PageResult {
    let q = query.q.unwrap_or_default();
    input::line("q", &q, MAX_SEARCH)?;
    let found = state
        .service
        .search_customers(&q, Timestamp::now(), SEARCH_LIMIT)
        .await?;
    let times = &state.dashboard.times;
    let rows: Vec<minijinja::Value> = found
        .hits
        .iter()
        .map(|h| {
            let c = &h.customer;
            context! {
                id => c.id.clone(), name => c.name.clone(), email => c.email.clone(), phone => c.phone.clone(),
                last_seen => times.maybe(c.last_seen), invisible => h.invisible,
            }
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        "search.html",
        context! {
            title => "Search customers", page => "search", user => user.0.user.clone(), csrf => user.0.csrf.clone(),
            q => q.trim(), searched => !q.trim().is_empty(), rows => rows, more => found.more, limit => SEARCH_LIMIT,
        },
    ))
}
