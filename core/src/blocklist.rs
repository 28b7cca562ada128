//! The list of common passwords that new passwords are checked against.
//! It contains the 100,000 most common entries of at least 8 characters in the
//! SecLists 10 million password list. The header of
//! `data/common-passwords.txt` names its source and licence, and
//! `scripts/update-password-blocklist.sh` rebuilds it.

use std::sync::OnceLock;

use crate::password_rules::normalize_password;

static LIST: &str = include_str!("../data/common-passwords.txt");

/// Returns the entries, sorted, borrowed from the embedded file.
fn entries() -> &'static [&'static str] {
    static ENTRIES: OnceLock<Vec<&'static str>> = OnceLock::new();
    ENTRIES.get_or_init(|| LIST.lines().filter(|line| !line.starts_with('#')).collect())
}

/// Returns whether the password, normalised and lowercased, is on the list.
/// The whole password must match, which is what NIST SP 800-63B requires.
pub fn is_common_password(password: &str) -> bool {
    let candidate = normalize_password(password).to_lowercase();
    entries().binary_search(&candidate.as_str()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_has_at_least_100000_sorted_entries() {
        let entries = entries();
        assert!(entries.len() >= 100_000, "{}", entries.len());
        assert!(entries.windows(2).all(|pair| pair[0] < pair[1]), "sorted and unique");
    }

    #[test]
    fn common_passwords_are_found_in_any_case() {
        for password in ["password", "Password1", "12345678", "iloveyou", "QWERTYUIOP"] {
            assert!(is_common_password(password), "{password}");
        }
        for password in ["correct horse battery", "ann-lee-2026-blue-kettle", ""] {
            assert!(!is_common_password(password), "{password}");
        }
    }
}
