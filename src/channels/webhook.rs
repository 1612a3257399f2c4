//! Webhooks: signed JSON POSTs over one shared HTTP client, and the classification of HTTP outcomes.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::{StatusCode, Url};

use crate::channels::settings::url_origin;
use crate::channels::{
    parse_timeout, ChannelError, Delivery, OutgoingWebhook, WebhookFormat, WebhookSettings,
};

/// Used for endpoints given as a URL rather than by name.
const INLINE_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an error response's body goes into `Delivery` errors.
const ERROR_BODY_CHARS: usize = 300;

pub(crate) struct Webhooks {
    client: reqwest::Client,
    endpoints: BTreeMap<String, Endpoint>,
}

struct Endpoint {
    url: Url,
    secret: Option<String>,
    format: WebhookFormat,
    timeout: Duration,
}

impl Webhooks {
    pub(crate) fn new(
        settings: &BTreeMap<String, WebhookSettings>,
    ) -> Result<Webhooks, ChannelError> {
        let mut endpoints = BTreeMap::new();
        for (name, hook) in settings {
            let field = |key: &str| format!("webhooks.{name}.{key}");
            let url = parse_url(&hook.url).map_err(|e| ChannelError::invalid(field("url"), e))?;
            if hook.secret.as_deref() == Some("") {
                return Err(ChannelError::invalid(field("secret"), "empty"));
            }
            let endpoint = Endpoint {
                url,
                secret: hook.secret.clone(),
                format: hook.format,
                timeout: parse_timeout(&field("timeout"), &hook.timeout)?,
            };
            endpoints.insert(name.clone(), endpoint);
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("seen/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ChannelError::invalid("webhooks", format!("HTTP client: {e}")))?;
        Ok(Webhooks { client, endpoints })
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.endpoints.contains_key(name)
    }

    pub(crate) async fn send(&self, hook: &OutgoingWebhook) -> Delivery {
        let inline;
        let endpoint = match self.endpoints.get(&hook.endpoint) {
            Some(endpoint) => endpoint,
            None if hook.endpoint.starts_with("http://")
                || hook.endpoint.starts_with("https://") =>
            {
                match parse_url(&hook.endpoint) {
                    Ok(url) => {
                        inline = Endpoint {
                            url,
                            secret: None,
                            format: WebhookFormat::Json,
                            timeout: INLINE_TIMEOUT,
                        };
                        &inline
                    }
                    Err(e) => return Delivery::permanent(e),
                }
            }
            None => {
                return Delivery::permanent(format!(
                    "unknown webhook {:?}: not in [webhooks] and not an http(s) URL",
                    hook.endpoint
                ))
            }
        };
        let body = match endpoint.format {
            WebhookFormat::Json => serde_json::to_vec(&hook.payload),
            WebhookFormat::Slack => serde_json::to_vec(&serde_json::json!({ "text": hook.text })),
        };
        let body = match body {
            Ok(body) => body,
            Err(e) => return Delivery::permanent(format!("cannot encode the body: {e}")),
        };
        let timestamp = jiff::Timestamp::now().as_second().to_string();
        let mut request = self
            .client
            .post(endpoint.url.clone())
            .timeout(endpoint.timeout)
            .header(CONTENT_TYPE, "application/json")
            .header("X-Seen-Event", &hook.event)
            .header("X-Seen-Idempotency-Key", &hook.idempotency_key)
            .header("X-Seen-Timestamp", &timestamp);
        if let Some(secret) = &endpoint.secret {
            request = request.header("X-Seen-Signature", sign(secret, &timestamp, &body));
        }
        let target = url_origin(endpoint.url.as_str());
        match request.body(body).send().await {
            Ok(response) => classify_response(response, &target).await,
            Err(error) => classify_request_error(error, &target),
        }
    }
}

impl fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.endpoints.keys()).finish()
    }
}

fn parse_url(text: &str) -> Result<Url, String> {
    let url =
        Url::parse(text.trim()).map_err(|e| format!("invalid URL {:?}: {e}", url_origin(text)))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("URL scheme {other:?}: expected http or https")),
    }
}

