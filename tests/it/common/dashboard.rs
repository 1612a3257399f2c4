//! Speaking to the dashboard as a browser does: cookies, hidden form fields, and logging in through the form.

use super::TestApp;

/// A client that shows redirects instead of following them.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of the cookie `name` that the response sets.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
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

/// The value of the hidden form field `name` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

/// A dashboard user with the tests' password (`login` logs in as them); their name is their email.
pub async fn add_user(app: &TestApp, email: &str, role: seen::store::Role) {
    let hash = seen::secrets::hash_password("a long password").expect("hash");
    app.service
        .store()
        .create_user(email, email, role, &hash)
        .await
        .expect("create user");
}

/// Logs in through the form with the tests' password; returns the session cookie (checked to be `HttpOnly`
/// and `SameSite=Strict`).
pub async fn login(app: &TestApp, email: &str) -> String {
    let response = try_login(app, email, "a long password", "/invisible").await;
    let status = response.status();
    let cookie = set_cookie(&response, "seen_session");
    let raw = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(status, 303, "{}", response.text().await.unwrap());
    let cookie = cookie.expect("session cookie");
    assert!(
        raw.contains("HttpOnly") && raw.contains("SameSite=Strict"),
        "{raw}"
    );
    cookie
}

/// Posts the login form (with a fresh login token) and returns the response as is.
pub async fn try_login(
    app: &TestApp,
    email: &str,
    password: &str,
    next: &str,
) -> reqwest::Response {
    let c = client();
    let page = c
        .get(format!("{}/login", app.address))
        .send()
        .await
        .unwrap();
    let login_cookie = set_cookie(&page, "seen_login").expect("login cookie");
    let token = hidden(&page.text().await.unwrap(), "login_token");
    c.post(format!("{}/login", app.address))
        .header("cookie", format!("seen_login={login_cookie}"))
        .form(&[
            ("email", email),
            ("password", password),
            ("login_token", &token),
            ("next", next),
        ])
        .send()
        .await
        .unwrap()
}
