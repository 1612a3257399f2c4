//! SMTP delivery: a small pool of lettre `AsyncSmtpConnection`s and the classification of replies.
//!
//! Why not lettre's `AsyncSmtpTransport` pool: it cannot set `TCP_NODELAY`, and lettre writes a
//! message's body and its final `.` in two writes, so Nagle's algorithm holds the `.` until the
//! server's delayed ACK (40 ms on Linux): about 25 messages/s per connection instead of ~1 000. And a
//! send cancelled by a timeout would hand its connection back to lettre's pool with a reply still on
//! the wire, answering the next message's commands. Here a timed-out connection is simply dropped.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::Error as SmtpError;
use lettre::Message;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::channels::{parse_timeout, ChannelError, Delivery, EmailSettings, TlsMode};

/// Idle connections older than this are closed rather than reused (servers drop them anyway).
const IDLE_LIMIT: Duration = Duration::from_secs(60);
const MECHANISMS: &[Mechanism] = &[Mechanism::Plain, Mechanism::Login];

pub(crate) struct Smtp {
    host: String,
    port: u16,
    tls: TlsMode,
    tls_parameters: Option<TlsParameters>,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
    /// Connections between two sends, newest last.
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    /// At most `pool_size` sends at once, hence at most `pool_size` connections.
    in_flight: Semaphore,
}

/// Why a send failed, by phase: failures before MAIL FROM are about the server or our settings
/// (refused, TLS, AUTH), not this message, so they are always worth retrying after a fix.
enum Failure {
    Connect(std::io::Error),
    Session(SmtpError),
    Transaction(SmtpError),
    TimedOut,
}

impl Smtp {
    pub(crate) fn new(settings: &EmailSettings) -> Result<Smtp, ChannelError> {
        let host = settings.host.trim().to_string();
        if host.is_empty() {
            return Err(ChannelError::invalid("email.host", "empty"));
        }
        if settings.pool_size == 0 {
            return Err(ChannelError::invalid(
                "email.pool_size",
                "must be at least 1",
            ));
        }
        let timeout = parse_timeout("email.timeout", &settings.timeout)?;
        let tls_parameters = match settings.tls {
            TlsMode::None => None,
            TlsMode::Starttls | TlsMode::Tls => Some(
                TlsParameters::builder(host.clone())
                    .dangerous_accept_invalid_certs(settings.accept_invalid_certs)
                    .dangerous_accept_invalid_hostnames(settings.accept_invalid_certs)
                    .build_rustls()
                    .map_err(|e| ChannelError::invalid("email.tls", e.to_string()))?,
            ),
        };
        let credentials = match (&settings.username, &settings.password) {
            (Some(user), Some(password)) => Some(Credentials::new(user.clone(), password.clone())),
            (None, None) => None,
            (Some(_), None) => return Err(ChannelError::invalid("email.password", "missing")),
            (None, Some(_)) => return Err(ChannelError::invalid("email.username", "missing")),
        };
        Ok(Smtp {
            host,
            port: settings.port,
            tls: settings.tls,
            tls_parameters,
            credentials,
            hello: ClientId::default(),
            timeout,
            idle: Mutex::new(Vec::new()),
            in_flight: Semaphore::new(settings.pool_size as usize),
        })
    }

    pub(crate) fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub(crate) async fn send(&self, message: &Message, to: &str) -> Delivery {
        let outcome = match self.in_flight.acquire().await {
            // `timeout` drops a late attempt, and its connection with it: never reused mid-reply.
            Ok(_permit) => match tokio::time::timeout(self.timeout, self.attempt(message)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(Failure::TimedOut),
            },
            // The semaphore is never closed.
            Err(_) => Err(Failure::TimedOut),
        };
        match outcome {
            Ok(detail) => Delivery::Sent { detail },
            Err(failure) => self.classify(failure, to),
        }
    }

    async fn attempt(&self, message: &Message) -> Result<String, Failure> {
        let mut conn = self.checkout().await?;
        let result = conn.send(message.envelope(), &message.formatted()).await;
        // lettre QUITs and marks a connection broken on any error; healthy ones go back.
        if !conn.has_broken() {
            self.idle_connections().push((conn, Instant::now()));
        }
        let response = result.map_err(Failure::Transaction)?;
        let text: Vec<&str> = response.message().collect();
        Ok(format!("{} {}", response.code(), text.join(" ")))
    }

