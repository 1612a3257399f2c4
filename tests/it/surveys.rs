//! Surveys end to end: sent through a real SMTP server, answered by following the emailed link, closed loop
//! (invisible "told us", follow-up obligation, staff alert), metrics; link tampering, expiry, replay,
//! cross-customer use, and the frequency limit.

use std::time::{Duration, Instant};

use crate::common::sinks::SmtpSink;
use crate::common::{spawn_app_acting, Backend, TestApp};
use jiff::Timestamp;
use seen::config::Config;
use serde_json::{json, Value};

fn config(smtp_port: u16, extra: &str) -> Config {
    let text = format!(
        r#"
[actions]
business_name = "Riverside Rooms"
quiet_hours = ""
daily_cap = 0
default_team = "front"
{extra}

[email]
transport = "smtp"
host = "127.0.0.1"
port = {smtp_port}

[people.alice]
email = "alice@venue.example"
[teams.front]
members = ["alice"]

[[policies]]
name = "survey-after-delivery"
kind = "schedule"
promise = false
trigger = ["order.delivered"]
at = "at + 1s"
expect = ["survey.sent"]
grace = "1d"
on_due = {{ survey = "csat" }}

[[policies]]
name = "told-us"
kind = "expect"
trigger = ["survey.unhappy"]
expect = ["message.sent"]
within = "0s"
on_open = {{ to = "assignee", template = "told-us" }}

[[policies]]
name = "follow-up"
kind = "expect"
trigger = ["survey.unhappy"]
expect = ["message.sent"]
within = "8h30m"
calendar = "office"

[surveys.csat]
kind = "csat"
remind_after = "2s"
"#
    );
    Config::from_toml(&text, "test").expect("test config")
}

fn delivered(id: &str, customer: &str, reference: &str) -> Value {
    json!({ "id": id, "type": "order.delivered", "customer": customer, "customer_email": format!("{customer}@example.com"),
            "customer_name": format!("{customer} Costa"), "channel": "web", "ref": reference, "at": Timestamp::now().to_string() })
}

/// The answer links in an email's text part: score → URL (quoted-printable soft breaks undone).
fn links(message: &Value) -> Vec<(String, String)> {
    let data = message["data"]
        .as_str()
        .unwrap()
        .replace("=\r\n", "")
        .replace("=3D", "=");
    let text = data.split("Content-Type: text/html").next().unwrap();
    text.lines()
        .filter_map(|line| {
            let (label, url) = line.trim().split_once(": http")?;
            url.contains("/s/")
                .then(|| (label.to_string(), format!("http{url}")))
        })
        .collect()
}

/// The path of a link (the test server's own address replaces the configured public URL).
fn path(url: &str) -> String {
    url[url.find("/s/").unwrap()..].to_string()
}

/// The `action` of a page's POST form.
pub(crate) fn form_action(html: &str) -> Option<String> {
    let start = html.find("<form method=\"post\" action=\"")? + 28;
    let rest = &html[start..];
    Some(rest[..rest.find('"')?].replace("&amp;", "&"))
}

/// What a person does: opens the emailed link (a confirmation that records nothing), then presses its button.
async fn click_and_confirm(app: &TestApp, path: &str) -> reqwest::Response {
    let page = app
        .client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let action = form_action(&html).unwrap_or_else(|| panic!("no form in {html}"));
    app.client
        .post(format!("{}{action}", app.address))
        .send()
        .await
        .unwrap()
}

async fn events(app: &TestApp, customer: &str, kind: &str) -> Vec<Value> {
    let (status, body) = app.get_json(&format!("/v1/customers/{customer}")).await;
    assert_eq!(status, 200, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == kind)
        .cloned()
        .collect()
}

