//! Outgoing mail: SMTP when `SMTP_URL` is set, otherwise `.eml` files in an
//! outbox folder so that a fresh checkout works without a mail server.

use std::path::{Path, PathBuf};

use lettre::{
    message::{header::ContentType, Mailbox, MultiPart, SinglePart},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};

use crate::config::SmtpUrl;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid recipient address: {0}")]
    Address(#[from] lettre::address::AddressError),
    #[error("could not build the message: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("SMTP delivery failed: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("could not write to the mail outbox: {0}")]
    Outbox(#[from] std::io::Error),
    #[error("could not create the mail outbox folder {path}: {source}")]
    OutboxFolder { path: String, source: std::io::Error },
    #[error("invalid SMTP_URL: {0}")]
    Url(String),
}

/// Maximum wait for the relay at each step of a delivery. The mail queue's
/// lease is longer, so that no other worker starts on a message meanwhile.
pub const SMTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// A message with a plain-text and an HTML body.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox { dir: PathBuf },
}

#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.transport {
            Transport::Smtp(_) => "smtp",
            Transport::Outbox { .. } => "outbox",
        };
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .field("transport", &kind)
            .finish()
    }
}

impl Mailer {
    /// Sends through the relay named by `url`.
    ///
    /// `smtp://` requires STARTTLS unless the URL has `?tls=opportunistic`
    /// or `?tls=none` (for a relay on the same host); `smtps://` uses TLS
    /// from the first byte. The port defaults to 587 and 465 respectively.
    pub fn smtp(url: &SmtpUrl, from: Mailbox) -> Result<Self, MailError> {
        let url = &url.0;
        let host = url.host_str().ok_or_else(|| MailError::Url("no host".to_owned()))?;
        let tls_mode = url
            .query_pairs()
            .find(|(key, _)| key == "tls")
            .map(|(_, value)| value.into_owned());
        let parameters = || TlsParameters::new(host.to_owned());

        let (tls, default_port) = match (url.scheme(), tls_mode.as_deref()) {
            ("smtps", _) => (Tls::Wrapper(parameters()?), 465),
            (_, Some("none")) => (Tls::None, 587),
            (_, Some("opportunistic")) => (Tls::Opportunistic(parameters()?), 587),
            _ => (Tls::Required(parameters()?), 587),
        };

        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(url.port().unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if !url.username().is_empty() {
            let decode = |text: &str| {
                percent_decode(text)
                    .ok_or_else(|| MailError::Url("credentials are not valid percent-encoding".to_owned()))
            };
            let user = decode(url.username())?;
            let password = decode(url.password().unwrap_or_default())?;
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(Self {
            from,
            transport: Transport::Smtp(builder.build()),
        })
    }

    /// Writes each message as `<id>.eml` under `dir`, creating it if needed.
    /// A message is written to a hidden temporary file first and renamed,
    /// so whatever picks up `.eml` files never reads half a message.
    pub fn outbox(dir: &Path, from: Mailbox) -> Result<Self, MailError> {
        std::fs::create_dir_all(dir).map_err(|source| MailError::OutboxFolder {
            path: dir.display().to_string(),
            source,
        })?;
        Ok(Self {
            from,
            transport: Transport::Outbox { dir: dir.to_owned() },
        })
    }

    pub async fn send(&self, mail: Mail) -> Result<(), MailError> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(mail.to.parse::<Mailbox>()?)
            .subject(mail.subject)
            .multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(mail.text))
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(mail.html)),
            )?;

        match &self.transport {
            Transport::Smtp(transport) => {
                transport.send(message).await?;
                tracing::debug!("mail handed to the SMTP relay");
            }
            Transport::Outbox { dir } => {
                let id = uuid::Uuid::new_v4();
                let partial = dir.join(format!(".{id}.eml.partial"));
                let path = dir.join(format!("{id}.eml"));
                tokio::fs::write(&partial, message.formatted()).await?;
                tokio::fs::rename(&partial, &path).await?;
                tracing::info!(path = %path.display(), "mail written to the outbox");
            }
        }
        Ok(())
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = std::str::from_utf8(bytes.get(index + 1..index + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// Escapes text for an HTML element body or a quoted attribute.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<b a="x">Tom & 'Jerry'</b>"#),
            "&lt;b a=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/b&gt;"
        );
    }

    #[test]
    fn credentials_are_percent_decoded() {
        assert_eq!(percent_decode("p%40ss%2Fword").as_deref(), Some("p@ss/word"));
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("cut%4"), None);
    }

    #[tokio::test]
    async fn outbox_writes_an_eml_file() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::outbox(dir.path(), "Latchkey <no-reply@example.com>".parse().unwrap()).unwrap();
        mailer
            .send(Mail {
                to: "ann@example.com".to_owned(),
                subject: "Hello".to_owned(),
                text: "plain body".to_owned(),
                html: "<p>html body</p>".to_owned(),
            })
            .await
            .unwrap();

        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].extension().unwrap(), "eml");
        let content = std::fs::read_to_string(&files[0]).unwrap();
        assert!(content.contains("To: ann@example.com"), "{content}");
        assert!(content.contains("Subject: Hello"));
        assert!(content.contains("text/plain"));
        assert!(content.contains("text/html"));
    }

    #[tokio::test]
    async fn outbox_accepts_an_internationalised_domain() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::outbox(dir.path(), "Latchkey <no-reply@example.com>".parse().unwrap()).unwrap();
        let mail = Mail {
            to: "ann@bücher.example".to_owned(),
            subject: "Hello".to_owned(),
            text: "plain body".to_owned(),
            html: "<p>html body</p>".to_owned(),
        };
        mailer.send(mail).await.unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
