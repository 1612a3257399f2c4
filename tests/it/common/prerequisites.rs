//! What the integration tests need from the machine, each checked once per run. A missing one fails the test
//! with one line naming it and the command that installs it; `scripts/test` installs or starts all of them.
//! Each tool's path can be changed by an environment variable (which is also how the messages are tested).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

type Checked = OnceLock<Result<String, String>>;

/// The outcome of `check`, run once per process: the tool's path, or a panic with the one-line message.
fn once(cell: &'static Checked, check: impl FnOnce() -> Result<String, String>) -> &'static str {
    match cell.get_or_init(check) {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// A Python with `aiosmtpd`, for the SMTP sink: `SEEN_TEST_PYTHON`, default Debian's `/usr/bin/python3` (a
/// pyenv `python3` on PATH may not have it).
pub fn smtp_python() -> &'static str {
    static CHECKED: Checked = OnceLock::new();
    once(&CHECKED, || {
        check_smtp_python(&env_or("SEEN_TEST_PYTHON", "/usr/bin/python3"))
    })
}

/// `openssl`, for the STARTTLS test's self-signed certificate: `SEEN_TEST_OPENSSL`, default from PATH.
pub fn openssl() -> &'static str {
    static CHECKED: Checked = OnceLock::new();
    once(&CHECKED, || {
        check_openssl(&env_or("SEEN_TEST_OPENSSL", "openssl"))
    })
}

/// Debian's chromium, for the browser test: `CHROMIUM`, default `/usr/bin/chromium`.
pub fn chromium() -> &'static str {
    static CHECKED: Checked = OnceLock::new();
    once(&CHECKED, || {
        check_chromium(&env_or("CHROMIUM", "/usr/bin/chromium"))
    })
}

/// Node.js, for the browser test: `SEEN_TEST_NODE`, default from PATH.
pub fn node() -> &'static str {
    static CHECKED: Checked = OnceLock::new();
    once(&CHECKED, || check_node(&env_or("SEEN_TEST_NODE", "node")))
}

/// `tests/browser/node_modules` (playwright-core): installed here with `npm ci` when missing (`SEEN_TEST_NPM`,
/// default from PATH).
pub fn browser_modules(dir: &Path) {
    static CHECKED: Checked = OnceLock::new();
    once(&CHECKED, || {
        check_browser_modules(dir, &env_or("SEEN_TEST_NPM", "npm"))
    });
}

/// Dovecot, for the mailbox tests: `SEEN_TEST_DOVECOT`, default Debian's `/usr/sbin/dovecot`.
pub fn dovecot() -> &'static str {
    static CHECKED: Checked = OnceLock::new();
    once(&CHECKED, || {
        check_dovecot(&env_or("SEEN_TEST_DOVECOT", "/usr/sbin/dovecot"))
    })
}

/// The PostgreSQL server at `admin` answers.
pub async fn postgres(admin: &str) {
    static CHECKED: tokio::sync::OnceCell<Result<(), String>> = tokio::sync::OnceCell::const_new();
    let checked = CHECKED.get_or_init(|| check_postgres(admin)).await;
    if let Err(message) = checked {
        panic!("{message}");
    }
}

/// A NATS server with JetStream at `url` answers (`SEEN_TEST_NATS_URL`, default the local one).
pub async fn nats(url: &str) {
    static CHECKED: tokio::sync::OnceCell<Result<(), String>> = tokio::sync::OnceCell::const_new();
    let checked = CHECKED.get_or_init(|| check_nats(url)).await;
    if let Err(message) = checked {
        panic!("{message}");
    }
}

/// The `nats-server` program, for the tests that stop and start a NATS of their own:
/// `SEEN_TEST_NATS_SERVER`, default from PATH.
pub fn nats_server() -> &'static str {
    static CHECKED: Checked = OnceLock::new();
    once(&CHECKED, || {
        check_nats_server(&env_or("SEEN_TEST_NATS_SERVER", "nats-server"))
    })
}

/// Runs `program args`, quietly; `None` when the program does not exist.
fn run(program: &str, args: &[&str]) -> Option<std::io::Result<bool>> {
    let status = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        other => Some(other.map(|s| s.success())),
    }
}

