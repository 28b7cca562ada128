//! Delivered mail: `.eml` files from the outbox or a Maildir, and a real
//! SMTP server process to receive it.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct ReceivedMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Modification time, to order messages.
    modified: std::time::SystemTime,
}

impl ReceivedMail {
    pub fn parse(bytes: &[u8], modified: std::time::SystemTime) -> Self {
        let message = mail_parser::MessageParser::default()
            .parse(bytes)
            .expect("a MIME message");
        let to = message
            .to()
            .and_then(|to| to.first())
            .and_then(|address| address.address())
            .unwrap_or_default()
            .to_owned();
        Self {
            to,
            subject: message.subject().unwrap_or_default().to_owned(),
            text: message.body_text(0).unwrap_or_default().into_owned(),
            html: message.body_html(0).unwrap_or_default().into_owned(),
            modified,
        }
    }

    /// Returns the `token` query parameter of the first link in the text body.
    pub fn token(&self) -> Option<String> {
        let start = self.text.find("token=")? + "token=".len();
        let token: String = self.text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        Some(token)
    }
}

/// Parses every message file directly in `dir`, oldest first.
pub fn read_dir_mails(dir: &Path) -> Vec<ReceivedMail> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut mails: Vec<ReceivedMail> = entries
        .map(|entry| entry.unwrap().path())
        // Hidden files are messages still being written.
        .filter(|path| path.is_file() && !path.file_name().unwrap().to_string_lossy().starts_with('.'))
        .map(|path| {
            let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
            ReceivedMail::parse(&std::fs::read(&path).unwrap(), modified)
        })
        .collect();
    mails.sort_by_key(|mail| mail.modified);
    mails
}

pub fn read_outbox(dir: &Path) -> Vec<ReceivedMail> {
    read_dir_mails(dir)
}

/// Waits until the outbox contains at least `count` messages, for mail that
/// the server sends after its response. Panics after five seconds.
pub async fn wait_for_outbox(dir: &Path, count: usize) -> Vec<ReceivedMail> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mails = read_outbox(dir);
        if mails.len() >= count {
            return mails;
        }
        assert!(
            Instant::now() < deadline,
            "expected {count} mails in the outbox, found {}",
            mails.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `smtp` has received `count` messages, and returns them.
pub async fn wait_for_mail(smtp: &SmtpServer, count: usize) -> Vec<ReceivedMail> {
    let started = Instant::now();
    loop {
        let mails = smtp.received();
        if mails.len() >= count {
            return mails;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "expected {count} mails, got {}",
            mails.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An aiosmtpd process that stores received mail in a Maildir.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    maildir: tempfile::TempDir,
}

impl SmtpServer {
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts the server on a chosen port, such as one a relay was expected
    /// on before it came up.
    pub fn start_on(port: u16) -> Self {
        let python = std::env::var("SMTP_SERVER_PYTHON")
            .expect("SMTP_SERVER_PYTHON must name a Python with aiosmtpd installed; `make test` sets it up");
        let maildir = tempfile::tempdir().unwrap();
        let child = Command::new(python)
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(15), "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child, port, maildir }
    }

    pub fn received(&self) -> Vec<ReceivedMail> {
        read_dir_mails(&self.maildir.path().join("mail").join("new"))
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
