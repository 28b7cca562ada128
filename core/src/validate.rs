//! Input rules for account fields.
//!
//! This module compiles without the `server` feature so that the hydrated
//! browser app checks a form with the very functions the server runs again
//! on submit. The server's verdict is the one that counts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::password_rules::{check_new_password, PasswordContext, PasswordRules};

/// Maximum email address length that fits the SMTP path limit (RFC 5321, 4.5.3.1.3).
pub const EMAIL_MAX_CHARS: usize = 254;
/// Maximum length of the local part, the text before the `@` (RFC 5321, 4.5.3.1.1).
pub const EMAIL_LOCAL_MAX_CHARS: usize = 64;
pub const DISPLAY_NAME_MAX_CHARS: usize = 100;
pub use crate::password_rules::PASSWORD_MAX_CHARS;

/// Names of the form fields, shared by the server functions and the pages.
pub mod field {
    pub const EMAIL: &str = "email";
    pub const DISPLAY_NAME: &str = "display_name";
    pub const PASSWORD: &str = "password";
    pub const CURRENT_PASSWORD: &str = "current_password";
    pub const NEW_PASSWORD: &str = "new_password";
}

/// Validation messages keyed by form field name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, field: &str, message: impl Into<String>) {
        self.0.insert(field.to_owned(), message.into());
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(field, message)| (field.as_str(), message.as_str()))
    }

    /// Records the error of `result`, if any, under `field`, and returns the
    /// valid value.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.insert(field, message);
                None
            }
        }
    }
}

/// Returns the canonical form of an email address: trimmed, in Unicode
/// normalisation form NFKC, lowercased, with the domain in Unicode rather
/// than punycode.
///
/// Accounts are looked up by this form, so spellings that mail systems
/// treat as one address name one account: `Ann@Example.com `,
/// `ａｎｎ@ｅｘａｍｐｌｅ.ｃｏｍ` (full-width) and `ann@example.com`, or
/// `ann@xn--bcher-kva.example` and `ann@bücher.example`. Characters that
/// merely look alike, such as a Cyrillic `а` for a Latin `a`, stay distinct,
/// because they are distinct addresses. Control characters, spaces inside
/// the address and more than one `@` are rejected.
pub fn normalize_email(input: &str) -> Result<String, String> {
    let normalized: String = input.trim().nfkc().collect();
    let email = normalized.as_str();
    if email.is_empty() {
        return Err("Enter your email address.".to_owned());
    }
    if email.chars().count() > EMAIL_MAX_CHARS {
        return Err(format!("An email address has at most {EMAIL_MAX_CHARS} characters."));
    }
    if email.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("An email address cannot contain spaces or control characters.".to_owned());
    }

    let Some((local, domain)) = email.split_once('@') else {
        return Err("Enter an email address such as name@example.com.".to_owned());
    };
    let well_formed = !local.is_empty()
        && local.chars().count() <= EMAIL_LOCAL_MAX_CHARS
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && !domain.contains('@')
        && is_domain(domain);
    if !well_formed {
        return Err("Enter an email address such as name@example.com.".to_owned());
    }

    let (domain, conversion) = idna::domain_to_unicode(&domain.to_lowercase());
    if conversion.is_err() {
        return Err("The domain of this email address is not valid.".to_owned());
    }
    let email = format!("{}@{domain}", local.to_lowercase());
    // Lowercasing and decoding punycode change the length, so it is
    // checked again on the form that is stored.
    if email.chars().count() > EMAIL_MAX_CHARS {
        return Err(format!("An email address has at most {EMAIL_MAX_CHARS} characters."));
    }
    Ok(email)
}

/// Accepts dotted names whose labels are 1 to 63 characters of letters
/// (any script), digits and inner hyphens. A bare host such as `localhost`
/// cannot receive mail from the internet, so one dot at least is required.
fn is_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            let length = label.chars().count();
            (1..=63).contains(&length)
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

