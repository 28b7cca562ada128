//! Rules for new passwords, after NIST SP 800-63B revision 4: a minimum
//! length, no composition rules, any Unicode character, spaces included,
//! NFKC normalisation, and no password that contains the account's own
//! email or name. The list of common passwords is checked on the server
//! only (see `blocklist`), since it is too large to ship to browsers.
//!
//! This module compiles for the browser too, so that the registration form
//! checks and rates a password with the code the server runs again.

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Lowest minimum length an operator may configure. NIST SP 800-63B allows
/// 8 only when the password is one factor of several.
pub const PASSWORD_MIN_CHARS_FLOOR: usize = 8;
/// Default minimum: NIST SP 800-63B revision 4 requires 15 characters for a
/// password that is the only factor, as it is in Latchkey.
pub const DEFAULT_PASSWORD_MIN_CHARS: usize = 15;
pub const PASSWORD_MAX_CHARS: usize = 128;

/// The name of the service, which users must not build a password on.
const SERVICE_NAME: &str = "latchkey";

/// Context words shorter than this are too common inside other words to
/// reject a password for.
const CONTEXT_WORD_MIN_CHARS: usize = 4;

/// The configurable part of the rules, sent to the registration page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordRules {
    pub min_chars: usize,
}

impl Default for PasswordRules {
    fn default() -> Self {
        Self {
            min_chars: DEFAULT_PASSWORD_MIN_CHARS,
        }
    }
}

/// Returns the password in Unicode normalisation form NFKC, the form that
/// is hashed, so that the same password typed on two keyboards (a
/// precomposed `é`, or `e` with a combining accent) is one password.
pub fn normalize_password(password: &str) -> String {
    password.nfkc().collect()
}

/// Facts about the account that its password must not contain.
#[derive(Debug, Clone, Copy, Default)]
pub struct PasswordContext<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
}

impl PasswordContext<'_> {
    /// The words a password must not contain, lowercased.
    fn words(&self) -> Vec<String> {
        let email = self.email.trim().to_lowercase();
        let local_part = email.split('@').next().unwrap_or_default().to_owned();
        let mut words = vec![email, local_part, SERVICE_NAME.to_owned()];
        words.extend(self.display_name.split_whitespace().map(str::to_lowercase));
        words.push(self.display_name.split_whitespace().collect::<String>().to_lowercase());
        words.retain(|word| word.chars().count() >= CONTEXT_WORD_MIN_CHARS);
        words
    }
}

/// Checks a new password against the length rules and the account's
/// context. Length counts characters (Unicode scalar values) after NFKC
/// normalisation. There are no composition rules and no truncation.
pub fn check_new_password(password: &str, rules: PasswordRules, context: PasswordContext<'_>) -> Result<(), String> {
    let normalized = normalize_password(password);
    let length = normalized.chars().count();
    if length < rules.min_chars {
        return Err(format!("Use at least {} characters.", rules.min_chars));
    }
    if length > PASSWORD_MAX_CHARS {
        return Err(format!("Use at most {PASSWORD_MAX_CHARS} characters."));
    }

    let lowered = normalized.to_lowercase();
    if let Some(word) = context.words().into_iter().find(|word| lowered.contains(word.as_str())) {
        return Err(if word == SERVICE_NAME {
            "Don't build the password on the name of this service.".to_owned()
        } else {
            "Don't use your email address or name in the password.".to_owned()
        });
    }
    Ok(())
}

/// Rating of how hard a password looks to guess, for the meter on the
/// registration page. An estimate from length and character variety, not a model of a
/// cracking tool: the server's blocklist catches common passwords that
/// look strong by this measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strength {
    /// Breaks a rule and cannot be used.
    Unusable,
    Weak,
    Fair,
    Good,
    Strong,
}

impl Strength {
    pub fn label(self) -> &'static str {
        match self {
            Self::Unusable => "Too weak to use",
            Self::Weak => "Weak",
            Self::Fair => "Fair",
            Self::Good => "Good",
            Self::Strong => "Strong",
        }
    }

    /// Position on a meter from 0 to 4.
    pub fn level(self) -> u8 {
        self as u8
    }
}

