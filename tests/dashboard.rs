//! The dashboard over HTTP: login required, CSRF required, roles enforced, output escaped, and the queue's
//! acknowledge / contacted flow.

#[macro_use]
mod common;

use common::{spawn_app_with, Backend, TestApp};
use jiff::{SignedDuration, Timestamp};
use seen::config::Config;
use seen::store::Role;
use serde_json::json;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix(&format!("{name}="))
                .map(|rest| rest.split(';').next().unwrap_or("").to_string())
        })
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

async fn add_user(app: &TestApp, email: &str, role: Role) {
    let hash = seen::web::auth::hash_password("a long password").unwrap();
    app.service
        .store
        .create_user(email, email, role, &hash)
        .await
        .unwrap();
}

/// Logs in through the form; returns the session cookie.
async fn login(app: &TestApp, email: &str) -> String {
    let c = client();
    let page = c
        .get(format!("{}/login", app.address))
        .send()
        .await
        .unwrap();
    let login_cookie = set_cookie(&page, "seen_login").expect("login cookie");
    let html = page.text().await.unwrap();
    let token = hidden(&html, "login_token");
    let response = c
        .post(format!("{}/login", app.address))
        .header("cookie", format!("seen_login={login_cookie}"))
        .form(&[
            ("email", email),
            ("password", "a long password"),
            ("login_token", &token),
            ("next", "/invisible"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    let cookie = set_cookie(&response, "seen_session").expect("session cookie");
    let raw = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        raw.contains("HttpOnly") && raw.contains("SameSite=Strict"),
        "{raw}"
    );
    cookie
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

async fn app_with_a_breach() -> TestApp {
    let app = spawn_app_with(Backend::Sqlite, Config::defaults().unwrap()).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_without_login() {
    let app = app_with_a_breach().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_csrf_and_escaping() {
    let app = app_with_a_breach().await;
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
        .store
        .work_for(vec!["c1".into()])
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_moves_work_out_of_the_queue_and_managers_see_it() {
    let app = app_with_a_breach().await;
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
