//! Roles and the scopes they grant.
//!
//! A role is what a user is; a scope is what one access token may do. A login
//! may ask for fewer scopes than the user's roles grant, never more.

use std::collections::BTreeSet;

pub const SCOPE_CONTACTS_READ: &str = "contacts.read";
pub const SCOPE_CONTACTS_WRITE: &str = "contacts.write";
pub const SCOPE_USERS_ADMIN: &str = "users.admin";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == text)
    }

    /// Scopes of this role; each role includes those of the roles below it.
    pub fn scopes(self) -> &'static [&'static str] {
        match self {
            Role::Viewer => &[SCOPE_CONTACTS_READ],
            Role::Editor => &[SCOPE_CONTACTS_READ, SCOPE_CONTACTS_WRITE],
            Role::Admin => &[SCOPE_CONTACTS_READ, SCOPE_CONTACTS_WRITE, SCOPE_USERS_ADMIN],
        }
    }
}

/// Returns every scope that `roles` grant.
pub fn scopes_of(roles: &[Role]) -> BTreeSet<&'static str> {
    roles.iter().flat_map(|role| role.scopes().iter().copied()).collect()
}

/// A requested scope the user's roles do not grant, or one that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scope {0:?} is not granted to this account")]
pub struct ScopeNotGranted(pub String);

/// Resolves the space-separated `requested` scope against the user's roles.
/// Without a request the token gets every granted scope.
pub fn grant_scopes(requested: Option<&str>, roles: &[Role]) -> Result<BTreeSet<String>, ScopeNotGranted> {
    let granted = scopes_of(roles);
    let Some(requested) = requested.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok(granted.into_iter().map(str::to_owned).collect());
    };
    requested
        .split_ascii_whitespace()
        .map(|scope| {
            if granted.contains(scope) {
                Ok(scope.to_owned())
            } else {
                Err(ScopeNotGranted(scope.to_owned()))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_cumulative_scopes() {
        assert_eq!(
            scopes_of(&[Role::Viewer]).into_iter().collect::<Vec<_>>(),
            ["contacts.read"]
        );
        assert_eq!(
            scopes_of(&[Role::Editor]).into_iter().collect::<Vec<_>>(),
            ["contacts.read", "contacts.write"]
        );
        assert_eq!(
            scopes_of(&[Role::Admin]).into_iter().collect::<Vec<_>>(),
            ["contacts.read", "contacts.write", "users.admin"]
        );
    }

    #[test]
    fn no_request_grants_everything() {
        let scopes = grant_scopes(None, &[Role::Editor]).unwrap();
        assert_eq!(
            scopes.into_iter().collect::<Vec<_>>(),
            ["contacts.read", "contacts.write"]
        );
        assert_eq!(grant_scopes(Some("  "), &[Role::Viewer]).unwrap().len(), 1);
    }

    #[test]
    fn request_narrows_scopes() {
        let scopes = grant_scopes(Some("contacts.read"), &[Role::Admin]).unwrap();
        assert_eq!(scopes.into_iter().collect::<Vec<_>>(), ["contacts.read"]);
    }

    #[test]
    fn request_beyond_roles_is_rejected() {
        assert_eq!(
            grant_scopes(Some("contacts.read contacts.write"), &[Role::Viewer]),
            Err(ScopeNotGranted("contacts.write".to_owned()))
        );
        assert!(grant_scopes(Some("everything"), &[Role::Admin]).is_err());
    }

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