/// Rates a password for the strength meter.
pub fn password_strength(password: &str, rules: PasswordRules, context: PasswordContext<'_>) -> Strength {
    if check_new_password(password, rules, context).is_err() {
        return Strength::Unusable;
    }
    let normalized = normalize_password(password);

    // Bits per character from the classes in use, counted over distinct
    // characters so that `aaaaaaaaaaaaaaaa` scores like `a` repeated.
    let has = |test: fn(&char) -> bool| normalized.chars().any(|character| test(&character));
    let alphabet = [
        (has(char::is_ascii_lowercase), 26.0),
        (has(char::is_ascii_uppercase), 26.0),
        (has(char::is_ascii_digit), 10.0),
        (
            has(|character| character.is_ascii_punctuation() || *character == ' '),
            33.0,
        ),
        (has(|character| !character.is_ascii()), 100.0),
    ]
    .iter()
    .filter(|(present, _)| *present)
    .map(|(_, size)| size)
    .sum::<f64>();
    let mut distinct: Vec<char> = normalized.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    let effective_length = normalized.chars().count().min(distinct.len() * 2) as f64;
    let bits = effective_length * alphabet.log2();

    match bits {
        bits if bits < 50.0 => Strength::Weak,
        bits if bits < 70.0 => Strength::Fair,
        bits if bits < 90.0 => Strength::Good,
        _ => Strength::Strong,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: PasswordRules = PasswordRules { min_chars: 8 };
    const ANN: PasswordContext<'static> = PasswordContext {
        email: "Ann.Lee@example.com",
        display_name: "Ann Leeway",
    };

    #[test]
    fn length_counts_characters_after_nfkc() {
        assert!(check_new_password("1234567", RULES, ANN).is_err());
        assert!(check_new_password("12345678", RULES, ANN).is_ok());
        assert!(check_new_password("ééééééé", RULES, ANN).is_err());
        assert!(check_new_password(&"ü".repeat(128), RULES, ANN).is_ok());
        assert!(check_new_password(&"ü".repeat(129), RULES, ANN).is_err());
        assert!(check_new_password("        ", RULES, ANN).is_ok(), "spaces count");
        // "e" + combining acute accent is one character in NFKC.
        assert!(check_new_password(&"e\u{301}".repeat(7), RULES, ANN).is_err());
    }

    #[test]
    fn minimum_is_configurable() {
        let rules = PasswordRules { min_chars: 15 };
        assert_eq!(
            check_new_password("fourteen chars", rules, ANN),
            Err("Use at least 15 characters.".to_owned())
        );
        assert!(check_new_password("fifteen chars!!", rules, ANN).is_ok());
        assert_eq!(PasswordRules::default().min_chars, 15);
    }

    #[test]
    fn normalization_merges_equivalent_spellings() {
        assert_eq!(normalize_password("caf\u{e9}"), normalize_password("cafe\u{301}"));
        assert_eq!(normalize_password("\u{FB01}sh"), "fish", "ligatures unfold");
        assert_eq!(normalize_password("Pass Word"), "Pass Word", "case and spaces stay");
    }

    #[test]
    fn context_words_are_rejected() {
        for password in [
            "my ann.lee@example.com!",
            "ANN.LEE-is-great",
            "leeway forever and ever",
            "annleeway1234",
            "latchkey password",
        ] {
            assert!(check_new_password(password, RULES, ANN).is_err(), "{password}");
        }
        assert!(
            check_new_password("anna karenina 1877", RULES, ANN).is_ok(),
            "short name parts do not count"
        );
    }

    #[test]
    fn strength_grows_with_length_and_variety() {
        let rate = |password: &str| password_strength(password, RULES, ANN);
        assert_eq!(rate("short"), Strength::Unusable);
        assert_eq!(rate("aaaaaaaaaaaaaaaaaaaa"), Strength::Weak);
        assert_eq!(rate("abcdefgh"), Strength::Weak);
        assert!(rate("horse battery staple") >= Strength::Good);
        assert_eq!(rate("correct horse battery staple 42!"), Strength::Strong);
        assert!(rate("Tr0ub4dor&3") < rate("correct horse battery staple 42!"));
    }
}
