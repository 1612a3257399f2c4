//! The real `seen serve` as a child process on port 0: started one way for every test, killed when dropped
//! so that a failing test leaves no server behind.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

/// A running `seen serve`.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`, from the first line it prints.
    pub address: String,
    /// `http://127.0.0.1:PORT/metrics` when `[metrics]` has a listener of its own (the second line).
    pub metrics: Option<String>,
}

/// How to start one: `Server::builder(db)…start()`, or `Server::start(db, stderr)` for the usual case.
pub struct ServerBuilder {
    db: String,
    config: Option<PathBuf>,
    log: String,
    stderr: Stdio,
    envs: Vec<(String, String)>,
    folder: Option<PathBuf>,
    metrics_line: bool,
}

impl Server {
    /// Starts the real binary on port 0 and reads the address it prints.
    pub fn start(db: &str, stderr: Stdio) -> Server {
        Server::builder(db).stderr(stderr).start()
    }

    /// Like `start`, with a configuration file.
    pub fn start_with(db: &str, stderr: Stdio, config: Option<&Path>) -> Server {
        let mut builder = Server::builder(db).stderr(stderr);
        if let Some(config) = config {
            builder = builder.config(config);
        }
        builder.start()
    }

    /// `seen --db DB serve --listen 127.0.0.1:0`, logging at `warn`, stderr discarded, in the database's
    /// folder when it is a file (files the server writes beside itself, such as the dry-run outbox, stay in
    /// the test's folder); none of the caller's `SEEN_*` settings leak in.
    pub fn builder(db: &str) -> ServerBuilder {
        ServerBuilder {
            db: db.to_string(),
            config: None,
            log: "warn".into(),
            stderr: Stdio::null(),
            envs: Vec::new(),
            folder: None,
            metrics_line: false,
        }
    }

    /// `kill -9`, and wait for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (a graceful stop): its exit status, and what it logged when its stderr was piped (read to
    /// the end before waiting, so a full pipe cannot hold it).
    pub fn terminate(&mut self) -> (ExitStatus, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let mut logged = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            stderr.read_to_string(&mut logged).expect("read stderr");
        }
        (self.child.wait().expect("wait"), logged)
    }
}

impl ServerBuilder {
    pub fn config(mut self, path: &Path) -> ServerBuilder {
        self.config = Some(path.to_path_buf());
        self
    }

    /// `SEEN_LOG` (default `warn`).
    pub fn log(mut self, filter: &str) -> ServerBuilder {
        self.log = filter.to_string();
        self
    }

    /// Where its logs go (default nowhere); `Stdio::piped()` leaves them in `child.stderr`.
    pub fn stderr(mut self, stderr: Stdio) -> ServerBuilder {
        self.stderr = stderr;
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> ServerBuilder {
        self.envs.push((name.to_string(), value.to_string()));
        self
    }

    /// The working directory (default: the database's folder, for a SQLite file).
    pub fn folder(mut self, folder: &Path) -> ServerBuilder {
        self.folder = Some(folder.to_path_buf());
        self
    }

    /// Also read the metrics listener's address, the second line it prints.
    pub fn metrics_line(mut self) -> ServerBuilder {
        self.metrics_line = true;
        self
    }

    pub fn start(self) -> Server {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin("seen"));
        for name in [
            "SEEN_CONFIG",
            "SEEN_DATABASE_URL",
            "SEEN_LOG_FORMAT",
            "NO_COLOR",
        ] {
            command.env_remove(name);
        }
        if let Some(config) = &self.config {
            command.env("SEEN_CONFIG", config);
        }
        let beside_db = Path::new(&self.db).parent().filter(|p| p.is_dir());
        if let Some(folder) = self.folder.as_deref().or(beside_db) {
            command.current_dir(folder);
        }
        let mut child = command
            .args(["--db", &self.db, "serve", "--listen", "127.0.0.1:0"])
            .env("SEEN_LOG", &self.log)
            .envs(self.envs)
            .stdout(Stdio::piped())
            .stderr(self.stderr)
            .spawn()
            .expect("start seen serve");
        let stdout = child.stdout.take().expect("stdout");
        // Owned by a `Server` from here on: killed even if what it prints is not what we expect.
        let mut server = Server {
            child,
            address: String::new(),
            metrics: None,
        };
        let mut stdout = std::io::BufReader::new(stdout);
        let mut read_line = |prefix: &str| {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("read stdout");
            let rest = line.trim().strip_prefix(prefix).map(str::to_string);
            rest.unwrap_or_else(|| panic!("expected {prefix:?}, got {line:?}"))
        };
        server.address = read_line("seen listening on ");
        server.metrics = self.metrics_line.then(|| read_line("seen metrics on "));
        assert!(
            server.address.starts_with("http://127.0.0.1:"),
            "unexpected address: {:?}",
            server.address
        );
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
