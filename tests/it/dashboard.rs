//! The dashboard over HTTP: login required, CSRF required, roles enforced, output escaped, and the queue's
//! acknowledge / contacted flow.

use crate::common::dashboard::{add_user, client, hidden, login, set_cookie, try_login};
use crate::common::{spawn_app_with, Backend, TestApp};
use jiff::{SignedDuration, Timestamp};
use seen::config::Config;
use seen::store::Role;
use serde_json::json;

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn page(app: &TestApp, session: &str, path: &str) -> (u16, String) {
    let response = client()
        .get(format!("{}{path}", app.address))
        .header("cookie", format!("seen_session={session}"))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn app_with_a_breach(backend: Backend) -> TestApp {
    let app = spawn_app_with(backend, Config::defaults().unwrap()).await;
    let two_days_ago = (Timestamp::now() - SignedDuration::from_hours(72)).to_string();
    let events = json!([
        { "id": "m1", "type": "message.received", "customer": "c1", "customer_name": "<script>alert(1)</script>",
          "channel": "email", "ref": "T-1", "at": two_days_ago },
        { "id": "m2", "type": "message.received", "customer": "c2", "customer_name": "Rui Lopes",
          "channel": "email", "ref": "T-2", "at": two_days_ago },
    ]);
    assert_eq!(app.post_events(&events).await.0, 200);
    add_user(&app, "agent@example.com", Role::Agent).await;
    add_user(&app, "boss@example.com", Role::Manager).await;
    add_user(&app, "root@example.com", Role::Admin).await;
    app
}

async fn no_page_without_login(backend: Backend) {
    let app = app_with_a_breach(backend).await;
    for path in ["/", "/invisible", "/customers/c1", "/admin/users"] {
        let response = client()
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{path}");
        let location = response.headers()["location"].to_str().unwrap();
        assert!(location.starts_with("/login"), "{path} → {location}");
    }
    // A made-up session is no session.
    let (status, _) = page(&app, "0123456789abcdef", "/invisible").await;
    assert_eq!(status, 303);
    // A wrong password.
    let c = client();
    let login_page = c
        .get(format!("{}/login", app.address))
        .send()
        .await
        .unwrap();
    let login_cookie = set_cookie(&login_page, "seen_login").unwrap();
    let token = hidden(&login_page.text().await.unwrap(), "login_token");
    let response = c
        .post(format!("{}/login", app.address))
        .header("cookie", format!("seen_login={login_cookie}"))
        .form(&[
            ("email", "agent@example.com"),
            ("password", "wrong password"),
            ("login_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(set_cookie(&response, "seen_session").is_none());
    // The login form itself needs its token (login CSRF).
    let response = c
        .post(format!("{}/login", app.address))
        .form(&[
            ("email", "agent@example.com"),
            ("password", "a long password"),
            ("login_token", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

async fn roles_csrf_and_escaping(backend: Backend) {
    let app = app_with_a_breach(backend).await;
    let agent = login(&app, "agent@example.com").await;
    let admin = login(&app, "root@example.com").await;
    assert_eq!(page(&app, &agent, "/admin/users").await.0, 403);
    let (status, html) = page(&app, &admin, "/admin/users").await;
    assert_eq!(status, 200);
    assert!(html.contains("agent@example.com"));

    // Names render as text.
    let (status, html) = page(&app, &agent, "/invisible").await;
    assert_eq!(status, 200);
    assert!(!html.contains("<script>alert(1)</script>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{html}"
    );
    let (_, html) = page(&app, &agent, "/customers/c1").await;
    assert!(!html.contains("<script>alert"), "{html}");

    // Every form needs the session's CSRF token.
    for csrf in [None, Some("wrong")] {
        let mut form = vec![
            ("customer", "c1"),
            ("policy", "reply"),
            ("trigger_event", "m1"),
            ("kind", "acknowledged"),
        ];
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf));
        }
        let response = client()
            .post(format!("{}/invisible/work", app.address))
            .header("cookie", format!("seen_session={agent}"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(
            response.status() == 403 || response.status() == 422,
            "{csrf:?}: {}",
            response.status()
        );
    }
    assert!(app
        .service
        .store()
        .work_for(vec!["c1".into()])
        .await
        .unwrap()
        .is_empty());
}

async fn acknowledging_moves_work_out_of_the_queue_and_managers_see_it(backend: Backend) {
    let app = app_with_a_breach(backend).await;
    let agent = login(&app, "agent@example.com").await;
    let manager = login(&app, "boss@example.com").await;
    let (_, html) = page(&app, &agent, "/invisible").await;
    assert!(html.contains("data-customer=\"c1\"") && html.contains("data-customer=\"c2\""));
    let csrf = hidden(&html, "csrf");
    let act = |kind: &'static str, customer: &'static str, trigger: &'static str| {
        let (address, agent, csrf) = (app.address.clone(), agent.clone(), csrf.clone());
        async move {
            client()
                .post(format!("{address}/invisible/work"))
                .header("cookie", format!("seen_session={agent}"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("customer", customer),
                    ("policy", "reply"),
                    ("trigger_event", trigger),
                    ("kind", kind),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(act("acknowledged", "c2", "m2").await.status(), 303);
    let (_, html) = page(&app, &agent, "/invisible").await;
    assert!(
        !html.contains("data-customer=\"c2\""),
        "acknowledged work leaves the queue"
    );
    assert!(html.contains("1 acknowledged"), "{html}");
    let (_, html) = page(&app, &manager, "/invisible?show=all").await;
    assert!(html.contains("data-customer=\"c2\""));
    assert!(html.contains("acknowledged by agent@example.com"), "{html}");

    // Marking contacted records a message.sent: the customer is no longer invisible.
    assert_eq!(act("contacted", "c1", "m1").await.status(), 303);
    let (_, html) = page(&app, &manager, "/invisible?show=all").await;
    assert!(!html.contains("data-customer=\"c1\""), "{html}");
    let (_, customer) = app.get_json("/v1/customers/c1").await;
    assert_eq!(customer["invisible"], false, "{customer:#}");
}

async fn post_form(
    app: &TestApp,
    session: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let response = client()
        .post(format!("{}{path}", app.address))
        .header("cookie", format!("seen_session={session}"))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn managers_see_trends_promises_outbox_and_surveys(backend: Backend) {
    let app = app_with_a_breach(backend).await;
    let at = |hours: i64| (Timestamp::now() - SignedDuration::from_hours(hours)).to_string();
    let events = json!([
        // A reply kept on time by an agent, and one kept by Seen itself.
        { "id": "m3", "type": "message.received", "customer": "c3", "channel": "chat", "ref": "T-3", "at": at(50) },
        { "id": "r3", "type": "message.sent", "customer": "c3", "channel": "chat", "ref": "T-3", "at": at(49),
          "properties": { "agent": "Ana Lima" } },
        // A CSAT answer of 2 with a comment, and an NPS of 10.
        { "id": "s1", "type": "survey.sent", "customer": "c3", "at": at(30),
          "properties": { "survey": "csat", "kind": "csat", "send": "send-1", "policy": "survey-after-delivery" } },
        { "id": "a1", "type": "survey.answered", "customer": "c3", "at": at(29),
          "properties": { "survey": "csat", "kind": "csat", "send": "send-1", "score": 2, "policy": "survey-after-delivery" } },
        { "id": "k1", "type": "survey.comment", "customer": "c3", "at": at(29),
          "properties": { "survey": "csat", "kind": "csat", "send": "send-1", "comment": "Nobody <b>answered</b> my emails" } },
    ]);
    assert_eq!(app.post_events(&events).await.0, 200);
    let manager = login(&app, "boss@example.com").await;
    let agent = login(&app, "agent@example.com").await;

    let (status, html) = page(&app, &manager, "/overview").await;
    assert_eq!(status, 200, "{html}");
    for chart in [
        "chart-invisible",
        "chart-kept-rate",
        "chart-reply-time",
        "chart-queue-wait",
        "chart-csat",
        "chart-nps",
        "chart-felt-invisible",
    ] {
        assert!(html.contains(chart), "{chart} missing");
    }
    assert_eq!(
        html.matches("<svg class=\"chart\"").count(),
        8,
        "eight charts"
    );
    assert!(html.contains("<title>Promises kept on time (% of decided promises)</title>"));
    // Two customers are invisible now (c1, c2); the tile links to the queue.
    assert!(html.contains("<a href=\"&#x2f;invisible\">2</a>"), "{html}");
    // One reply kept on time, two breached: 33.3 %.
    assert!(html.contains("33.3 %"), "{html}");
    assert_eq!(page(&app, &manager, "/overview?days=5").await.0, 400);
    assert_eq!(page(&app, &manager, "/overview?days=7").await.0, 200);

    let (status, html) = page(&app, &manager, "/promises").await;
    assert_eq!(status, 200);
    assert!(html.contains("Ana Lima"), "by agent: {html}");
    let response = client()
        .get(format!("{}/promises?format=csv", app.address))
        .header("cookie", format!("seen_session={manager}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let csv = response.text().await.unwrap();
    assert!(
        csv.starts_with(
            "period_start,policy,kept,kept_late,breached,cancelled,open,kept_rate_percent\n"
        ),
        "{csv}"
    );
    let reply: Vec<Vec<u64>> = csv
        .lines()
        .filter(|l| l.contains(",reply,"))
        .map(|l| {
            l.split(',')
                .skip(2)
                .take(5)
                .map(|n| n.parse().unwrap())
                .collect()
        })
        .collect();
    let sum = |i: usize| reply.iter().map(|r| r[i]).sum::<u64>();
    assert_eq!(
        (sum(0), sum(1), sum(2)),
        (1, 0, 2),
        "kept, late, breached: {csv}"
    );
    assert_eq!(
        reply.len(),
        28,
        "one row per day of the default 28-day period"
    );

    let (status, html) = page(&app, &manager, "/surveys").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Nobody &lt;b&gt;answered&lt;&#x2f;b&gt; my emails"),
        "{html}"
    );
    assert!(html.contains("0.0 %"), "CSAT of one answer of 2: {html}");
    let (status, html) = page(&app, &manager, "/outbox").await;
    assert_eq!(status, 200);
    assert!(html.contains("Nothing here."));

    // Agents work the queue and see the overview, not the management pages.
    assert_eq!(page(&app, &agent, "/overview").await.0, 200);
    for path in [
        "/promises",
        "/promises?format=csv",
        "/outbox",
        "/surveys",
        "/admin/users",
        "/admin/keys",
        "/admin/policies",
    ] {
        assert_eq!(page(&app, &agent, path).await.0, 403, "{path}");
    }
    let (_, html) = page(&app, &agent, "/invisible").await;
    assert!(
        !html.contains("href=\"/promises\""),
        "no link to what an agent cannot open"
    );
}

async fn admins_manage_users_and_api_keys(backend: Backend) {
    let app = app_with_a_breach(backend).await;
    let admin = login(&app, "root@example.com").await;
    let manager = login(&app, "boss@example.com").await;
    let (status, html) = page(&app, &admin, "/admin/policies").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("confirm-booking") && html.contains("booking.created"),
        "{html}"
    );
    let (_, html) = page(&app, &admin, "/admin/keys").await;
    let csrf = hidden(&html, "csrf");

    // Without the CSRF token nothing is created.
    let (status, _) = post_form(
        &app,
        &admin,
        "/admin/keys",
        &[("action", "create"), ("name", "shop")],
    )
    .await;
    assert!(status == 403 || status == 422, "{status}");
    // A manager cannot create keys, even with a token.
    let (_, manager_html) = page(&app, &manager, "/invisible").await;
    let manager_csrf = hidden(&manager_html, "csrf");
    let (status, _) = post_form(
        &app,
        &manager,
        "/admin/keys",
        &[
            ("csrf", &manager_csrf),
            ("action", "create"),
            ("name", "shop"),
        ],
    )
    .await;
    assert_eq!(status, 403);

    let (status, html) = post_form(
        &app,
        &admin,
        "/admin/keys",
        &[("csrf", &csrf), ("action", "create"), ("name", "shop")],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    let start = html.find("id=\"new-key\">").unwrap() + "id=\"new-key\">".len();
    let key = &html[start..start + html[start..].find('<').unwrap()];
    let api = |key: String| {
        let address = app.address.clone();
        async move {
            client()
                .get(format!("{address}/v1/summary"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(api(key.to_string()).await, 200);
    let (status, _) = post_form(
        &app,
        &admin,
        "/admin/keys",
        &[("csrf", &csrf), ("action", "revoke"), ("name", "shop")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(api(key.to_string()).await, 401);

    // Users: a short password is refused; a good one works at the login form.
    let (status, html) = post_form(
        &app,
        &admin,
        "/admin/users",
        &[
            ("csrf", &csrf),
            ("email", "new@example.com"),
            ("role", "agent"),
            ("password", "short"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("password: at least 12 characters"));
    let (status, html) = post_form(
        &app,
        &admin,
        "/admin/users",
        &[
            ("csrf", &csrf),
            ("email", "new@example.com"),
            ("name", "New <Agent>"),
            ("role", "agent"),
            ("password", "a long password"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("New &lt;Agent&gt;"));
    let new = login(&app, "new@example.com").await;
    assert_eq!(page(&app, &new, "/invisible").await.0, 200);
    let (status, _) = post_form(
        &app,
        &admin,
        "/admin/users",
        &[
            ("csrf", &csrf),
            ("email", "new@example.com"),
            ("role", "agent"),
            ("password", "a long password"),
        ],
    )
    .await;
    assert_eq!(status, 409, "the same email twice");
}

/// Browsers drop tabs and newlines in URLs and read `/\` as `//`: such `next=` / `back=` values must not
/// send a user to another site, and must not break the `Location` header (500).
async fn redirects_stay_on_this_site(backend: Backend) {
    let app = app_with_a_breach(backend).await;
    let hostile = [
        "/\t/evil.example/",
        "/\n/evil.example/",
        "/\r\nSet-Cookie: x=y",
        "//evil.example/",
        "/\\evil.example/",
        "/x\\..\\\\evil.example",
        "https://evil.example/",
        "/\u{0}",
    ];
    // The login page does not carry a hostile `next` into its form.
    let response = client()
        .get(format!("{}/login?next=/%09/evil.example/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        hidden(&response.text().await.unwrap(), "next"),
        "&#x2f;invisible"
    );
    for next in hostile {
        let response = try_login(&app, "agent@example.com", "a long password", next).await;
        assert_eq!(response.status(), 303, "{next:?}");
        assert_eq!(location(&response), "/invisible", "{next:?}");
    }
    // A local path is kept (query and all).
    let response = try_login(
        &app,
        "agent@example.com",
        "a long password",
        "/customers/c1?x=1",
    )
    .await;
    assert_eq!(location(&response), "/customers/c1?x=1");

    let agent = login(&app, "agent@example.com").await;
    let (_, html) = page(&app, &agent, "/invisible").await;
    let csrf = hidden(&html, "csrf");
    for back in hostile {
        let response = client()
            .post(format!("{}/invisible/work", app.address))
            .header("cookie", format!("seen_session={agent}"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("customer", "c1"),
                ("policy", "reply"),
                ("trigger_event", "m1"),
                ("kind", "acknowledged"),
                ("back", back),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{back:?}");
        assert_eq!(location(&response), "/invisible", "{back:?}");
    }
}

/// A NUL byte (PostgreSQL refuses it in text) or an absurd length in a path or form field is a 4xx naming
/// the field, never a 500, and records nothing.
async fn control_characters_and_absurd_lengths_are_refused_at_the_edge(backend: Backend) {
    let app = app_with_a_breach(backend).await;
    let agent = login(&app, "agent@example.com").await;
    let admin = login(&app, "root@example.com").await;
    let long = "x".repeat(5_000);
    for path in [
        "/customers/a%00b".to_string(),
        "/customers/a%0Ab".to_string(),
        format!("/customers/{long}"),
    ] {
        let (status, body) = page(&app, &agent, &path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.starts_with("customer: "), "{body}");
    }
    let (_, html) = page(&app, &agent, "/invisible").await;
    let csrf = hidden(&html, "csrf");
    let base = [
        ("csrf", csrf.as_str()),
        ("customer", "c1"),
        ("policy", "reply"),
        ("trigger_event", "m1"),
    ];
    for (field, value, kind) in [
        ("customer", "a\0b", "contacted"),
        ("customer", long.as_str(), "contacted"),
        ("policy", "re\0ply", "acknowledged"),
        ("trigger_event", "m\x01", "acknowledged"),
        ("note", "hello\0", "note"),
        ("note", &"n".repeat(2_001), "note"),
        ("assignee", "a\0b@example.com", "assigned"),
    ] {
        let mut form: Vec<(&str, &str)> = base
            .iter()
            .copied()
            .filter(|(name, _)| *name != field)
            .collect();
        form.push((field, value));
        form.push(("kind", kind));
        let (status, body) = post_form(&app, &agent, "/invisible/work", &form).await;
        assert_eq!(status, 400, "{field}: {body}");
        assert!(body.starts_with(&format!("{field}: ")), "{field}: {body}");
    }
    assert!(app
        .service
        .store()
        .work_for(vec!["c1".into()])
        .await
        .unwrap()
        .is_empty());
    let (_, customer) = app.get_json("/v1/customers/c1").await;
    assert_eq!(customer["invisible"], true, "nothing was recorded");

    // The login form, before any session.
    for (email, password) in [
        ("a\0b", "a long password"),
        (long.as_str(), "a long password"),
        ("agent@example.com", "a long\0password"),
    ] {
        let response = try_login(&app, email, password, "/invisible").await;
        assert_eq!(response.status(), 422, "{email:.20}");
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("not a valid email address or password"));
    }
    // The users page.
    let (_, html) = page(&app, &admin, "/admin/users").await;
    let csrf = hidden(&html, "csrf");
    for (email, name) in [("a\0b@example.com", ""), ("ok@example.com", "Bad\0Name")] {
        let (status, html) = post_form(
            &app,
            &admin,
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("email", email),
                ("name", name),
                ("role", "agent"),
                ("password", "a long password"),
            ],
        )
        .await;
        assert_eq!(status, 422, "{html}");
        assert!(html.contains("contains control characters"), "{html}");
    }
    assert_eq!(app.service.store().users().await.unwrap().len(), 3);
}

/// "Mark contacted" records a `message.sent` through event validation, and only on a promise that exists.
async fn work_needs_a_real_promise_and_a_valid_event(backend: Backend) {
    let app = app_with_a_breach(backend).await;
    let agent = login(&app, "agent@example.com").await;
    let (_, html) = page(&app, &agent, "/invisible").await;
    let csrf = hidden(&html, "csrf");
    let work = |customer: &'static str,
                policy: &'static str,
                trigger: &'static str,
                kind: &'static str| {
        let (app, agent, csrf) = (&app, agent.clone(), csrf.clone());
        async move {
            post_form(
                app,
                &agent,
                "/invisible/work",
                &[
                    ("csrf", csrf.as_str()),
                    ("customer", customer),
                    ("policy", policy),
                    ("trigger_event", trigger),
                    ("kind", kind),
                ],
            )
            .await
        }
    };
    for (customer, policy, trigger, kind) in [
        ("ghost", "reply", "m1", "contacted"),
        ("ghost", "reply", "m1", "acknowledged"),
        ("c1", "reply", "no-such-event", "contacted"),
        ("c1", "no-such-policy", "m1", "contacted"),
        ("c1", "reply", "m2", "note"),
    ] {
        let (status, body) = work(customer, policy, trigger, kind).await;
        assert_eq!(status, 404, "{customer} {policy} {trigger} {kind}: {body}");
        assert!(body.starts_with("no promise"), "{body}");
    }
    assert!(app
        .service
        .store()
        .customer("ghost")
        .await
        .unwrap()
        .is_none());
    assert!(app
        .service
        .store()
        .work_for(vec!["ghost".into(), "c1".into()])
        .await
        .unwrap()
        .is_empty());
    let (_, customer) = app.get_json("/v1/customers/c1").await;
    assert_eq!(customer["invisible"], true, "{customer:#}");
    assert_eq!(
        customer["events"].as_array().unwrap().len(),
        1,
        "{customer:#}"
    );

    // On the real promise: a validated message.sent with the promise's ref, which keeps it.
    assert_eq!(work("c1", "reply", "m1", "contacted").await.0, 303);
    let events = app.service.store().customer_events("c1").await.unwrap();
    let sent = events
        .iter()
        .find(|e| e.kind == "message.sent")
        .expect("a message.sent");
    assert_eq!(sent.customer, "c1");
    assert_eq!(sent.channel.as_deref(), Some("staff"));
    assert_eq!(sent.reference.as_deref(), Some("T-1"));
    assert!(sent.id.starts_with("contacted-"), "{}", sent.id);
    let properties = sent.properties_value();
    assert_eq!(properties["by"], "agent@example.com");
    assert_eq!(properties["via"], "dashboard");
    let (_, customer) = app.get_json("/v1/customers/c1").await;
    assert_eq!(customer["invisible"], false, "{customer:#}");
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Wrong passwords are throttled per account and per client address, with a backoff; the right password
/// works again once the backoff has passed.
async fn logins_are_throttled_per_account_and_address(backend: Backend) {
    let mut config = Config::defaults().unwrap();
    config.file.server.login_failures_per_account = 5;
    config.file.server.login_failures_per_address = 8;
    config.file.server.login_backoff_secs = 2;
    config.file.server.login_backoff_max_secs = 4;
    let app = spawn_app_with(backend, config).await;
    add_user(&app, "agent@example.com", Role::Agent).await;
    add_user(&app, "boss@example.com", Role::Manager).await;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let response = try_login(&app, "agent@example.com", "wrong password", "/invisible").await;
        if response.status() == 429 {
            let wait = retry_after(&response);
            assert!((1..=2).contains(&wait), "{wait}");
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert_eq!(statuses[5..], [429; 15], "{statuses:?}");
    // The right password while throttled: refused too (and the account's case does not matter).
    let response = try_login(&app, "Agent@Example.com", "a long password", "/invisible").await;
    assert_eq!(response.status(), 429);
    assert!(set_cookie(&response, "seen_session").is_none());
    // After the backoff, the right password works (and clears the account's failures).
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    let response = try_login(&app, "agent@example.com", "a long password", "/invisible").await;
    assert_eq!(response.status(), 303);
    assert!(set_cookie(&response, "seen_session").is_some());
    let response = try_login(&app, "agent@example.com", "wrong password", "/invisible").await;
    assert_eq!(response.status(), 401, "the success cleared the account");

    // This address has failed 6 times; two more guesses at other accounts reach its limit of 8: then even
    // another account's right password waits.
    for email in ["nobody@example.com", "boss@example.com"] {
        let response = try_login(&app, email, "wrong password", "/invisible").await;
        assert_eq!(response.status(), 401, "{email}");
    }
    let response = try_login(&app, "boss@example.com", "a long password", "/invisible").await;
    assert_eq!(response.status(), 429);
    assert!(retry_after(&response) >= 1);
}

/// A name a spreadsheet would evaluate (`=`, `+`, `-`, `@`) is exported as text: prefixed with `'`.
async fn csv_exports_neutralise_formulas(backend: Backend) {
    let config = Config::from_toml(
        r#"
[[policies]]
name = "=HYPERLINK(\"http://evil.example\",\"x\")"
kind = "expect"
trigger = ["message.received"]
expect = ["message.sent"]
within = "1h"

[[policies]]
name = "@reply"
kind = "expect"
trigger = ["message.received"]
expect = ["message.sent"]
within = "2h"
"#,
        "test",
    )
    .unwrap();
    let app = spawn_app_with(backend, config).await;
    let at = (Timestamp::now() - SignedDuration::from_hours(30)).to_string();
    let events = json!([
        { "id": "m1", "type": "message.received", "customer": "c1", "at": at },
    ]);
    assert_eq!(app.post_events(&events).await.0, 200);
    add_user(&app, "boss@example.com", Role::Manager).await;
    let manager = login(&app, "boss@example.com").await;
    let (status, csv) = page(&app, &manager, "/promises?format=csv").await;
    assert_eq!(status, 200, "{csv}");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let policies: std::collections::BTreeSet<String> = reader
        .records()
        .map(|r| r.unwrap()[1].to_string())
        .collect();
    assert_eq!(
        policies.into_iter().collect::<Vec<_>>(),
        ["'=HYPERLINK(\"http://evil.example\",\"x\")", "'@reply"],
        "{csv}"
    );
    for line in csv.lines() {
        for cell in line.split(',') {
            let cell = cell.trim_start_matches('"');
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?} in {line}"
            );
        }
    }
}

/// Every dashboard response (pages, redirects, errors, exports) carries a strict CSP, no framing, no
/// referrer, no caching and no sniffing; the pages have no inline style or script for the CSP to block.
async fn dashboard_responses_carry_security_headers(backend: Backend) {
    let app = app_with_a_breach(backend).await;
    let agent = login(&app, "agent@example.com").await;
    let manager = login(&app, "boss@example.com").await;
    let get = |path: &'static str, session: Option<String>| {
        let address = app.address.clone();
        async move {
            let mut request = client().get(format!("{address}{path}"));
            if let Some(session) = session {
                request = request.header("cookie", format!("seen_session={session}"));
            }
            request.send().await.unwrap()
        }
    };
    let cases = [
        ("/login", None, 200),
        ("/", None, 303),
        ("/invisible", Some(agent.clone()), 200),
        ("/customers/c1", Some(agent.clone()), 200),
        ("/customers/a%00b", Some(agent.clone()), 400),
        ("/overview", Some(agent.clone()), 200),
        ("/admin/users", Some(agent.clone()), 403),
        ("/promises", Some(manager.clone()), 200),
        ("/promises?format=csv", Some(manager.clone()), 200),
        ("/surveys", Some(manager.clone()), 200),
        ("/outbox", Some(manager.clone()), 200),
    ];
    for (path, session, status) in cases {
        let response = get(path, session).await;
        assert_eq!(response.status(), status, "{path}");
        let h = response.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'self'",
            "script-src 'none'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        let html_page = h
            .get("content-type")
            .is_some_and(|t| t.to_str().unwrap().starts_with("text/html"));
        if html_page {
            let html = response.text().await.unwrap();
            assert!(!html.contains("<style"), "{path}: inline <style>");
            assert!(!html.contains(" style="), "{path}: a style attribute");
            assert!(!html.contains("<script"), "{path}: a script");
            assert!(
                html.contains("<link rel=\"stylesheet\" href=\"/assets/seen.css\">"),
                "{path}"
            );
        }
    }
    // The stylesheet the pages link to, without a login (the login page needs it).
    let response = get("/assets/seen.css", None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/css; charset=utf-8"
    );
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(response.text().await.unwrap().contains("header a.here"));
}

/// Customers listed on a search page.
fn found(html: &str) -> Vec<String> {
    html.split("<td><a href=\"/customers/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

async fn search_finds_customers_by_id_email_phone_and_name(backend: Backend) {
    let app = app_with_a_breach(backend).await;
    let now = Timestamp::now().to_string();
    let mut events = vec![
        json!({ "id": "a1", "type": "message.received", "customer": "ana-7",
        "customer_name": "Ana Silva", "customer_email": "Ana.Silva@Example.com",
        "customer_phone": "+351 (912) 345-678", "at": now }),
    ];
    for i in 0..60 {
        events.push(json!({ "id": format!("b{i}"), "type": "page.viewed", "customer": format!("bulk-{i:02}"), "at": now }));
    }
    assert_eq!(
        app.post_events(&serde_json::Value::Array(events)).await.0,
        200
    );
    let agent = login(&app, "agent@example.com").await;

    // The box is on every page.
    for path in ["/invisible", "/customers/c2", "/search"] {
        let (status, html) = page(&app, &agent, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            html.contains(r#"action="/search" role="search""#),
            "{path}: {html}"
        );
    }
    for (q, expected) in [
        ("ana", vec!["ana-7"]),                     // name prefix, any case
        ("ANA.SIL", vec!["ana-7"]),                 // email prefix, any case
        ("ana.silva%40example.com", vec!["ana-7"]), // the whole email
        ("351912", vec!["ana-7"]),                  // phone digits
        ("%2B351%20912%2034", vec!["ana-7"]),       // phone as typed
        ("c2", vec!["c2"]),                         // id
        ("Rui", vec!["c2"]),                        // name
        ("%20rui%20", vec!["c2"]),                  // surrounding spaces ignored
        ("nobody", vec![]),
        ("", vec![]),
    ] {
        let (status, html) = page(&app, &agent, &format!("/search?q={q}")).await;
        assert_eq!(status, 200, "{q}");
        assert_eq!(found(&html), expected, "{q}: {html}");
    }
    // Who is invisible shows.
    let (_, html) = page(&app, &agent, "/search?q=c2").await;
    assert!(
        html.contains(r#"<span class="late">invisible</span>"#),
        "{html}"
    );
    let (_, html) = page(&app, &agent, "/search?q=ana").await;
    assert!(
        !html.contains(r#"<span class="late">invisible</span>"#),
        "{html}"
    );
    assert!(
        html.contains("+351 (912) 345-678") && html.contains("<time datetime="),
        "{html}"
    );
    // At most 50, and "more" said.
    let (_, html) = page(&app, &agent, "/search?q=bulk-").await;
    let listed = found(&html);
    assert_eq!(listed.len(), 50);
    assert_eq!(listed[0], "bulk-00");
    assert!(html.contains("more match"), "{html}");
    let (_, html) = page(&app, &agent, "/search?q=bulk-5").await;
    assert_eq!(found(&html).len(), 10);
    assert!(!html.contains("more match"));
    // Escaped, both what was typed and what was found.
    let (_, html) = page(&app, &agent, "/search?q=%3Cscript%3E").await;
    assert_eq!(found(&html), vec!["c1"]);
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)"), "{html}");
    // Bounded input.
    assert_eq!(page(&app, &agent, "/search?q=a%00b").await.0, 400);
    assert_eq!(
        page(&app, &agent, &format!("/search?q={}", "a".repeat(201)))
            .await
            .0,
        400
    );
    // A session is needed.
    let response = client()
        .get(format!("{}/search?q=ana", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
}

async fn times_are_shown_in_the_business_zone_with_utc_on_hover(backend: Backend) {
    let config = Config::from_toml("[server]\ntimezone = \"Asia/Kolkata\"", "test").unwrap();
    let app = spawn_app_with(backend, config).await;
    let events = json!([{ "id": "m1", "type": "message.received", "customer": "c1", "at": "2026-01-14T09:14:00Z" }]);
    assert_eq!(app.post_events(&events).await.0, 200);
    add_user(&app, "agent@example.com", Role::Agent).await;
    let agent = login(&app, "agent@example.com").await;
    let (status, html) = page(&app, &agent, "/customers/c1").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"<time datetime="2026-01-14T09:14:00Z" title="2026-01-14 09:14:00 UTC">Wed 14 Jan 2026 14:44</time>"#),
        "{html}"
    );
    assert!(
        !html.contains(" UTC</td>"),
        "no bare UTC times left: {html}"
    );
}

on_both_backends!(
    search_finds_customers_by_id_email_phone_and_name,
    times_are_shown_in_the_business_zone_with_utc_on_hover,
    dashboard_responses_carry_security_headers,
    csv_exports_neutralise_formulas,
    control_characters_and_absurd_lengths_are_refused_at_the_edge,
    work_needs_a_real_promise_and_a_valid_event,
    logins_are_throttled_per_account_and_address,
    redirects_stay_on_this_site,
    no_page_without_login,
    roles_csrf_and_escaping,
    acknowledging_moves_work_out_of_the_queue_and_managers_see_it,
    managers_see_trends_promises_outbox_and_surveys,
    admins_manage_users_and_api_keys
);
