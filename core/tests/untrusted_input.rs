//! Property tests for every parser of untrusted input in the core: emails,
//! redirect targets, forwarding headers, settings and access tokens. Each
//! runs a bounded number of generated cases (a fixed count per property),
//! so `make test` stays fast, and asserts that the parser never panics and
//! that what it accepts keeps its promises.

use std::{net::IpAddr, time::Duration};

use latchkey_core::{
    client_ip::{self, TrustedProxies},
    jwt::KeyRing,
    password_rules::{check_new_password, normalize_password, PasswordContext, PasswordRules},
    store::Store,
    throttle::Rate,
    validate::{local_redirect_target, normalize_email, EMAIL_MAX_CHARS},
};
use proptest::{prelude::*, strategy::ValueTree, test_runner::TestRunner};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2_000,
        ..ProptestConfig::default()
    }
}

/// Text mixing ASCII, the characters that matter to each parser, and any
/// Unicode at all.
fn tricky_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,300}",
        "[ a-zA-Z0-9@.\\-_+/\\\\:;,=\"\\[\\]%#?&\t\r\n\u{0}]{0,80}",
        "[a-z]{1,20}@[a-z0-9\\-]{1,20}\\.[a-z]{2,6}",
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn emails_normalize_to_a_fixed_point(input in tricky_text()) {
        if let Ok(email) = normalize_email(&input) {
            prop_assert_eq!(normalize_email(&email), Ok(email.clone()), "normalising twice changes nothing");
            prop_assert!(email.chars().count() <= EMAIL_MAX_CHARS, "{email:?}");
            prop_assert!(!email.chars().any(|c| c.is_control() || c.is_whitespace()), "{email:?}");
            prop_assert_eq!(email.matches('@').count(), 1);
            prop_assert_eq!(email.to_lowercase(), email.clone());
        }
    }

    #[test]
    fn redirect_targets_never_leave_the_site(input in tricky_text()) {
        if let Some(target) = local_redirect_target(&input) {
            prop_assert!(target.starts_with('/'));
            prop_assert!(!target.starts_with("//") && !target.starts_with("/\\"));
            prop_assert!(!target.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\'));
        }
    }

    #[test]
    fn forwarding_headers_cannot_spoof_an_untrusted_peer(
        peer_octet in 0u8..=255,
        forwarded in tricky_text(),
        forwarded_for in tricky_text(),
    ) {
        let trusted: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let peer = IpAddr::from([10, 0, 0, peer_octet]);
        // Behind a trusted proxy any header content resolves to some address.
        client_ip::resolve(peer, [forwarded.as_str()], [forwarded_for.as_str()], &trusted);

        let outsider = IpAddr::from([203, 0, 113, peer_octet]);
        prop_assert_eq!(
            client_ip::resolve(outsider, [forwarded.as_str()], [forwarded_for.as_str()], &trusted),
            outsider
        );
    }

    #[test]
    fn settings_parsers_never_panic(input in tricky_text()) {
        if let Ok(rate) = input.parse::<Rate>() {
            prop_assert!(rate.count > 0 && rate.period > Duration::ZERO);
        }
        let _ = input.parse::<TrustedProxies>();
    }

    #[test]
    fn passwords_are_checked_on_their_normal_form(input in ".{0,200}") {
        let rules = PasswordRules { min_chars: 8 };
        let context = PasswordContext { email: "ann@example.com", display_name: "Ann" };
        prop_assert_eq!(
            check_new_password(&input, rules, context),
            check_new_password(&normalize_password(&input), rules, context),
        );
    }
}

/// Random strings and altered copies of a valid token never verify, and
/// never panic the verifier.
#[tokio::test]
async fn access_tokens_from_strangers_never_verify() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = Store::connect(&url).await.unwrap();
    let keys = KeyRing::load(
        store,
        "http://127.0.0.1".to_owned(),
        "latchkey-api".to_owned(),
        Duration::from_secs(900),
    )
    .await
    .unwrap();
    let (valid, _) = keys.issue("user", "family", "contacts.read").unwrap();

    let mut runner = TestRunner::deterministic();
    let random = prop_oneof![
        ".{0,600}",
        "[A-Za-z0-9_\\-]{0,200}\\.[A-Za-z0-9_\\-]{0,400}\\.[A-Za-z0-9_\\-]{0,100}"
    ];
    for _ in 0..1_000 {
        let token = random.new_tree(&mut runner).unwrap().current();
        assert!(keys.verify(&token).await.is_err(), "{token:?}");
    }

    let positions = 0..valid.len();
    let replacement = proptest::char::range('!', '~');
    for _ in 0..1_000 {
        let position = positions.new_tree(&mut runner).unwrap().current();
        let character = replacement.new_tree(&mut runner).unwrap().current();
        let mut altered: Vec<char> = valid.chars().collect();
        if altered[position] == character {
            continue;
        }
        altered[position] = character;
        let altered: String = altered.into_iter().collect();
        // Base64url ignores the spare low bits of a final character, so a
        // change there can leave the signature intact: only a token that
        // decodes to the same bytes may verify.
        if let Ok(claims) = keys.verify(&altered).await {
            assert_eq!(position, valid.len() - 1, "{altered}");
            assert_eq!(claims.sub, "user");
        }
    }
}
