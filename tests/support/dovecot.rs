//! A real IMAP server for the mailbox tests and the IMAP bench: Debian's Dovecot as an unprivileged instance
//! of its own (its own config, state and maildir in a temporary directory, on a free port of 127.0.0.1), one
//! user, mail appended over IMAP like any client would. Included by `tests/it/common` (which checks the
//! binary first) and `benches/imap.rs`.

// Each includer uses a different part.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const USER: &str = "hello@venue.example";
pub const PASSWORD: &str = "imap test password";

/// A running Dovecot; stopped when dropped.
pub struct Dovecot {
    dir: tempfile::TempDir,
    pub port: u16,
    binary: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// (login user, internal user, internal group, uid, gid) for the instance: Dovecot's own users as root
/// (its login process refuses to run as root), else the current user.
fn identities() -> (String, String, String, u32, u32) {
    // SAFETY: getuid/getgid only read the process's credentials.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    if uid != 0 {
        let name = std::env::var("USER").unwrap_or_else(|_| "nobody".into());
        return (name.clone(), name.clone(), name, uid, gid);
    }
    let lookup = |what: &str, name: &str| -> u32 {
        let out = Command::new("getent")
            .args([what, name])
            .output()
            .expect("getent");
        String::from_utf8_lossy(&out.stdout)
            .split(':')
            .nth(2)
            .and_then(|id| id.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {what} entry {name:?}: is dovecot-imapd installed?"))
    };
    (
        "dovenull".into(),
        "dovecot".into(),
        "dovecot".into(),
        lookup("passwd", "dovecot"),
        lookup("group", "dovecot"),
    )
}

fn open_up(path: &Path) {
    let mut perms = std::fs::metadata(path).expect("stat").permissions();
    perms.set_mode(perms.mode() | 0o755);
    std::fs::set_permissions(path, perms).expect("chmod");
}

impl Dovecot {
    /// Starts a fresh instance of `binary` with an empty mailbox (INBOX and Sent) and waits until it
    /// answers.
    pub fn start_binary(binary: &str) -> Dovecot {
        Dovecot::start_with(binary, None)
    }

    /// Like `start_binary`, offering STARTTLS with this certificate and key (PEM files).
    pub fn start_with(binary: &str, tls: Option<(&Path, &Path)>) -> Dovecot {
        let binary = binary.to_string();
        let ssl = match tls {
            Some((cert, key)) => format!(
                "ssl = yes\nssl_cert = <{}\nssl_key = <{}\n",
                cert.display(),
                key.display()
            ),
            None => "ssl = no\n".to_string(),
        };
        let dir = tempfile::Builder::new()
            .prefix("seen-dovecot-")
            .tempdir()
            .expect("temp dir");
        let root = dir.path();
        // The config and passwd file must be reachable by Dovecot's users (tempdir makes 0700; /tmp is 1777).
        open_up(root);
        let (login_user, internal_user, internal_group, uid, gid) = identities();
        let mail = root.join("mail");
        std::fs::create_dir_all(&mail).expect("mail dir");
        std::os::unix::fs::chown(&mail, Some(uid), Some(gid)).expect("chown mail dir");
        let port = free_port();
        let passwd = root.join("passwd");
        std::fs::write(
            &passwd,
            format!(
                "{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{}\n",
                mail.join("hello").display()
            ),
        )
        .expect("passwd");
        open_up(&passwd);
        let config = format!(
            r#"base_dir = {root}/run
state_dir = {root}/state
instance_name = seen-test-{port}
listen = 127.0.0.1
protocols = imap
{ssl}disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {root}/dovecot.log
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {passwd}
}}
userdb {{
  driver = passwd-file
  args = {passwd}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \Sent
    auto = create
  }}
}}
"#,
            root = root.display(),
            passwd = passwd.display(),
        );
        let conf = root.join("dovecot.conf");
        std::fs::write(&conf, config).expect("dovecot.conf");
        open_up(&conf);
        for sub in ["run", "state"] {
            std::fs::create_dir_all(root.join(sub)).expect("dir");
            open_up(&root.join(sub));
        }
        let log = std::fs::File::create(root.join("start.log")).expect("log file");
        let status = Command::new(&binary)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .status()
            .expect("run dovecot");
        let dovecot = Dovecot { dir, port, binary };
        assert!(
            status.success(),
            "dovecot did not start: {}",
            dovecot.logs()
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "dovecot does not listen on {port}: {}",
                dovecot.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        dovecot
    }

    /// The start output and the server's log, for failure messages.
    pub fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("start.log"), read("dovecot.log"))
    }

    /// A `[[connectors.imap]]` entry for this server (the password in `password_env`, set here).
    pub fn connector_toml(&self, name: &str, extra: &str) -> String {
        let env = format!("SEEN_TEST_IMAP_{}", name.to_uppercase().replace('-', "_"));
        // Each test sets its own variable name, always to the same value.
        std::env::set_var(&env, PASSWORD);
        format!(
            r#"
[[connectors.imap]]
name = "{name}"
host = "127.0.0.1"
port = {port}
tls = "none"
username = "{USER}"
password_env = "{env}"
our_addresses = ["hello@venue.example", "*@staff.venue.example"]
poll = "1s"
{extra}
"#,
            port = self.port
        )
    }

    /// A logged-in client session of its own (to append, create and delete folders as a mail client does).
    pub async fn client(&self) -> async_imap::Session<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect to dovecot");
        let mut client = async_imap::Client::new(tcp);
        client
            .read_response()
            .await
            .expect("greeting")
            .expect("greeting");
        client
            .login(USER, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .expect("login")
    }

    /// Appends a raw mail to a folder, with an INTERNALDATE.
    pub async fn append(&self, folder: &str, raw: &str, internal_date: Option<&str>) {
        let mut session = self.client().await;
        session
            .append(
                folder,
                None,
                internal_date,
                raw.replace("\r\n", "\n").replace('\n', "\r\n"),
            )
            .await
            .unwrap_or_else(|e| panic!("append to {folder}: {e}\n{}", self.logs()));
        session.logout().await.expect("logout");
    }

    /// Deletes and re-creates a folder: it gets a new UIDVALIDITY.
    pub async fn recreate(&self, folder: &str) -> (u32, u32) {
        let mut session = self.client().await;
        let before = session
            .select(folder)
            .await
            .expect("select")
            .uid_validity
            .unwrap_or(0);
        session.close().await.expect("close");
        session.delete(folder).await.expect("delete");
        session.create(folder).await.expect("create");
        let after = session
            .select(folder)
            .await
            .expect("select")
            .uid_validity
            .unwrap_or(0);
        session.logout().await.expect("logout");
        (before, after)
    }

    /// How many mails a folder holds.
    pub async fn count(&self, folder: &str) -> u32 {
        let mut session = self.client().await;
        let n = session.select(folder).await.expect("select").exists;
        let _ = session.logout().await;
        n
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new(&self.binary)
            .arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .arg("stop")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // The master takes a moment to end; its pid file goes with it.
        let pid = self.dir.path().join("run/master.pid");
        let deadline = Instant::now() + Duration::from_secs(5);
        while pid.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
