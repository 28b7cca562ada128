//! The text of the mail Latchkey sends.

use crate::mail::{escape_html, Mail};

/// Mail with the link that verifies a new account's address.
pub fn verification(to: &str, display_name: &str, link: &str, valid_hours: u64) -> Mail {
    let text = format!(
        "Hello {display_name},\n\n\
         Confirm that this is your email address by opening the link below:\n\n\
         {link}\n\n\
         The link works once and expires in {valid_hours} hours. If you did not create \
         an account, ignore this message and no account will be activated.\n"
    );
    let html = format!(
        "<p>Hello {name},</p>\
         <p>Confirm that this is your email address:</p>\
         <p><a href=\"{href}\">Verify my email address</a></p>\
         <p>Or paste this link into your browser: {href}</p>\
         <p>The link works once and expires in {valid_hours} hours. If you did not create \
         an account, ignore this message and no account will be activated.</p>",
        name = escape_html(display_name),
        href = escape_html(link),
    );
    Mail {
        to: to.to_owned(),
        subject: "Verify your email address".to_owned(),
        text,
        html,
    }
}

/// Mail sent instead of a second account when someone registers an address
/// that already has one. The page shows the same response either way, so only
/// the owner of the mailbox learns that the account exists.
pub fn already_registered(to: &str, login_link: &str) -> Mail {
    let text = format!(
        "Hello,\n\n\
         Someone, maybe you, tried to create an account with this email address, \
         but it already has one. No new account was created.\n\n\
         To sign in, open {login_link}\n\n\
         If this was not you, you can ignore this message.\n"
    );
    let html = format!(
        "<p>Hello,</p>\
         <p>Someone, maybe you, tried to create an account with this email address, \
         but it already has one. No new account was created.</p>\
         <p><a href=\"{href}\">Sign in</a></p>\
         <p>If this was not you, you can ignore this message.</p>",
        href = escape_html(login_link),
    );
    Mail {
        to: to.to_owned(),
        subject: "You already have an account".to_owned(),
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_mail_escapes_the_name_in_html() {
        let mail = verification(
            "ann@example.com",
            "<script>",
            "https://example.com/verify-email?token=a&b",
            24,
        );
        assert!(mail.html.contains("&lt;script&gt;"));
        assert!(!mail.html.contains("<script>"));
        assert!(mail.html.contains("token=a&amp;b"));
        assert!(mail.text.contains("https://example.com/verify-email?token=a&b"));
        assert!(mail.text.contains("24 hours"));
    }
}