fn check_smtp_python(python: &str) -> Result<String, String> {
    let why = match run(python, &["-c", "import aiosmtpd"]) {
        Some(Ok(true)) => return Ok(python.to_string()),
        Some(Ok(false)) => format!("{python} cannot import aiosmtpd"),
        Some(Err(e)) => format!("{python} does not run: {e}"),
        None => format!("{python} not found"),
    };
    Err(format!(
        "python3-aiosmtpd is missing ({why}): run scripts/test, or apt-get install python3-aiosmtpd"
    ))
}

fn check_openssl(openssl: &str) -> Result<String, String> {
    let why = match run(openssl, &["version"]) {
        Some(Ok(true)) => return Ok(openssl.to_string()),
        Some(Ok(false)) => format!("`{openssl} version` failed"),
        Some(Err(e)) => format!("{openssl} does not run: {e}"),
        None => format!("{openssl} not found"),
    };
    Err(format!(
        "openssl is missing ({why}): run scripts/test, or apt-get install openssl"
    ))
}

fn check_dovecot(dovecot: &str) -> Result<String, String> {
    let why = match run(dovecot, &["--version"]) {
        Some(Ok(true)) => return Ok(dovecot.to_string()),
        Some(Ok(false)) => format!("`{dovecot} --version` failed"),
        Some(Err(e)) => format!("{dovecot} does not run: {e}"),
        None => format!("{dovecot} not found"),
    };
    Err(format!(
        "dovecot-imapd is missing ({why}): run scripts/test, or apt-get install dovecot-imapd"
    ))
}

fn check_chromium(chromium: &str) -> Result<String, String> {
    if Path::new(chromium).exists() {
        return Ok(chromium.to_string());
    }
    Err(format!(
        "chromium is missing ({chromium} not found; CHROMIUM names another): run scripts/test, or apt-get install chromium"
    ))
}

fn check_node(node: &str) -> Result<String, String> {
    let why = match run(node, &["--version"]) {
        Some(Ok(true)) => return Ok(node.to_string()),
        Some(Ok(false)) => format!("`{node} --version` failed"),
        Some(Err(e)) => format!("{node} does not run: {e}"),
        None => format!("{node} not found"),
    };
    Err(format!(
        "Node.js is missing ({why}): run scripts/test, or apt-get install nodejs npm"
    ))
}

fn check_browser_modules(dir: &Path, npm: &str) -> Result<String, String> {
    if dir.join("node_modules/playwright-core").exists() {
        return Ok(dir.display().to_string());
    }
    // npm's own output (why it failed) goes to the terminal above the test's message.
    let installed = Command::new(npm)
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status();
    let why = match installed {
        Ok(status) if status.success() => return Ok(dir.display().to_string()),
        Ok(status) => format!("npm ci {status}"),
        Err(e) => format!("{npm} does not run: {e}"),
    };
    Err(format!(
        "playwright-core is missing in {}/node_modules ({why}): run scripts/test, or cd {} && npm ci",
        dir.display(),
        dir.display()
    ))
}

async fn check_postgres(admin: &str) -> Result<(), String> {
    use sqlx::Connection;
    let connecting = sqlx::PgConnection::connect(admin);
    let why = match tokio::time::timeout(std::time::Duration::from_secs(10), connecting).await {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(e)) => e.to_string().replace('\n', " "),
        Err(_) => "no answer in 10 s".to_string(),
    };
    Err(format!(
        "PostgreSQL is not reachable at {} ({why}): run scripts/test (it starts the local one), or \
         pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start, or set SEEN_TEST_POSTGRES_URL",
        without_password(admin)
    ))
}

async fn check_nats(url: &str) -> Result<(), String> {
    let connecting = async_nats::ConnectOptions::new()
        .connection_timeout(std::time::Duration::from_secs(5))
        .connect(url);
    let why = match tokio::time::timeout(std::time::Duration::from_secs(10), connecting).await {
        // The account's JetStream information: any answer without an error means JetStream is on.
        Ok(Ok(client)) => match client.request("$JS.API.INFO", "".into()).await {
            Ok(answer) => match serde_json::from_slice::<serde_json::Value>(&answer.payload) {
                Ok(info) if info.get("error").is_none() => return Ok(()),
                Ok(info) => format!("JetStream refuses: {}", info["error"]),
                Err(e) => format!("JetStream's answer is not JSON: {e}"),
            },
            Err(e) => format!("JetStream does not answer (is it started with -js?): {e}"),
        },
        Ok(Err(e)) => e.to_string(),
        Err(_) => "no answer in 10 s".to_string(),
    };
    Err(format!(
        "NATS with JetStream is not reachable at {} ({}): run scripts/test (it starts the local one), or \
         apt-get install nats-server && nats-server -a 127.0.0.1 -p 4222 -js, or set SEEN_TEST_NATS_URL",
        without_password(url),
        why.replace('\n', " ")
    ))
}

