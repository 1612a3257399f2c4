//! Connecting to an IMAP server: TCP, then TLS from the first byte (`implicit`), after STARTTLS
//! (`starttls`) or not at all (`none`, only to a loopback address); the greeting; LOGIN.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::{Client, Session};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    Implicit,
    StartTls,
    None,
}

impl Tls {
    pub fn parse(text: &str) -> Option<Tls> {
        match text {
            "implicit" => Some(Tls::Implicit),
            "starttls" => Some(Tls::StartTls),
            "none" => Some(Tls::None),
            _ => None,
        }
    }
}

/// Either a plain or a TLS stream (async-imap's client takes one stream type).
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stream::Plain(_) => "Stream::Plain",
            Stream::Tls(_) => "Stream::Tls",
        })
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Where and how to connect.
#[derive(Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub username: String,
    pub password: String,
    pub tls_config: Arc<ClientConfig>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The roots a connection trusts: the public web roots, and the certificates of `ca_file` if given.
pub fn tls_config(ca_file: Option<&str>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let certs =
            CertificateDer::pem_file_iter(path).map_err(|e| format!("ca_file {path:?}: {e}"))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("ca_file {path:?}: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("ca_file {path:?}: {e}"))?;
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Why a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connecting to {0}: {1}")]
    Io(String, std::io::Error),
    #[error("connecting to {0}: timed out after {1:?}")]
    Timeout(String, Duration),
    #[error("TLS with {0}: {1}")]
    Tls(String, std::io::Error),
    #[error("{0} said no greeting")]
    NoGreeting(String),
    #[error("STARTTLS with {0}: {1}")]
    StartTls(String, async_imap::error::Error),
    #[error("login as {user} at {server}: {error}")]
    Login {
        server: String,
        user: String,
        error: async_imap::error::Error,
    },
    #[error("{0}: invalid server name for TLS")]
    ServerName(String),
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Connects, secures, reads the greeting and logs in.
pub async fn open(endpoint: &Endpoint) -> Result<Session<Stream>, ConnectError> {
    let server = format!("{}:{}", endpoint.host, endpoint.port);
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect((endpoint.host.as_str(), endpoint.port)),
    )
    .await
    .map_err(|_| ConnectError::Timeout(server.clone(), CONNECT_TIMEOUT))?
    .map_err(|e| ConnectError::Io(server.clone(), e))?;
    let _ = tcp.set_nodelay(true);
    let client = match endpoint.tls {
        Tls::Implicit => {
            let stream = secure(endpoint, tcp).await?;
            greeted(Client::new(stream), &server).await?
        }
        Tls::None => greeted(Client::new(Stream::Plain(tcp)), &server).await?,
        Tls::StartTls => {
            let mut client = greeted(Client::new(Stream::Plain(tcp)), &server).await?;
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| ConnectError::StartTls(server.clone(), e))?;
            let Stream::Plain(tcp) = client.into_inner() else {
                return Err(ConnectError::NoGreeting(server));
            };
            // No greeting after STARTTLS.
            Client::new(secure(endpoint, tcp).await?)
        }
    };
    client
        .login(&endpoint.username, &endpoint.password)
        .await
        .map_err(|(error, _)| ConnectError::Login {
            server,
            user: endpoint.username.clone(),
            error,
        })
}

async fn secure(endpoint: &Endpoint, tcp: TcpStream) -> Result<Stream, ConnectError> {
    let name = ServerName::try_from(endpoint.host.clone())
        .map_err(|_| ConnectError::ServerName(endpoint.host.clone()))?;
    let tls = TlsConnector::from(endpoint.tls_config.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| ConnectError::Tls(endpoint.host.clone(), e))?;
    Ok(Stream::Tls(Box::new(tls)))
}

async fn greeted(mut client: Client<Stream>, server: &str) -> Result<Client<Stream>, ConnectError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, client.read_response()).await {
        Ok(Ok(Some(_))) => Ok(client),
        Ok(Ok(None)) => Err(ConnectError::NoGreeting(server.to_string())),
        Ok(Err(e)) => Err(ConnectError::Io(server.to_string(), e)),
        Err(_) => Err(ConnectError::Timeout(server.to_string(), CONNECT_TIMEOUT)),
    }
}
