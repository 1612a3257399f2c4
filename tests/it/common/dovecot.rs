//! The real IMAP server of the mailbox tests (`tests/support/dovecot.rs`), its binary checked first.

#[path = "../../support/dovecot.rs"]
mod harness;

pub use harness::Dovecot;

impl Dovecot {
    /// Starts a fresh instance (see `harness::Dovecot::start_binary`); a missing Dovecot fails with one line.
    pub fn start() -> Dovecot {
        Dovecot::start_binary(super::prerequisites::dovecot())
    }

    /// An instance offering STARTTLS with a certificate for 127.0.0.1 signed by a test CA of its own;
    /// returns it with the CA's certificate (PEM), for `ca_file`.
    pub fn start_tls(dir: &std::path::Path) -> (Dovecot, std::path::PathBuf) {
        let (ca, cert, key) = test_ca(dir);
        (
            Dovecot::start_with(super::prerequisites::dovecot(), Some((&cert, &key))),
            ca,
        )
    }
}

/// A CA and a server certificate it signed for IP 127.0.0.1 (rustls refuses a self-signed CA certificate
/// as the server's own): (ca.pem, server.pem, server.key).
fn test_ca(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use std::process::{Command, Stdio};
    let openssl = super::prerequisites::openssl();
    let run = |args: &[&str]| {
        let status = Command::new(openssl)
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run openssl");
        assert!(status.success(), "openssl {args:?} failed");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=Seen test CA",
        "-days",
        "1",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext file");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}