async fn wait_until<F: std::future::Future<Output = bool>>(
    secs: u64,
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_score_closes_the_loop() {
    let smtp = SmtpSink::start(&[]);
    let app = spawn_app_acting(Backend::Sqlite, config(smtp.port, "")).await;
    assert_eq!(
        app.post_events(&json!([delivered("d1", "ana", "O-1")]))
            .await
            .0,
        200
    );

    // The survey arrives a second after delivery, with one link per score.
    let messages = smtp
        .wait_for(10, "the survey", |_| !smtp.to("ana@example.com").is_empty())
        .await;
    let _ = messages;
    let survey = &smtp.to("ana@example.com")[0];
    let answer_links = links(survey);
    assert_eq!(answer_links.len(), 5, "{answer_links:?}");
    assert!(answer_links[0].0.starts_with('1') && answer_links[4].0.starts_with('5'));

    // The customer clicks "1" and confirms: a thank-you page with a comment box, and the answer is an event.
    let page = click_and_confirm(&app, &path(&answer_links[0].1)).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Thank you") && html.contains("<textarea"),
        "{html}"
    );
    let answered = events(&app, "ana", "survey.answered").await;
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0]["properties"]["score"], 1);
    assert_eq!(answered[0]["ref"], "O-1");

    // Closed loop: invisible with the reason "told-us", a follow-up obligation, and a staff alert.
    let (_, invisible) = app.get_json("/v1/invisible").await;
    let ana = invisible["invisible"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["customer"] == "ana")
        .cloned()
        .unwrap_or_else(|| panic!("ana is not invisible: {invisible:#}"));
    assert!(ana.to_string().contains("told-us"), "{ana:#}");
    let (_, customer) = app.get_json("/v1/customers/ana").await;
    let follow_up = customer["obligations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["policy"] == "follow-up")
        .cloned();
    assert_eq!(follow_up.expect("a follow-up obligation")["status"], "open");
    smtp.wait_for(10, "the staff alert", |_| {
        smtp.to("alice@venue.example").len() == 1
    })
    .await;
    let alert = &smtp.to("alice@venue.example")[0];
    assert!(
        alert["data"].as_str().unwrap().contains("ana Costa"),
        "{alert}"
    );

    // Metrics count it.
    let (status, summary) = app.get_json("/v1/surveys/summary").await;
    assert_eq!(status, 200, "{summary}");
    let all = &summary["groups"]["all"];
    assert_eq!(
        (
            all["sent"].as_u64(),
            all["answered"].as_u64(),
            all["unhappy"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(all["csat"], 0.0);
    assert_eq!(all["response_rate"], 100.0);

    // The same link again counts once; another score changes the answer.
    click_and_confirm(&app, &path(&answer_links[0].1)).await;
    assert_eq!(events(&app, "ana", "survey.answered").await.len(), 1);
    let page = click_and_confirm(&app, &path(&answer_links[4].1)).await;
    assert_eq!(page.status(), 200);
    let (_, summary) = app.get_json("/v1/surveys/summary?by=policy").await;
    let by_policy = &summary["groups"]["survey-after-delivery"];
    assert_eq!(by_policy["answered"], 1, "{summary:#}");
    assert_eq!(by_policy["csat"], 100.0);

    // The CLI shows the same figures.
    let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("seen"))
        .env_remove("SEEN_CONFIG")
        .args(["--db", &app.db.url, "surveys", "--by", "policy"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let table = String::from_utf8(output.stdout).unwrap();
    let row = table
        .lines()
        .find(|l| l.starts_with("survey-after-delivery"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("100.0%"), "{table}");

    // A comment.
    let token = path(&answer_links[0].1);
    let token = token
        .trim_start_matches("/s/")
        .rsplit_once('/')
        .unwrap()
        .0
        .to_string();
    let done = app
        .client
        .post(format!("{}/s/{token}/comment", app.address))
        .form(&[("comment", "Nobody answered my emails <for a week>.")])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let comments = events(&app, "ana", "survey.comment").await;
    assert_eq!(
        comments[0]["properties"]["comment"],
        "Nobody answered my emails <for a week>."
    );

    // Answered: the reminder (2 s later) is not sent.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (_, outbox) = app.get_json("/v1/outbox?customer=ana").await;
    let reminder = outbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["template"] == "survey-reminder")
        .cloned()
        .unwrap();
    assert_eq!(reminder["status"], "skipped", "{reminder:#}");
    assert!(reminder["detail"].as_str().unwrap().contains("answered"));
    assert_eq!(smtp.to("ana@example.com").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_links_record_nothing() {
    let smtp = SmtpSink::start(&[]);
    let app = spawn_app_acting(
        Backend::Sqlite,
        config(smtp.port, "survey_expires = \"4s\""),
    )
    .await;
    let posted = json!([delivered("d1", "bea", "O-1"), delivered("d2", "cid", "O-2")]);
    assert_eq!(app.post_events(&posted).await.0, 200);
    smtp.wait_for(10, "two surveys", |_| {
        !smtp.to("bea@example.com").is_empty() && !smtp.to("cid@example.com").is_empty()
    })
    .await;
    let bea = links(&smtp.to("bea@example.com")[0]);
    let cid = links(&smtp.to("cid@example.com")[0]);
    let get = |p: String| {
        let client = app.client.clone();
        let url = format!("{}{p}", app.address);
        async move { client.get(url).send().await.unwrap() }
    };
    let post = |p: String| {
        let client = app.client.clone();
        let url = format!("{}{p}", app.address);
        async move { client.post(url).send().await.unwrap() }
    };

    // Tampered signature.
    let mut tampered = path(&bea[3].1);
    let at = tampered.rfind('/').unwrap() - 1;
    let flipped = if &tampered[at..at + 1] == "0" {
        "1"
    } else {
        "0"
    };
    tampered.replace_range(at..at + 1, flipped);
    let response = get(tampered.clone()).await;
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("not valid"));
    let response = post(tampered).await;
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("not valid"));
    // Moved to another customer: cid's token with bea's id.
    let cid_path = path(&cid[3].1);
    let moved = cid_path.replacen(&hex("cid"), &hex("bea"), 1);
    assert_ne!(moved, cid_path);
    assert_eq!(get(moved.clone()).await.status(), 404);
    assert_eq!(post(moved).await.status(), 404);
    // Not an answer to this question.
    let bad_score = path(&bea[3].1).rsplit_once('/').unwrap().0.to_string() + "/9";
    assert_eq!(get(bad_score.clone()).await.status(), 400);
    assert_eq!(post(bad_score).await.status(), 400);
    // A validly signed link to a send that does not exist.
    let secret = app.service.store().shared_secret().await.unwrap();
    let unknown = seen::domain::survey::SurveyLink {
        customer: "bea".into(),
        survey: "csat".into(),
        send: "survey-nope".into(),
        expires: Timestamp::now() + jiff::SignedDuration::from_hours(1),
    };
    assert_eq!(
        get(format!(
            "/s/{}/4",
            seen::secrets::survey_link_token(&unknown, &secret)
        ))
        .await
        .status(),
        404
    );
    assert_eq!(
        post(format!(
            "/s/{}/4",
            seen::secrets::survey_link_token(&unknown, &secret)
        ))
        .await
        .status(),
        404
    );
    assert!(events(&app, "bea", "survey.answered").await.is_empty());
    assert!(events(&app, "cid", "survey.answered").await.is_empty());

    // Replayed: twice the same answer posted, one answer.
    assert_eq!(post(path(&bea[3].1)).await.status(), 200);
    assert_eq!(post(path(&bea[3].1)).await.status(), 200);
    assert_eq!(events(&app, "bea", "survey.answered").await.len(), 1);

    // Expired: after `survey_expires`, a clear page and nothing recorded.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let response = get(path(&cid[4].1)).await;
    assert_eq!(response.status(), 410);
    assert!(response.text().await.unwrap().contains("closed"));
    let response = post(path(&cid[4].1)).await;
    assert_eq!(response.status(), 410);
    assert!(events(&app, "cid", "survey.answered").await.is_empty());
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_survey_per_customer_per_period_and_one_reminder() {
    let smtp = SmtpSink::start(&[]);
    let app = spawn_app_acting(Backend::Sqlite, config(smtp.port, "survey_every = \"30d\"")).await;
    // Two deliveries for the same customer: one survey (the other is capped), and one reminder.
    assert_eq!(
        app.post_events(&json!([
            delivered("d1", "dan", "O-1"),
            delivered("d2", "dan", "O-2")
        ]))
        .await
        .0,
        200
    );
    wait_until(15, "the survey and its reminder", || async {
        let (_, outbox) = app.get_json("/v1/outbox?customer=dan").await;
        let rows = outbox["messages"].as_array().cloned().unwrap_or_default();
        rows.len() == 4
            && rows
                .iter()
                .all(|r| r["status"] != "pending" && r["status"] != "sending")
    })
    .await;
    let (_, outbox) = app.get_json("/v1/outbox?customer=dan").await;
    let rows = outbox["messages"].as_array().unwrap();
    let surveys: Vec<&Value> = rows.iter().filter(|r| r["template"] == "survey").collect();
    assert_eq!(
        surveys.iter().filter(|r| r["status"] == "sent").count(),
        1,
        "{rows:#?}"
    );
    let capped = surveys
        .iter()
        .find(|r| r["status"] == "capped")
        .expect("one capped");
    assert!(
        capped["detail"].as_str().unwrap().contains("survey_every"),
        "{capped}"
    );
    let reminders: Vec<&Value> = rows
        .iter()
        .filter(|r| r["template"] == "survey-reminder")
        .collect();
    assert_eq!(
        reminders.iter().filter(|r| r["status"] == "sent").count(),
        1,
        "{rows:#?}"
    );
    assert_eq!(
        reminders
            .iter()
            .filter(|r| r["status"] == "skipped")
            .count(),
        1,
        "the capped survey's reminder"
    );
    let mail = smtp.to("dan@example.com");
    assert_eq!(mail.len(), 2, "survey + one reminder");
    // The reminder's links answer the same send as the survey's.
    let (first, second) = (links(&mail[0]), links(&mail[1]));
    assert_eq!(first.len(), 5);
    assert_eq!(second.len(), 5);
    let page = click_and_confirm(&app, &path(&second[3].1)).await;
    assert_eq!(page.status(), 200);
    let (_, summary) = app.get_json("/v1/surveys/summary?by=channel").await;
    let web = &summary["groups"]["web"];
    assert_eq!(
        (web["sent"].as_u64(), web["answered"].as_u64()),
        (Some(1), Some(1)),
        "{summary:#}"
    );
}

/// Every URL in a raw message: headers (unfolded) and each MIME part's body (quoted-printable or base64
/// decoded).
pub(crate) fn message_urls(message: &Value) -> Vec<String> {
    let data = message["data"].as_str().unwrap().replace("\r\n", "\n");
    let (headers, body) = data.split_once("\n\n").unwrap_or((&data, ""));
    let mut texts = vec![headers.replace("\n ", " ").replace("\n\t", " ")];
    for part in body.split("\n--") {
        let (part_headers, part_body) = part.split_once("\n\n").unwrap_or(("", part));
        let lower = part_headers.to_ascii_lowercase();
        texts.push(if lower.contains("content-transfer-encoding: base64") {
            String::from_utf8_lossy(&base64_decode(part_body)).into_owned()
        } else {
            quoted_printable_decode(part_body)
        });
    }
    let mut urls = Vec::new();
    for text in texts {
        let mut rest = text.as_str();
        while let Some(at) = rest.find("http") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '<' | '>' | '\''))
                .unwrap_or(tail.len());
            let url = tail[..end].trim_end_matches(['.', ',', ')']);
            if url.starts_with("http://") || url.starts_with("https://") {
                urls.push(url.replace("&amp;", "&"));
            }
            rest = &tail[end.max(4)..];
        }
    }
    urls.sort();
    urls.dedup();
    urls
}

fn quoted_printable_decode(text: &str) -> String {
    let text = text.replace("=\n", "");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u32, 0);
    for c in text.bytes() {
        let Some(value) = ALPHABET.iter().position(|a| *a == c) else {
            continue;
        };
        buffer = (buffer << 6) | value as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// Mail scanners and link previews open every link of every message (GET and HEAD): nothing is answered,
/// nobody says "nobody got back to me",
/// nobody is unsubscribed, no promise changes. The person's tap on the confirmation's button answers, once;
/// the RFC 8058 one-click `POST` of `List-Unsubscribe` still unsubscribes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawler_following_every_link_records_nothing() {
    const PUBLIC: &str = "https://seen.example";
    let smtp = SmtpSink::start(&[]);
    let app = spawn_app_acting(
        Backend::Sqlite,
        config(smtp.port, &format!("public_url = \"{PUBLIC}\"")),
    )
    .await;
    assert_eq!(
        app.post_events(&json!([delivered("d1", "eve", "O-1")]))
            .await
            .0,
        200
    );
    // The survey, and two seconds later its reminder: every message this customer will get unanswered.
    smtp.wait_for(15, "the survey and its reminder", |_| {
        smtp.to("eve@example.com").len() == 2
    })
    .await;
    wait_until(10, "both sends recorded", || async {
        let (_, outbox) = app.get_json("/v1/outbox?customer=eve").await;
        let rows = outbox["messages"].as_array().cloned().unwrap_or_default();
        rows.iter().filter(|r| r["status"] == "sent").count() == 2
            && rows
                .iter()
                .all(|r| r["status"] != "pending" && r["status"] != "sending")
    })
    .await;
    let (_, before) = app.get_json("/v1/customers/eve").await;
    let (_, outbox_before) = app.get_json("/v1/outbox").await;

    let (mut fetched, mut pages) = (Vec::new(), Vec::new());
    for message in smtp.messages() {
        for url in message_urls(&message) {
            let Some(path) = url.strip_prefix(PUBLIC) else {
                continue;
            };
            let url = format!("{}{path}", app.address);
            let got = app.client.get(&url).send().await.unwrap();
            let status = got.status().as_u16();
            let html = got.text().await.unwrap();
            let head = app.client.head(&url).send().await.unwrap();
            assert!(
                status < 500 && head.status().as_u16() < 500,
                "{url}: {status}"
            );
            pages.push((path.to_string(), status, html));
            fetched.push(path.to_string());
        }
    }
    let survey_links = fetched.iter().filter(|p| p.starts_with("/s/")).count();
    let unsubscribe_links = fetched.iter().filter(|p| p.starts_with("/u/")).count();
    let status_links = fetched.iter().filter(|p| p.starts_with("/c/")).count();
    let ignored_links = fetched
        .iter()
        .filter(|p| p.starts_with("/c/") && p.ends_with("/ignored"))
        .count();
    assert!(
        survey_links >= 5 && unsubscribe_links >= 1 && status_links >= 2 && ignored_links >= 1,
        "every answer, the unsubscribe link, the status page and \"nobody got back to me\": {fetched:#?}"
    );

    // Nothing recorded, nobody unsubscribed, no promise moved, no alert sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(events(&app, "eve", "survey.answered").await.is_empty());
    assert!(events(&app, "eve", "survey.unhappy").await.is_empty());
    assert!(events(&app, "eve", "customer.feels_ignored")
        .await
        .is_empty());
    assert!(app.service.store().suppressions().await.unwrap().is_empty());
    let (_, after) = app.get_json("/v1/customers/eve").await;
    assert_eq!(after["obligations"], before["obligations"]);
    assert_eq!(after["events"], before["events"]);
    let (_, outbox_after) = app.get_json("/v1/outbox").await;
    assert_eq!(outbox_after, outbox_before);
    assert!(smtp.to("alice@venue.example").is_empty());
    // The status page showed Eve's page; "nobody got back to me" a confirmation with a button.
    for (path, status, html) in pages.iter().filter(|(p, _, _)| p.starts_with("/c/")) {
        assert_eq!(*status, 200, "{path}: {html}");
        if path.ends_with("/ignored") {
            assert!(html.contains("Nothing is recorded"), "{html}");
            assert_eq!(form_action(html).as_deref(), Some(path.as_str()), "{html}");
        }
    }
    // What they saw: a confirmation with a button.
    for (path, status, html) in pages.iter().filter(|(p, _, _)| p.starts_with("/s/")) {
        assert_eq!(*status, 200, "{path}");
        assert!(html.contains("Nothing is recorded"), "{html}");
        assert!(
            form_action(html).as_deref() == Some(path.as_str()),
            "{html}"
        );
    }

    // The person taps "1" and confirms: one answer, one `survey.unhappy`; confirming again changes nothing.
    let survey = links(&smtp.to("eve@example.com")[0]);
    for _ in 0..2 {
        let done = click_and_confirm(&app, &path(&survey[0].1)).await;
        assert_eq!(done.status(), 200);
        assert!(done.text().await.unwrap().contains("Thank you"));
    }
    let answered = events(&app, "eve", "survey.answered").await;
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0]["properties"]["score"], 1);
    assert_eq!(events(&app, "eve", "survey.unhappy").await.len(), 1);

    // RFC 8058: the mail client's one-click POST to the List-Unsubscribe address unsubscribes.
    let unsubscribe = fetched
        .iter()
        .find(|p| p.starts_with("/u/"))
        .unwrap()
        .clone();
    let done = app
        .client
        .post(format!("{}{unsubscribe}", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let suppressed = app.service.store().suppressions().await.unwrap();
    assert_eq!(suppressed.len(), 1);
    assert_eq!(suppressed[0].target, "eve");
}

/// `customer.feels_ignored` ("Nobody got back to me") is a "yes, I felt invisible" no survey asked for: in
/// the felt-invisible rate (and `unhappy`), not in `answered` or the response rate; one per customer and UTC
/// day; grouped under the survey "feels-ignored" and "-" by policy; in the overview's series and totals.
async fn a_feels_ignored_tap_counts_as_felt_invisible(backend: Backend) {
    use seen::domain::trend::Window;
    use seen::service::SurveyGroup;
    let app = crate::common::spawn_app(backend).await;
    // Two days ago at 10:00 UTC, and the day after.
    let today = Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp();
    let day1 = today - jiff::SignedDuration::from_hours(48 - 10);
    let at = |hours: i64| (day1 + jiff::SignedDuration::from_hours(hours)).to_string();
    let survey = |survey: &str, kind: &str, policy: &str, send: &str| json!({ "survey": survey, "kind": kind, "send": send, "policy": policy });
    let answered = |mut p: Value, score: u8| {
        p["score"] = json!(score);
        p
    };
    let csat = survey("csat", "csat", "survey-after-delivery", "send-a");
    let bob = survey(
        "felt-invisible",
        "invisible",
        "survey-after-visit",
        "send-b",
    );
    let cid = survey(
        "felt-invisible",
        "invisible",
        "survey-after-visit",
        "send-c",
    );
    let tap = |id: &str, customer: &str, hours: i64| {
        json!({ "id": id, "type": "customer.feels_ignored", "customer": customer, "at": at(hours),
                "channel": "web", "properties": { "via": "status_page" } })
    };
    let events = json!([
        { "id": "s-a", "type": "survey.sent", "customer": "ann", "at": at(0), "properties": csat },
        { "id": "a-a", "type": "survey.answered", "customer": "ann", "at": at(1), "properties": answered(csat.clone(), 5) },
        { "id": "s-b", "type": "survey.sent", "customer": "bob", "at": at(0), "properties": bob },
        { "id": "a-b", "type": "survey.answered", "customer": "bob", "at": at(1), "properties": answered(bob.clone(), 0) },
        { "id": "s-c", "type": "survey.sent", "customer": "cid", "at": at(0), "properties": cid },
        // cid taps twice on day 1 (one answer) and once on day 2; bob once on day 1.
        tap("t1", "cid", 2),
        tap("t2", "cid", 3),
        tap("t3", "cid", 25),
        tap("t4", "bob", 4),
        { "id": "k1", "type": "customer.comment", "customer": "cid", "at": at(3),
          "properties": { "about": "feels_ignored", "comment": "Still nothing" } },
    ]);
    assert_eq!(app.post_events(&events).await.0, 200);

    // All: 3 sent, 2 answered (66.7 %); invisible answers: bob's "no" and 3 taps → 3 yes of 4 = 75 %.
    let (status, all) = app.get_json("/v1/surveys/summary").await;
    assert_eq!(status, 200, "{all}");
    let all = &all["groups"]["all"];
    assert_eq!(all["sent"], 3);
    assert_eq!(all["answered"], 2);
    assert!((all["response_rate"].as_f64().unwrap() - 200.0 / 3.0).abs() < 1e-9);
    assert_eq!(all["csat"], 100.0);
    assert_eq!(all["invisible_answers"], 4);
    assert_eq!(all["feels_ignored"], 3);
    assert_eq!(all["felt_invisible_rate"], 75.0);
    assert_eq!(all["unhappy"], 3);

    // By survey: the taps are their own group, with nothing sent (no response rate).
    let by_survey = app
        .service
        .survey_summary(SurveyGroup::Survey, None)
        .await
        .unwrap();
    let tapped = &by_survey["feels-ignored"];
    assert_eq!(
        (tapped.sent, tapped.answered, tapped.feels_ignored),
        (0, 0, 3)
    );
    assert_eq!(tapped.response_rate, None);
    assert_eq!(tapped.felt_invisible_rate, Some(100.0));
    let asked = &by_survey["felt-invisible"];
    assert_eq!((asked.sent, asked.answered, asked.feels_ignored), (2, 1, 0));
    assert_eq!(asked.felt_invisible_rate, Some(0.0));
    let by_policy = app
        .service
        .survey_summary(SurveyGroup::Policy, None)
        .await
        .unwrap();
    assert_eq!(by_policy["-"].feels_ignored, 3);
    assert_eq!(by_policy["survey-after-visit"].feels_ignored, 0);
    // By day: two answers on day 1 (cid, bob), one on day 2.
    let by_day = app
        .service
        .survey_summary(SurveyGroup::Day, None)
        .await
        .unwrap();
    let day = |t: Timestamp| t.strftime("%Y-%m-%d").to_string();
    let second = day1 + jiff::SignedDuration::from_hours(24);
    assert_eq!(by_day[&day(day1)].feels_ignored, 2);
    assert_eq!(by_day[&day(second)].feels_ignored, 1);
    assert_eq!(by_day[&day(second)].felt_invisible_rate, Some(100.0));
    // Since day 2: only the third tap.
    let since = app
        .service
        .survey_summary(
            SurveyGroup::All,
            Some(day1 + jiff::SignedDuration::from_hours(14)),
        )
        .await
        .unwrap();
    assert_eq!((since["all"].sent, since["all"].feels_ignored), (0, 1));

    // The overview's felt-invisible series and totals count them too (CSAT 100 %, 75 % felt invisible).
    let window =
        Window::ending_at(Timestamp::now(), jiff::SignedDuration::from_hours(24), 7).unwrap();
    let overview = app.service.overview(window).await.unwrap();
    let felt: Vec<f64> = overview
        .felt_invisible
        .values
        .iter()
        .flatten()
        .copied()
        .collect();
    assert_eq!(
        felt,
        vec![100.0 * 2.0 / 3.0, 100.0],
        "{:?}",
        overview.felt_invisible
    );
    assert_eq!(overview.totals.felt_invisible, Some(75.0));
    assert_eq!(overview.totals.csat, Some(100.0));
    assert_eq!(overview.totals.survey_answers, 2);
}

on_both_backends!(a_feels_ignored_tap_counts_as_felt_invisible);

/// The demo's customers answer the default surveys: the overview's CSAT, NPS and felt-invisible charts have
/// figures on its data, and its totals are plausible.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_fills_the_overview_survey_charts() {
    use seen::domain::trend::Window;
    let app = crate::common::spawn_app(Backend::Sqlite).await;
    let end = Timestamp::now()
        .round(jiff::Unit::Hour)
        .unwrap()
        .checked_sub(jiff::SignedDuration::from_hours(1))
        .unwrap();
    let mut events = Vec::new();
    seen::demo::generate(&seen::demo::DemoOptions::new(42, 500, end), |block| {
        events.extend(block.iter().map(|e| seen::demo::validate(e, end).unwrap()));
        Ok::<(), ()>(())
    })
    .unwrap();
    for chunk in events.chunks(5_000) {
        app.service.ingest(chunk.to_vec()).await.unwrap();
    }
    let window =
        Window::ending_at(Timestamp::now(), jiff::SignedDuration::from_hours(24), 90).unwrap();
    let overview = app.service.overview(window).await.unwrap();
    for series in [&overview.csat, &overview.nps, &overview.felt_invisible] {
        let days = series.values.iter().flatten().count();
        assert!(days > 20, "{}: {days} days with figures", series.name);
    }
    let totals = &overview.totals;
    println!(
        "90 days: {} answers, CSAT {:?}, NPS {:?}, felt invisible {:?}",
        totals.survey_answers, totals.csat, totals.nps, totals.felt_invisible
    );
    assert!(totals.survey_answers > 50, "{}", totals.survey_answers);
    assert!((40.0..95.0).contains(&totals.csat.unwrap()));
    assert!((-60.0..80.0).contains(&totals.nps.unwrap()));
    assert!((5.0..60.0).contains(&totals.felt_invisible.unwrap()));
}
