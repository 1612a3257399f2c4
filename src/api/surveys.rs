//! Survey answers (a link, then one tap on a button; no account, no JavaScript) and survey metrics.
//! No `GET` or `HEAD` records anything: the emailed link shows a confirmation whose form `POST`s the answer.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::{Form, Json};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::queries::Params;
use super::ApiState;
use crate::app::error::{ApiError, ErrorBody};
use crate::domain::event::parse_timestamp;
use crate::domain::survey::{LinkError, Survey, SurveyLink, SurveyStats};
use crate::domain::{Event, ProfileUpdate};
use crate::service::SurveyGroup;
use crate::store::short_hash;

/// Longest comment kept.
const MAX_COMMENT: usize = 4_000;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title></head>\
         <body style=\"font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5\">\
         <h1 style=\"font-size: 1.4rem\">{title}</h1>{body}</body></html>",
        title = escape(title)
    );
    (status, Html(html)).into_response()
}

/// A verified link, its survey, and the `survey.sent` event it belongs to.
struct Answering {
    link: SurveyLink,
    survey: Survey,
    sent: Event,
}

/// Checks a link; on any problem, the page to show (nothing is recorded).
async fn answering(state: &ApiState, token: &str) -> Result<Answering, Response> {
    let invalid = || {
        page(
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "<p>It may have been copied incompletely. Please use the link in the email you received.</p>",
        )
    };
    let secret = state.link_secret.as_deref().ok_or_else(invalid)?;
    let link = crate::secrets::verify_survey_link(secret, token, Timestamp::now()).map_err(|e| match e {
        LinkError::Invalid => invalid(),
        LinkError::Expired(at) => page(
            StatusCode::GONE,
            "This survey has closed",
            &format!(
                "<p>Its links worked until {}. Thank you all the same — you can always reply to our email.</p>",
                at.strftime("%-d %B %Y")
            ),
        ),
    })?;
    let survey = state
        .surveys
        .get(&link.survey)
        .cloned()
        .ok_or_else(invalid)?;
    let events = state
        .service
        .customer_events(&link.customer)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let sent = events
        .into_iter()
        .find(|e| {
            e.kind == "survey.sent"
                && e.properties_value()["send"].as_str() == Some(link.send.as_str())
        })
        .ok_or_else(invalid)?;
    Ok(Answering { link, survey, sent })
}

fn survey_event(a: &Answering, id: String, kind: &str, extra: serde_json::Value) -> Event {
    let mut properties = serde_json::Map::new();
    let sent = a.sent.properties_value();
    for key in ["survey", "kind", "send", "policy", "channel", "team"] {
        if let Some(value) = sent.get(key) {
            properties.insert(key.into(), value.clone());
        }
    }
    properties.insert("question".into(), a.survey.question.clone().into());
    if let serde_json::Value::Object(extra) = extra {
        properties.extend(extra);
    }
    Event {
        id,
        kind: kind.into(),
        customer: a.link.customer.clone(),
        at: Timestamp::now(),
        channel: Some("web".into()),
        reference: a.sent.reference.clone(),
        properties: Some(serde_json::Value::Object(properties).to_string()),
        profile: ProfileUpdate::default(),
    }
}

/// The score a link names, if it answers this survey's question, with its label.
fn chosen(a: &Answering, score: &str) -> Option<(u8, String)> {
    let score = score
        .parse::<u8>()
        .ok()
        .filter(|s| a.survey.kind.accepts(*s))?;
    let label = a
        .survey
        .kind
        .answers()
        .into_iter()
        .find(|(s, _)| *s == score)
        .map(|(_, l)| l)
        .unwrap_or_default();
    Some((score, label))
}

fn not_an_answer() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "That is not an answer to this question",
        "<p>Please use one of the links in the email you received.</p>",
    )
}

/// A link in the email (`GET` or `HEAD`): checks it and shows a one-tap confirmation, recording nothing.
/// Mail scanners and link previews fetch every link of a message; only the button's `POST` answers.
pub async fn confirm(
    State(state): State<ApiState>,
    Path((token, score)): Path<(String, String)>,
) -> Response {
    let a = match answering(&state, &token).await {
        Ok(a) => a,
        Err(page) => return page,
    };
    let Some((score, label)) = chosen(&a, &score) else {
        return not_an_answer();
    };
    let token = escape(&token);
    let others = a
        .survey
        .kind
        .answers()
        .into_iter()
        .filter(|(s, _)| *s != score)
        .map(|(s, l)| format!("<a href=\"/s/{token}/{s}\">{}</a>", escape(&l)))
        .collect::<Vec<_>>()
        .join(" · ");
    page(
        StatusCode::OK,
        "Your answer",
        &format!(
            "<p>“{question}”</p>\
             <form method=\"post\" action=\"/s/{token}/{score}\">\
             <button type=\"submit\" style=\"font-size: 1.1rem; padding: .6rem 1.2rem\">Send my answer: \
             <strong>{label}</strong></button></form>\
             <p style=\"color: #666; font-size: .9rem\">Nothing is recorded until you press the button. \
             Meant another answer? {others}</p>",
            question = escape(&a.survey.question),
            label = escape(&label),
        ),
    )
}

