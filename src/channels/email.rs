//! Email: building RFC 5322 messages with lettre, then sending them over SMTP or writing them as
//! JSON lines (the dry run).

use std::fmt;
use std::fs::OpenOptions;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message, MultiPart, SinglePart};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use crate::channels::smtp::Smtp;
use crate::channels::{ChannelError, Delivery, EmailSettings, EmailTransportKind, OutgoingEmail};

pub(crate) struct EmailBackend {
    from: Mailbox,
    reply_to: Option<Mailbox>,
    transport: Transport,
}

enum Transport {
    Smtp(Smtp),
    File {
        path: String,
        file: Mutex<tokio::fs::File>,
    },
    Stdout,
}

impl EmailBackend {
    pub(crate) fn new(settings: &EmailSettings) -> Result<EmailBackend, ChannelError> {
        let from =
            parse_mailbox(&settings.from).map_err(|e| ChannelError::invalid("email.from", e))?;
        let reply_to = match &settings.reply_to {
            Some(text) => {
                Some(parse_mailbox(text).map_err(|e| ChannelError::invalid("email.reply_to", e))?)
            }
            None => None,
        };
        let transport = match settings.transport {
            EmailTransportKind::Smtp => Transport::Smtp(Smtp::new(settings)?),
            EmailTransportKind::File => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&settings.file)
                    .map_err(|source| ChannelError::Io {
                        field: "email.file".into(),
                        path: settings.file.clone(),
                        source,
                    })?;
                Transport::File {
                    path: settings.file.clone(),
                    file: Mutex::new(tokio::fs::File::from_std(file)),
                }
            }
            EmailTransportKind::Stdout => Transport::Stdout,
        };
        Ok(EmailBackend {
            from,
            reply_to,
            transport,
        })
    }

    pub(crate) async fn send(&self, email: &OutgoingEmail) -> Delivery {
        let message = match self.build(email) {
            Ok(message) => message,
            Err(error) => return Delivery::permanent(error),
        };
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(&message, &email.to).await,
            Transport::File { path, file } => {
                let line = json_line(email);
                let mut file = file.lock().await;
                let written = async {
                    file.write_all(line.as_bytes()).await?;
                    file.flush().await
                };
                match written.await {
                    Ok(()) => Delivery::Sent {
                        detail: format!("written to {path}"),
                    },
                    Err(error) => Delivery::Transient {
                        error: format!("cannot write to {path}: {error}"),
                    },
                }
            }
            Transport::Stdout => {
                // A short blocking write: stdout is the interactive dry run, not a production path.
                let line = json_line(email);
                match std::io::Write::write_all(&mut std::io::stdout().lock(), line.as_bytes()) {
                    Ok(()) => Delivery::Sent {
                        detail: "written to stdout".into(),
                    },
                    Err(error) => Delivery::Transient {
                        error: format!("cannot write to stdout: {error}"),
                    },
                }
            }
        }
    }

    /// The RFC 5322 message; an `Err` is a permanent problem with this email (bad address or header).
    fn build(&self, email: &OutgoingEmail) -> Result<Message, String> {
        let to = parse_mailbox(&email.to)?;
        let message_id = email
            .message_id
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>');
        if message_id.is_empty() || !message_id.contains('@') || has_space_or_control(message_id) {
            return Err(format!(
                "invalid message_id {:?}: expected e.g. \"abc123@seen\"",
                email.message_id
            ));
        }
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(format!("<{message_id}>")));
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        for (name, value) in &email.headers {
            let header = HeaderName::new_from_ascii(name.clone())
                .map_err(|_| format!("invalid header name {name:?}"))?;
            if value.contains(['\r', '\n']) {
                return Err(format!("header {name}: line breaks are not allowed"));
            }
            builder = builder.raw_header(HeaderValue::new(header, value.clone()));
        }
        let built = match &email.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                html.clone(),
            )),
            None => builder.singlepart(SinglePart::plain(email.text.clone())),
        };
        built.map_err(|e| format!("cannot build the message: {e}"))
    }
}

impl fmt::Debug for EmailBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let transport = match &self.transport {
            Transport::Smtp(smtp) => format!("smtp {}", smtp.server()),
            Transport::File { path, .. } => format!("file {path}"),
            Transport::Stdout => "stdout".into(),
        };
        f.debug_struct("EmailBackend")
            .field("from", &self.from.to_string())
            .field("transport", &transport)
            .finish()
    }
}

fn parse_mailbox(text: &str) -> Result<Mailbox, String> {
    text.trim()
        .parse::<Mailbox>()
        .map_err(|e| format!("invalid address {text:?}: {e}"))
}

fn has_space_or_control(text: &str) -> bool {
    text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// One message as the dry-run transports record it.
fn json_line(email: &OutgoingEmail) -> String {
    let record = serde_json::json!({
        "message_id": email.message_id,
        "to": email.to,
        "subject": email.subject,
        "text": email.text,
        "html": email.html,
        "headers": email.headers,
        "at": jiff::Timestamp::now().to_string(),
    });
    format!("{record}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend() -> EmailBackend {
        EmailBackend {
            from: "Seen <seen@localhost>".parse().expect("from"),
            reply_to: None,
            transport: Transport::Stdout,
        }
    }

    fn email(to: &str) -> OutgoingEmail {
        OutgoingEmail {
            message_id: "m1@seen".into(),
            to: to.into(),
            subject: "Hello".into(),
            text: "hi".into(),
            html: None,
            headers: vec![],
        }
    }

    #[test]
    fn invalid_input_is_rejected_before_sending() {
        let backend = backend();
        let cases = [
            (email("not an address"), "invalid address"),
            (
                OutgoingEmail {
                    message_id: "".into(),
                    ..email("a@x")
                },
                "invalid message_id",
            ),
            (
                OutgoingEmail {
                    headers: vec![("X-Seen-Key".into(), "a\r\nBcc: evil@x".into())],
                    ..email("a@x")
                },
                "line breaks",
            ),
            (
                OutgoingEmail {
                    headers: vec![("Bad Name".into(), "v".into())],
                    ..email("a@x")
                },
                "invalid header name",
            ),
        ];
        for (input, expected) in cases {
            let err = backend.build(&input).err().unwrap_or_default();
            assert!(err.contains(expected), "{input:?}: {err}");
        }
    }

    #[test]
    fn message_has_id_and_extra_headers() {
        let mut input = email("Bob <bob@example.com>");
        input.message_id = "<abc@seen>".into();
        input.headers = vec![("List-Unsubscribe".into(), "<https://u.example/x>".into())];
        input.subject = "Hi\r\nBcc: evil@x.example".into();
        let message = backend().build(&input).expect("build");
        let text = String::from_utf8(message.formatted()).expect("utf8");
        assert!(text.contains("Message-ID: <abc@seen>\r\n"), "{text}");
        assert!(
            !text.contains("\r\nBcc:"),
            "a subject cannot add headers: {text}"
        );
        assert!(
            text.contains("List-Unsubscribe: <https://u.example/x>\r\n"),
            "{text}"
        );
        assert!(
            text.contains("To: \"Bob\" <bob@example.com>\r\n")
                || text.contains("To: Bob <bob@example.com>\r\n"),
            "{text}"
        );
    }
}