fn check_nats_server(program: &str) -> Result<String, String> {
    let why = match run(program, &["--version"]) {
        Some(Ok(true)) => return Ok(program.to_string()),
        Some(Ok(false)) => format!("`{program} --version` failed"),
        Some(Err(e)) => format!("{program} does not run: {e}"),
        None => format!("{program} not found"),
    };
    Err(format!(
        "nats-server is missing ({why}): run scripts/test, or apt-get install nats-server"
    ))
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((user_info, host)) if user_info.contains(':') => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}

/// Each message, produced by making its prerequisite unavailable: one line, naming it and its install command.
mod tests {
    use super::*;

    fn one_line_naming(message: &str, what: &str, install: &str) {
        assert!(!message.contains('\n'), "{message}");
        assert!(message.starts_with(what), "{message}");
        assert!(message.contains("run scripts/test"), "{message}");
        assert!(message.contains(install), "{message}");
    }

    #[test]
    fn a_missing_python_or_aiosmtpd_names_the_package() {
        let missing = check_smtp_python("/nonexistent/python3").unwrap_err();
        one_line_naming(
            &missing,
            "python3-aiosmtpd is missing (/nonexistent/python3 not found)",
            "apt-get install python3-aiosmtpd",
        );
        // A program that runs but cannot import it (`false` ignores its arguments and fails).
        let without = check_smtp_python("false").unwrap_err();
        one_line_naming(
            &without,
            "python3-aiosmtpd is missing (false cannot import aiosmtpd)",
            "apt-get install python3-aiosmtpd",
        );
    }

    #[test]
    fn a_missing_openssl_chromium_or_node_names_the_package() {
        let openssl = check_openssl("/nonexistent/openssl").unwrap_err();
        one_line_naming(&openssl, "openssl is missing", "apt-get install openssl");
        let chromium = check_chromium("/nonexistent/chromium").unwrap_err();
        one_line_naming(&chromium, "chromium is missing", "apt-get install chromium");
        let node = check_node("/nonexistent/node").unwrap_err();
        one_line_naming(&node, "Node.js is missing", "apt-get install nodejs npm");
        let dovecot = check_dovecot("/nonexistent/dovecot").unwrap_err();
        one_line_naming(
            &dovecot,
            "dovecot-imapd is missing",
            "apt-get install dovecot-imapd",
        );
    }

    #[test]
    fn missing_browser_modules_name_npm_ci() {
        let dir = tempfile::tempdir().expect("temp dir");
        let message = check_browser_modules(dir.path(), "/nonexistent/npm").unwrap_err();
        one_line_naming(&message, "playwright-core is missing", "npm ci");
    }

    #[tokio::test]
    async fn an_unreachable_postgres_names_how_to_start_it() {
        // Port 1 on the loopback: nothing listens there.
        let message = check_postgres("postgres://me:secret@127.0.0.1:1/postgres")
            .await
            .unwrap_err();
        one_line_naming(
            &message,
            "PostgreSQL is not reachable at postgres://me:***@127.0.0.1:1/postgres",
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
        );
        assert!(!message.contains("secret"), "{message}");
    }

    #[tokio::test]
    async fn an_unreachable_nats_names_how_to_start_it() {
        let message = check_nats("nats://me:secret@127.0.0.1:1")
            .await
            .unwrap_err();
        one_line_naming(
            &message,
            "NATS with JetStream is not reachable at nats://me:***@127.0.0.1:1",
            "nats-server -a 127.0.0.1 -p 4222 -js",
        );
        assert!(!message.contains("secret"), "{message}");
        let missing = check_nats_server("/nonexistent/nats-server").unwrap_err();
        one_line_naming(
            &missing,
            "nats-server is missing",
            "apt-get install nats-server",
        );
    }
}