/// `X-Seen-Signature` for a request: `sha256=` and the hex HMAC-SHA256 of `"{timestamp}.{body}"`.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let tag = crate::secrets::hmac_sha256(secret, &[timestamp.as_bytes(), b".", body]);
    format!("sha256={}", hex::encode(tag))
}

/// Checks an `X-Seen-Signature` header against the raw body, in constant time. Receivers should also
/// reject a `timestamp` more than a few minutes old.
pub fn verify_signature(secret: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(digest) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(digest) = hex::decode(digest) else {
        return false;
    };
    // The whole digest, never a prefix of it.
    digest.len() == 32
        && crate::secrets::verify_hmac_sha256(secret, &[timestamp.as_bytes(), b".", body], &digest)
}

async fn classify_response(response: reqwest::Response, target: &str) -> Delivery {
    let status = response.status();
    if status.is_success() {
        return Delivery::Sent {
            detail: format!("HTTP {}", status.as_u16()),
        };
    }
    let body = response.text().await.unwrap_or_default();
    let body: String = body.trim().chars().take(ERROR_BODY_CHARS).collect();
    let error = if body.is_empty() {
        format!("HTTP {status} from {target}")
    } else {
        format!("HTTP {status} from {target}: {body}")
    };
    if is_transient_status(status) {
        Delivery::Transient { error }
    } else {
        Delivery::permanent(error)
    }
}

/// Timeouts, rate limits and server errors pass; other answers (4xx, redirects) will not change.
fn is_transient_status(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

fn classify_request_error(error: reqwest::Error, target: &str) -> Delivery {
    // The URL can hold a credential (Slack's does), so errors name only its origin.
    let permanent = error.is_builder();
    let mut causes = String::new();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        causes.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    let error = format!("{target}: {}{causes}", error.without_url());
    if permanent {
        Delivery::permanent(error)
    } else {
        Delivery::Transient { error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_same_inputs() {
        let header = sign("s3cret", "1700000000", b"{\"a\":1}");
        assert!(
            header.starts_with("sha256=") && header.len() == 7 + 64,
            "{header}"
        );
        assert!(verify_signature(
            "s3cret",
            "1700000000",
            b"{\"a\":1}",
            &header
        ));
        assert!(!verify_signature(
            "other",
            "1700000000",
            b"{\"a\":1}",
            &header
        ));
        assert!(!verify_signature(
            "s3cret",
            "1700000001",
            b"{\"a\":1}",
            &header
        ));
        assert!(!verify_signature(
            "s3cret",
            "1700000000",
            b"{\"a\":2}",
            &header
        ));
        assert!(!verify_signature(
            "s3cret",
            "1700000000",
            b"{\"a\":1}",
            "sha256=zz"
        ));
        assert!(!verify_signature(
            "s3cret",
            "1700000000",
            b"{\"a\":1}",
            &header[7..]
        ));
    }

    #[test]
    fn known_vector() {
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            sign("key", "1700000000", b"{}"),
            "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
    }

    #[test]
    fn transient_statuses() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(
                is_transient_status(StatusCode::from_u16(code).expect("code")),
                "{code}"
            );
        }
        for code in [301, 400, 401, 403, 404, 410, 422] {
            assert!(
                !is_transient_status(StatusCode::from_u16(code).expect("code")),
                "{code}"
            );
        }
    }

    #[test]
    fn bad_settings_name_the_field() {
        let mut settings = BTreeMap::new();
        settings.insert("ops".to_string(), WebhookSettings::default());
        let err = Webhooks::new(&settings)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("webhooks.ops.url: "), "{err}");
        settings.insert(
            "ops".to_string(),
            WebhookSettings {
                url: "https://hooks.example/x".into(),
                timeout: "soon".into(),
                ..WebhookSettings::default()
            },
        );
        let err = Webhooks::new(&settings)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("webhooks.ops.timeout: "), "{err}");
    }
}