/// Returns the display name with surrounding spaces removed.
pub fn normalize_display_name(input: &str) -> Result<String, String> {
    let name = input.trim();
    if name.is_empty() {
        return Err("Enter a display name.".to_owned());
    }
    if name.chars().count() > DISPLAY_NAME_MAX_CHARS {
        return Err(format!(
            "A display name has at most {DISPLAY_NAME_MAX_CHARS} characters."
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("A display name cannot contain control characters.".to_owned());
    }
    Ok(name.to_owned())
}

/// A registration whose fields passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRegistration {
    pub email: String,
    pub display_name: String,
}

/// Checks all registration fields at once, so the form can show every
/// problem in one round trip.
pub fn validate_registration(
    email: &str,
    display_name: &str,
    password: &str,
    rules: PasswordRules,
) -> Result<ValidRegistration, FieldErrors> {
    let mut errors = FieldErrors::new();
    let context = PasswordContext { email, display_name };
    errors.check(field::PASSWORD, check_new_password(password, rules, context));
    let email = errors.check(field::EMAIL, normalize_email(email));
    let display_name = errors.check(field::DISPLAY_NAME, normalize_display_name(display_name));

    match (email, display_name) {
        (Some(email), Some(display_name)) if errors.is_empty() => Ok(ValidRegistration { email, display_name }),
        _ => Err(errors),
    }
}

/// Longest `next` target accepted after login.
const REDIRECT_TARGET_MAX_CHARS: usize = 2_048;

/// Returns `next` when it is a path on this site, for the redirect after
/// login, and `None` otherwise.
///
/// Only a single leading `/` followed by a path is accepted. `//host` and
/// `/\host` are read by browsers as links to another site, and a scheme
/// such as `https:` or `javascript:` would leave the site, so they are
/// rejected, as are control characters and whitespace.
pub fn local_redirect_target(next: &str) -> Option<&str> {
    let mut characters = next.chars();
    let starts_like_a_path = characters.next() == Some('/') && !matches!(characters.next(), Some('/' | '\\'));
    let plain = next
        .chars()
        .all(|character| !character.is_control() && !character.is_whitespace() && character != '\\');
    (starts_like_a_path && plain && next.len() <= REDIRECT_TARGET_MAX_CHARS).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lowercased() {
        assert_eq!(
            normalize_email("  Ann.Lee@Example.COM ").unwrap(),
            "ann.lee@example.com"
        );
    }

    #[test]
    fn email_spellings_of_one_address_merge() {
        let canonical = "ann@example.com";
        for spelling in [
            "ann@example.com",
            "  ANN@Example.COM\t",
            "\u{FF41}\u{FF4E}\u{FF4E}@\u{FF45}\u{FF58}\u{FF41}\u{FF4D}\u{FF50}\u{FF4C}\u{FF45}.com",
            "ann@EXAMPLE.com",
        ] {
            assert_eq!(normalize_email(spelling).unwrap(), canonical, "{spelling:?}");
        }
        assert_eq!(
            normalize_email("ann@xn--bcher-kva.example").unwrap(),
            normalize_email("Ann@Bücher.example").unwrap()
        );
        assert_eq!(
            normalize_email("\u{212A}im@example.com").unwrap(),
            "kim@example.com",
            "Kelvin sign"
        );
        assert_ne!(
            normalize_email("\u{430}nn@example.com").unwrap(),
            canonical,
            "a Cyrillic look-alike is another address"
        );
        assert!(normalize_email("ann@xn--zz.example").is_err(), "invalid punycode");
    }

    #[test]
    fn email_accepts_internationalised_domain() {
        assert_eq!(normalize_email("ann@Bücher.example").unwrap(), "ann@bücher.example");
    }

    #[test]
    fn email_rejects_malformed_addresses() {
        let cases = [
            "",
            "   ",
            "ann",
            "ann@",
            "@example.com",
            "ann@localhost",
            "ann@@example.com",
            "ann@exa mple.com",
            "ann\u{0}@example.com",
            "ann@example..com",
            "ann@-example.com",
            ".ann@example.com",
            "a..b@example.com",
        ];
        for case in cases {
            assert!(normalize_email(case).is_err(), "accepted {case:?}");
        }
    }

    #[test]
    fn email_length_limits() {
        let local = "a".repeat(64);
        let domain = format!("{}.com", "b".repeat(63));
        assert!(normalize_email(&format!("{local}@{domain}")).is_ok());
        assert!(normalize_email(&format!("a{local}@{domain}")).is_err());

        let long_domain = ["c".repeat(63), "d".repeat(63), "e".repeat(63), "f".repeat(60)].join(".");
        let too_long = format!("ann@{long_domain}");
        assert!(too_long.chars().count() > EMAIL_MAX_CHARS);
        assert!(normalize_email(&too_long).is_err());
    }

    #[test]
    fn display_name_limits() {
        assert_eq!(normalize_display_name("  Ann  ").unwrap(), "Ann");
        assert!(normalize_display_name("").is_err());
        assert!(normalize_display_name(" \t ").is_err());
        assert!(normalize_display_name(&"é".repeat(100)).is_ok());
        assert!(normalize_display_name(&"é".repeat(101)).is_err());
        assert!(normalize_display_name("Ann\u{7}").is_err());
    }

    #[test]
    fn registration_reports_every_field() {
        let errors = validate_registration("nope", "", "short", PasswordRules::default()).unwrap_err();
        assert!(errors.get(field::EMAIL).is_some());
        assert!(errors.get(field::DISPLAY_NAME).is_some());
        assert!(errors.get(field::PASSWORD).is_some());
    }

    #[test]
    fn registration_rejects_password_with_the_email() {
        let errors = validate_registration(
            "ann.lee@example.com",
            "Ann",
            "ann.lee@example.com is me",
            PasswordRules::default(),
        )
        .unwrap_err();
        assert_eq!(
            errors.get(field::PASSWORD),
            Some("Don't use your email address or name in the password.")
        );
        assert_eq!(errors.iter().count(), 1);
    }

    #[test]
    fn registration_returns_normalized_fields() {
        let valid = validate_registration(
            " Ann@Example.com",
            " Ann ",
            "correct horse battery",
            PasswordRules::default(),
        )
        .unwrap();
        assert_eq!(valid.email, "ann@example.com");
        assert_eq!(valid.display_name, "Ann");
    }

    #[test]
    fn redirect_targets_stay_on_the_site() {
        for accepted in ["/", "/account", "/account?saved=1", "/a/b#part", "/%2F%2Fevil.example"] {
            assert_eq!(local_redirect_target(accepted), Some(accepted), "{accepted}");
        }
        let long = format!("/{}", "a".repeat(REDIRECT_TARGET_MAX_CHARS));
        for rejected in [
            "",
            "account",
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "/\tevil",
            "/account\r\nSet-Cookie: a=b",
            "/a b",
            "/a\\b",
            long.as_str(),
        ] {
            assert_eq!(local_redirect_target(rejected), None, "{rejected:?}");
        }
    }
}
