//! The public promise figures (`[public] enabled = true`), served without login: `GET /promises/public`
//! (an HTML page without JavaScript, or JSON for `Accept: application/json` or `?format=json`) and
//! `GET /promises/badge/{policy}.svg` (a small badge). Figures only — rates and times, never a customer —
//! computed by `service::public` and reused for `PUBLIC_TTL` on each node. Off, or for a policy that is not
//! published, they answer 404. Nothing here changes state.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::Deserialize;

use super::charts::esc;
use super::pages::render;
use super::{DashboardState, PageError, PageResult};
use crate::service::public::{span_words, PublicFigures, PublicPromise};

#[derive(Debug, Default, Deserialize)]
pub struct PublicQuery {
    #[serde(default)]
    format: Option<String>,
}

fn not_published() -> PageError {
    PageError::NotFound("not found".into())
}

/// Public figures may be cached by browsers and proxies as long as this node reuses them.
fn cacheable(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    response
}

/// A rate as the public reads it, rounded down (99.6 % is not 100 %).
fn percent(rate: f64) -> String {
    format!("{} %", rate.floor() as u64)
}

fn wants_json(headers: &HeaderMap, q: &PublicQuery) -> bool {
    if let Some(format) = q.format.as_deref() {
        return format.eq_ignore_ascii_case("json");
    }
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        })
}

async fn figures(state: &DashboardState) -> Result<std::sync::Arc<PublicFigures>, PageError> {
    match state.dashboard.public_figures(&state.service).await {
        None => Err(not_published()),
        Some(figures) => Ok(figures?),
    }
}

/// One promise's sentence: "97 % of messages answered within 8 h 30 min of business hours".
fn sentence(p: &PublicPromise) -> minijinja::Value {
    context! {
        label => p.label.clone(), within => p.within.clone(),
        rate => p.kept_rate.map(percent), decided => p.decided, kept => p.kept_on_time,
        median => p.median_seconds.map(|s| span_words(jiff::SignedDuration::from_secs(s))),
        p90 => p.p90_seconds.map(|s| span_words(jiff::SignedDuration::from_secs(s))),
    }
}

pub async fn page(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<PublicQuery>,
) -> PageResult {
    let figures = figures(&state).await?;
    if wants_json(&headers, &q) {
        return Ok(cacheable(axum::Json(&*figures).into_response()));
    }
    let times = &state.dashboard.times;
    let month = figures
        .from
        .to_zoned(times.zone().clone())
        .strftime("%B %Y")
        .to_string();
    let promises: Vec<minijinja::Value> = figures.promises.iter().map(sentence).collect();
    Ok(cacheable(render(
        StatusCode::OK,
        "public.html",
        context! {
            title => "Our promises", month => month, as_of => times.html(figures.as_of), promises => promises,
        },
    )))
}

/// Badge colours: white text reads on each; below 80 % it is the colour of a broken promise.
fn badge_colour(rate: Option<f64>) -> &'static str {
    match rate {
        None => "#6e6e6e",
        Some(r) if r >= 95.0 => "#00795A",
        Some(r) if r >= 80.0 => "#9A6700",
        Some(_) => super::charts::BREACHED,
    }
}

/// A shields-style badge: "messages answered | 97 % on time". Widths are estimated from the text (about
/// 7 px a character at 11 px).
pub fn badge_svg(label: &str, value: &str, colour: &str) -> String {
    let width = |t: &str| 12 + 7 * t.chars().count();
    let (lw, rw) = (width(label), width(value));
    let (label, value) = (esc(label), esc(value));
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{label}: {value}"><title>{label}: {value}</title><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{rw}" height="20" fill="{colour}"/><g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">{label}</text><text x="{rx}" y="14">{value}</text></g></svg>"##,
        total = lw + rw,
        lx = lw / 2,
        rx = lw + rw / 2,
    )
}

pub async fn badge(State(state): State<DashboardState>, Path(file): Path<String>) -> PageResult {
    let policy = file.strip_suffix(".svg").ok_or_else(not_published)?;
    let figures = figures(&state).await?;
    let promise = figures
        .promises
        .iter()
        .find(|p| p.policy == policy)
        .ok_or_else(not_published)?;
    let value = match promise.kept_rate {
        Some(rate) => format!("{} on time", percent(rate)),
        None => "no figures yet".to_string(),
    };
    let svg = badge_svg(&promise.label, &value, badge_colour(promise.kept_rate));
    Ok(cacheable(
        (
            [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
            svg,
        )
            .into_response(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_escape_their_text_and_round_down() {
        let svg = badge_svg("<b>&\"x\"", "99 % on time", "#00795A");
        assert!(svg.contains("&lt;b&gt;&amp;&quot;x&quot;"), "{svg}");
        assert!(!svg.contains("<b>"));
        assert_eq!(percent(99.6), "99 %");
        assert_eq!(percent(100.0), "100 %");
        assert_eq!(badge_colour(Some(50.0)), super::super::charts::BREACHED);
    }

    #[test]
    fn json_is_asked_for_by_accept_or_format() {
        let mut headers = HeaderMap::new();
        let none = PublicQuery::default();
        assert!(!wants_json(&headers, &none));
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html, application/json;q=0.9"),
        );
        assert!(wants_json(&headers, &none));
        let html = PublicQuery {
            format: Some("html".into()),
        };
        assert!(!wants_json(&headers, &html));
        let json = PublicQuery {
            format: Some("json".into()),
        };
        assert!(wants_json(&HeaderMap::new(), &json));
    }
}
