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

/// Mail with the link that sets a new password. Sent only to addresses
/// that have an account; the page that requests it responds alike either way.
pub fn password_reset(to: &str, display_name: &str, link: &str, valid_minutes: u64) -> Mail {
    let text = format!(
        "Hello {display_name},\n\n\
         To choose a new password for your account, open the link below:\n\n\
         {link}\n\n\
         The link works once and expires in {valid_minutes} minutes. Setting a new \
         password signs you out everywhere. If you did not ask for this, ignore this \
         message: your password stays as it is.\n"
    );
    let html = format!(
        "<p>Hello {name},</p>\
         <p>To choose a new password for your account, open this link:</p>\
         <p><a href=\"{href}\">Choose a new password</a></p>\
         <p>Or paste this link into your browser: {href}</p>\
         <p>The link works once and expires in {valid_minutes} minutes. Setting a new \
         password signs you out everywhere. If you did not ask for this, ignore this \
         message: your password stays as it is.</p>",
        name = escape_html(display_name),
        href = escape_html(link),
    );
    Mail {
        to: to.to_owned(),
        subject: "Reset your password".to_owned(),
        text,
        html,
    }
}

/// Confirmation that an account and its data are gone.
pub fn account_deleted(to: &str, display_name: &str, register_link: &str) -> Mail {
    let text = format!(
        "Hello {display_name},\n\n\
         Your account and everything stored with it have been deleted, and every \
         device was signed out. This address can register again at any time: \
         {register_link}\n\n\
         If you did not delete your account, someone who knew your password did. \
         Reply to your administrator.\n"
    );
    let html = format!(
        "<p>Hello {name},</p>\
         <p>Your account and everything stored with it have been deleted, and every \
         device was signed out. This address can <a href=\"{href}\">register again</a> \
         at any time.</p>\
         <p>If you did not delete your account, someone who knew your password did. \
         Reply to your administrator.</p>",
        name = escape_html(display_name),
        href = escape_html(register_link),
    );
    Mail {
        to: to.to_owned(),
        subject: "Your account has been deleted".to_owned(),
        text,
        html,
    }
}

/// Notice of a login from a device the account had not used before.
pub fn new_device(to: &str, display_name: &str, device: &str, when: &str, ip: &str, sessions_link: &str) -> Mail {
    let text = format!(
        "Hello {display_name},\n\n\
         Your account was just signed in to from a device it had not used before.\n\n\
         Device: {device}\nTime: {when}\nAddress: {ip}\n\n\
         If this was you, there is nothing to do. If not, end that login and change \
         your password: {sessions_link}\n"
    );
    let html = format!(
        "<p>Hello {name},</p>\
         <p>Your account was just signed in to from a device it had not used before.</p>\
         <p>Device: {device}<br>Time: {when}<br>Address: {ip}</p>\
         <p>If this was you, there is nothing to do. If not, \
         <a href=\"{href}\">end that login</a> and change your password.</p>",
        name = escape_html(display_name),
        device = escape_html(device),
        when = escape_html(when),
        ip = escape_html(ip),
        href = escape_html(sessions_link),
    );
    Mail {
        to: to.to_owned(),
        subject: "New sign-in to your account".to_owned(),
        text,
        html,
    }
}

/// Mail to a new address with the link that confirms an email change.
pub fn email_change(to: &str, display_name: &str, link: &str, valid_hours: u64) -> Mail {
    let text = format!(
        "Hello {display_name},\n\n\
         To use this address for your account from now on, open the link below:\n\n\
         {link}\n\n\
         The link works once and expires in {valid_hours} hours. Until then your \
         account keeps its current address. If you did not ask for this, ignore this message.\n"
    );
    let html = format!(
        "<p>Hello {name},</p>\
         <p>To use this address for your account from now on, open this link:</p>\
         <p><a href=\"{href}\">Confirm my new address</a></p>\
         <p>Or paste this link into your browser: {href}</p>\
         <p>The link works once and expires in {valid_hours} hours. Until then your \
         account keeps its current address. If you did not ask for this, ignore this message.</p>",
        name = escape_html(display_name),
        href = escape_html(link),
    );
    Mail {
        to: to.to_owned(),
        subject: "Confirm your new email address".to_owned(),
        text,
        html,
    }
}

/// Notice to the current address that a change to another one was asked
/// for or made.
pub fn email_change_notice(to: &str, display_name: &str, new_email: &str, done: bool, forgot_link: &str) -> Mail {
    let what = if done {
        "now uses the address {new}. Messages about it go there from now on."
    } else {
        "is about to move to the address {new}. This address stays in use until the new one is confirmed."
    };
    let text = format!(
        "Hello {display_name},\n\nYour account {}\n\n\
         If this was not you, choose a new password at once: {forgot_link}\n",
        what.replace("{new}", new_email)
    );
    let html = format!(
        "<p>Hello {name},</p><p>Your account {}</p>\
         <p>If this was not you, <a href=\"{href}\">choose a new password</a> at once.</p>",
        what.replace("{new}", &escape_html(new_email)),
        name = escape_html(display_name),
        href = escape_html(forgot_link),
    );
    Mail {
        to: to.to_owned(),
        subject: if done {
            "Your email address was changed".to_owned()
        } else {
            "Your email address is about to change".to_owned()
        },
        text,
        html,
    }
}

/// Mail to an address that another account asked to move to, which it
/// cannot because the address has an account already. The requester gets
/// the usual response, so only this mailbox learns of it.
pub fn address_in_use(to: &str, login_link: &str) -> Mail {
    let text = format!(
        "Hello,\n\n\
         Someone asked to move another account to this email address, but this \
         address already has an account, so nothing changed.\n\n\
         To sign in to your account, open {login_link}\n"
    );
    let html = format!(
        "<p>Hello,</p>\
         <p>Someone asked to move another account to this email address, but this \
         address already has an account, so nothing changed.</p>\
         <p><a href=\"{href}\">Sign in</a></p>",
        href = escape_html(login_link),
    );
    Mail {
        to: to.to_owned(),
        subject: "This address already has an account".to_owned(),
        text,
        html,
    }
}

/// Cause of a password replacement, for the notice that follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordReplaced {
    /// Through a mailed reset link: every login ended.
    Reset,
    /// With the current password: every other login ended.
    Changed,
}

/// Notice to the owner that their password was replaced, with what to do
/// if it was not them.
pub fn password_replaced(
    to: &str,
    display_name: &str,
    how: PasswordReplaced,
    when: &str,
    ip: &str,
    forgot_link: &str,
) -> Mail {
    let what = match how {
        PasswordReplaced::Reset => "was reset with a link sent to this address. Every device was signed out.",
        PasswordReplaced::Changed => "was changed. Every other device was signed out.",
    };
    let text = format!(
        "Hello {display_name},\n\n\
         The password of your account {what}\n\n\
         Time: {when}\nAddress: {ip}\n\n\
         If this was not you, choose a new password at once: {forgot_link}\n"
    );
    let html = format!(
        "<p>Hello {name},</p>\
         <p>The password of your account {what}</p>\
         <p>Time: {when}<br>Address: {ip}</p>\
         <p>If this was not you, <a href=\"{href}\">choose a new password</a> at once.</p>",
        name = escape_html(display_name),
        when = escape_html(when),
        ip = escape_html(ip),
        href = escape_html(forgot_link),
    );
    Mail {
        to: to.to_owned(),
        subject: "Your password was changed".to_owned(),
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