/// The confirmation's button (`POST`): records the answer (another score later replaces it) and offers a
/// comment box.
pub async fn answer(
    State(state): State<ApiState>,
    Path((token, score)): Path<(String, String)>,
) -> Response {
    let a = match answering(&state, &token).await {
        Ok(a) => a,
        Err(page) => return page,
    };
    let Some((score, label)) = chosen(&a, &score) else {
        return not_an_answer();
    };
    let extra = serde_json::json!({ "score": score, "answer": label });
    // The same score again is the same event (a duplicate); another score is a new answer that replaces it.
    let mut events = vec![survey_event(
        &a,
        format!("answer-{}-{score}", a.link.send),
        "survey.answered",
        extra.clone(),
    )];
    if a.survey.kind.is_unhappy(score) {
        events.push(survey_event(
            &a,
            format!("unhappy-{}", a.link.send),
            "survey.unhappy",
            extra,
        ));
    }
    if let Err(err) = state.service.ingest(events).await {
        return ApiError::from(err).into_response();
    }
    state.ingested.ingested();
    let follow_up = if a.survey.kind.is_unhappy(score) {
        "<p>We are sorry. Someone from our team will get in touch with you personally.</p>"
    } else {
        ""
    };
    page(
        StatusCode::OK,
        "Thank you",
        &format!(
            "<p>You answered <strong>{}</strong> to “{}”.</p>{follow_up}\
             <form method=\"post\" action=\"/s/{token}/comment\">\
             <label for=\"comment\">Anything you would like to add?</label><br>\
             <textarea id=\"comment\" name=\"comment\" rows=\"5\" maxlength=\"{MAX_COMMENT}\" style=\"width: 100%; font: inherit\"></textarea><br>\
             <button type=\"submit\" style=\"font-size: 1rem; padding: .5rem 1rem; margin-top: .5rem\">Send</button></form>\
             <p style=\"color: #666; font-size: .9rem\">Chose the wrong answer? Choose the right one in the email: it replaces this one.</p>",
            escape(&label),
            escape(&a.survey.question),
            token = escape(&token),
        ),
    )
}

#[derive(Debug, Deserialize)]
pub struct CommentForm {
    comment: String,
}

/// The optional comment after an answer.
pub async fn comment(
    State(state): State<ApiState>,
    Path(token): Path<String>,
    Form(form): Form<CommentForm>,
) -> Response {
    let a = match answering(&state, &token).await {
        Ok(a) => a,
        Err(page) => return page,
    };
    let text = form.comment.trim();
    if text.is_empty() {
        return page(
            StatusCode::OK,
            "Thank you",
            "<p>Your answer is recorded.</p>",
        );
    }
    let text: String = text.chars().take(MAX_COMMENT).collect();
    let id = format!("comment-{}-{}", a.link.send, short_hash(&text));
    let event = survey_event(
        &a,
        id,
        "survey.comment",
        serde_json::json!({ "comment": text }),
    );
    if let Err(err) = state.service.ingest(vec![event]).await {
        return ApiError::from(err).into_response();
    }
    state.ingested.ingested();
    page(StatusCode::OK, "Thank you", "<p>We read every comment.</p>")
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SurveySummary {
    /// all, policy, channel, team, survey, day, week or month.
    pub by: String,
    pub groups: std::collections::BTreeMap<String, SurveyStats>,
}

/// Survey metrics: CSAT (% of 4–5), NPS (% 9–10 minus % 0–6), felt-invisible rate, response rate.
#[utoipa::path(get, path = "/v1/surveys/summary",
    params(
        ("by" = Option<String>, Query, description = "all (default), policy, channel, team, survey, day, week or month"),
        ("since" = Option<String>, Query, description = "RFC 3339: only surveys sent and answered since"),
    ),
    responses((status = 200, body = SurveySummary), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn summary(
    State(state): State<ApiState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<SurveySummary>, ApiError> {
    let params = Params::from(query, &["by", "since"])?;
    let by_text = params.0.get("by").map(String::as_str).unwrap_or("all");
    let by = SurveyGroup::parse(by_text).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_query",
            format!(
                "by {by_text:?}: expected all, policy, channel, team, survey, day, week or month"
            ),
        )
    })?;
    let since = match params.0.get("since") {
        None => None,
        Some(text) => Some(
            parse_timestamp("since", text)
                .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?,
        ),
    };
    let groups = state.service.survey_summary(by, since).await?;
    Ok(Json(SurveySummary {
        by: by_text.to_string(),
        groups,
    }))
}