    /// An idle connection that still answers NOOP, or a new one.
    async fn checkout(&self) -> Result<AsyncSmtpConnection, Failure> {
        loop {
            let Some((mut conn, since)) = self.idle_connections().pop() else {
                return self.connect().await;
            };
            if since.elapsed() < IDLE_LIMIT && conn.test_connected().await {
                return Ok(conn);
            }
            conn.abort().await;
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let address = (self.host.as_str(), self.port);
        let mut conn = match (&self.tls, &self.tls_parameters) {
            // Implicit TLS needs lettre's own connect, which leaves Nagle on (see the module doc).
            (TlsMode::Tls, Some(tls)) => AsyncSmtpConnection::connect_tokio1(
                address,
                Some(self.timeout),
                &self.hello,
                Some(tls.clone()),
                None,
            )
            .await
            .map_err(Failure::Session)?,
            _ => {
                let tcp = TcpStream::connect(address)
                    .await
                    .map_err(Failure::Connect)?;
                tcp.set_nodelay(true).map_err(Failure::Connect)?;
                let mut conn =
                    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                        .await
                        .map_err(Failure::Session)?;
                if let (TlsMode::Starttls, Some(tls)) = (&self.tls, &self.tls_parameters) {
                    conn.starttls(tls.clone(), &self.hello)
                        .await
                        .map_err(Failure::Session)?;
                }
                conn
            }
        };
        if let Some(credentials) = &self.credentials {
            conn.auth(MECHANISMS, credentials)
                .await
                .map_err(Failure::Session)?;
        }
        Ok(conn)
    }

    fn idle_connections(&self) -> std::sync::MutexGuard<'_, Vec<(AsyncSmtpConnection, Instant)>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn classify(&self, failure: Failure, to: &str) -> Delivery {
        let server = self.server();
        let error = match failure {
            Failure::Connect(e) => format!("SMTP {server}: cannot connect: {e}"),
            Failure::TimedOut => format!("SMTP {server}: timed out after {:?}", self.timeout),
            Failure::Session(e) => match e.status() {
                Some(code) => format!("SMTP {code} {} ({server})", reply_text(&e)),
                None => format!("SMTP {server}: {e}"),
            },
            Failure::Transaction(e) => return classify_transaction(&e, &server, to),
        };
        Delivery::Transient { error }
    }
}

/// The server's reply text (lettre keeps it as the error's source).
fn reply_text(error: &SmtpError) -> String {
    std::error::Error::source(error)
        .map(|source| source.to_string())
        .unwrap_or_default()
}

fn classify_transaction(error: &SmtpError, server: &str, to: &str) -> Delivery {
    let Some(code) = error.status() else {
        let error_text = format!("SMTP {server}: {error}");
        // lettre refused the message itself (e.g. a non-ASCII address without SMTPUTF8).
        return if error.is_client() {
            Delivery::permanent(error_text)
        } else {
            Delivery::Transient { error: error_text }
        };
    };
    let reply = reply_text(error);
    let error_text = format!("SMTP {code} {reply} (to {to})");
    if error.is_transient() {
        return Delivery::Transient { error: error_text };
    }
    let code: u16 = code.to_string().parse().unwrap_or(0);
    Delivery::Permanent {
        bounce: is_bounce(code, &reply),
        error: error_text,
    }
}

/// SMTP replies that say the recipient itself was refused: 550 mailbox unavailable, 551 user not
/// local, 553 mailbox name not allowed, or any enhanced status 5.1.x (addressing). lettre does not
/// say which command failed, so a 5xx on RCPT TO is recognised by these codes.
fn is_bounce(code: u16, reply: &str) -> bool {
    matches!(code, 550 | 551 | 553) || reply.trim_start().starts_with("5.1.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounces_are_recipient_rejections() {
        assert!(is_bounce(550, "5.1.1 no such user"));
        assert!(is_bounce(553, "mailbox name not allowed"));
        assert!(is_bounce(554, "5.1.2 bad destination system"));
        assert!(!is_bounce(554, "5.7.1 message rejected"));
        assert!(!is_bounce(552, "5.3.4 message too big"));
    }
}
