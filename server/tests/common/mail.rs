//! Reads delivered mail: `.eml` files from the outbox or a Maildir.

use std::path::Path;

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
        .filter(|path| path.is_file())
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
