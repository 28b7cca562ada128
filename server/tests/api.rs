//! The JSON API over real HTTP on loopback against a real SQLite file.

mod common;

use common::{TestServer, PASSWORD};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

fn refresh_token(tokens: &Value) -> &str {
    tokens["refresh_token"].as_str().unwrap()
}

async fn me(server: &TestServer, token: &str) -> (StatusCode, Value) {
    let (status, _, body) = server.api(Method::GET, "/api/auth/me", None, Some(token)).await;
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_verify_login_me() {
    let server = TestServer::start().await;

    let (status, user) = server
        .api_post(
            "/api/auth/register",
            json!({"email": " Ann@Example.com", "password": PASSWORD, "name": " Ann Lee "}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(user["name"], "Ann Lee");
    assert_eq!(user["email_verified"], false);
    let id = user["id"].as_str().unwrap().to_owned();
    assert_eq!(server.count("SELECT COUNT(*) FROM users").await, 1);

    let (status, error) = server
        .api_post(
            "/api/auth/login",
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error["error"], "email_not_verified");

    let token = server.latest_token_for("ann@example.com").await;
    let (status, body) = server.api_post("/api/auth/verify-email", json!({"token": token})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["email_verified"], true);

    let (status, headers, tokens) = server
        .api(
            Method::POST,
            "/api/auth/login",
            Some(json!({"email": "ann@example.com", "password": PASSWORD})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["scope"], "contacts.read");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(refresh_token(&tokens).len() >= 43, "at least 256 bits");

    let (status, body) = me(&server, access(&tokens)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["email"], "ann@example.com");
    assert_eq!(body["roles"], json!(["viewer"]));
    assert_eq!(body["scopes"], json!(["contacts.read"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_token_claims() {
    let server = TestServer::start().await;
    let tokens = server.api_login("ann@example.com", None).await;
    let token = access(&tokens);

    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    let kid = header.kid.expect("kid");
    let (status, _, jwks) = server.api(Method::GET, "/.well-known/jwks.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"], kid.as_str());
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    assert!(keys[0].get("d").is_none(), "no private part in the JWKS");

    let payload: Value = {
        use base64::Engine;
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    };
    assert_eq!(payload["iss"], server.base.as_str());
    assert_eq!(payload["aud"], "latchkey-api");
    assert_eq!(payload["scope"], "contacts.read");
    for claim in ["sub", "exp", "iat", "jti", "sid"] {
        assert!(payload.get(claim).is_some(), "claim {claim}");
    }
    assert_eq!(payload["exp"].as_i64().unwrap() - payload["iat"].as_i64().unwrap(), 900);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_failures_look_alike() {
    let server = TestServer::start().await;
    server.api_login("ann@example.com", None).await;

    let (status_wrong, wrong) = server
        .api_post(
            "/api/auth/login",
            json!({"email": "ann@example.com", "password": "wrong password"}),
        )
        .await;
    let (status_unknown, unknown) = server
        .api_post(
            "/api/auth/login",
            json!({"email": "bob@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status_wrong, StatusCode::UNAUTHORIZED);
    assert_eq!(status_unknown, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["error"], "invalid_credentials");
    assert_eq!(server.count("SELECT COUNT(*) FROM sessions").await, 1);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE kind = 'login_failed'")
            .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_beyond_roles_is_rejected() {
    let server = TestServer::start().await;
    server.api_login("ann@example.com", None).await;
    let (status, body) = server
        .api_post(
            "/api/auth/login",
            json!({"email": "ann@example.com", "password": PASSWORD, "scope": "contacts.read contacts.write"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_scope");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_old_token_fails() {
    let server = TestServer::start().await;
    let first = server.api_login("ann@example.com", None).await;

    let (status, second) = server
        .api_post("/api/auth/refresh", json!({"refresh_token": refresh_token(&first)}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(refresh_token(&second), refresh_token(&first));
    assert_ne!(access(&second), access(&first));
    assert_eq!(me(&server, access(&second)).await.0, StatusCode::OK);

    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM refresh_tokens")
        .fetch_all(&server.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    for hash in &stored {
        assert_ne!(
            hash.as_slice(),
            refresh_token(&second).as_bytes(),
            "refresh tokens are stored as hashes"
        );
    }

    let (status, third) = server
        .api_post("/api/auth/refresh", json!({"refresh_token": refresh_token(&second)}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me(&server, access(&third)).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_refresh_token_revokes_family() {
    let server = TestServer::start().await;
    let first = server.api_login("ann@example.com", None).await;
    let (_, second) = server
        .api_post("/api/auth/refresh", json!({"refresh_token": refresh_token(&first)}))
        .await;

    let (status, body) = server
        .api_post("/api/auth/refresh", json!({"refresh_token": refresh_token(&first)}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");

    let (status, _) = server
        .api_post("/api/auth/refresh", json!({"refresh_token": refresh_token(&second)}))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the newest refresh token of the family is revoked too"
    );
    let (status, _) = me(&server, access(&second)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "live access tokens of the family are rejected"
    );
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE kind = 'refresh_token_reused'")
            .await,
        1
    );
    assert_eq!(server.count("SELECT COUNT(*) FROM sessions").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refresh_only_one_succeeds() {
    let server = TestServer::start().await;
    for round in 0..5 {
        let tokens = server.api_login_existing_or_new("ann@example.com", round == 0).await;
        let presented = refresh_token(&tokens).to_owned();
        let body = json!({"refresh_token": presented});
        let (first, second) = tokio::join!(
            server.api_post("/api/auth/refresh", body.clone()),
            server.api_post("/api/auth/refresh", body.clone())
        );
        let successes = [first.0, second.0]
            .iter()
            .filter(|status| **status == StatusCode::OK)
            .count();
        assert_eq!(successes, 1, "round {round}: {first:?} {second:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_live_access_token() {
    let server = TestServer::start().await;
    let tokens = server.api_login("ann@example.com", None).await;
    let other = server.api_login_existing("ann@example.com", None).await;

    let (status, _, body) = server
        .api(Method::POST, "/api/auth/logout", None, Some(access(&tokens)))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);

    let (status, body) = me(&server, access(&tokens)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_token");
    let (status, _) = server
        .api_post("/api/auth/refresh", json!({"refresh_token": refresh_token(&tokens)}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        me(&server, access(&other)).await.0,
        StatusCode::OK,
        "other logins are untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_access_tokens_are_rejected() {
    let server = TestServer::start().await;
    let tokens = server.api_login("ann@example.com", None).await;
    let valid = access(&tokens).to_owned();
    let claims: Value = {
        use base64::Engine;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(valid.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    let (kid, private_key): (String, Vec<u8>) = sqlx::query_as("SELECT kid, private_key FROM signing_keys")
        .fetch_one(&server.db)
        .await
        .unwrap();
    let key = EncodingKey::from_ed_der(&private_key);
    let sign = |claims: &Value, kid: Option<&str>| {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = kid.map(str::to_owned);
        encode(&header, claims, &key).unwrap()
    };

    let b64 = |value: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
    };
    let alg_none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims));
    let hs256 = encode(
        &Header {
            kid: Some(kid.clone()),
            ..Header::new(Algorithm::HS256)
        },
        &claims,
        &EncodingKey::from_secret(b"guessable secret"),
    )
    .unwrap();
    let mut bad_signature = valid.clone();
    let last = bad_signature.pop().unwrap();
    bad_signature.push(if last == 'A' { 'B' } else { 'A' });
    let mut wrong_audience = claims.clone();
    wrong_audience["aud"] = "someone-else".into();
    let mut expired = claims.clone();
    expired["exp"] = (claims["iat"].as_i64().unwrap() - 60).into();
    let mut wrong_issuer = claims.clone();
    wrong_issuer["iss"] = "https://evil.example".into();

    let cases = [
        ("alg none", alg_none),
        ("HS256", hs256),
        ("unknown kid", sign(&claims, Some("no-such-key"))),
        ("missing kid", sign(&claims, None)),
        ("bad signature", bad_signature),
        ("wrong audience", sign(&wrong_audience, Some(&kid))),
        ("wrong issuer", sign(&wrong_issuer, Some(&kid))),
        ("expired", sign(&expired, Some(&kid))),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (case, token) in &cases {
        let (status, headers, body) = server.api(Method::GET, "/api/auth/me", None, Some(token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(body["error"], "invalid_token", "{case}");
        assert!(
            headers["www-authenticate"]
                .to_str()
                .unwrap()
                .contains(r#"error="invalid_token""#),
            "{case}"
        );
    }

    assert_eq!(
        me(&server, &sign(&claims, Some(&kid))).await.0,
        StatusCode::OK,
        "the re-signed valid claims pass"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_invalid_and_insufficient_tokens() {
    let server = TestServer::start().await;
    let tokens = server.api_login("ann@example.com", None).await;

    let (status, headers, body) = server.api(Method::GET, "/api/contacts", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], r#"Bearer realm="latchkey""#);
    assert_eq!(body["error"], "invalid_token");

    let (status, headers, _) = server.api(Method::GET, "/api/contacts", None, Some("nonsense")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers["www-authenticate"],
        r#"Bearer realm="latchkey", error="invalid_token""#
    );

    let (status, _, body) = server
        .api(Method::GET, "/api/contacts", None, Some(access(&tokens)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!([]));

    let new_contact = json!({"name": "Bob", "email": "bob@example.com"});
    let (status, headers, body) = server
        .api(Method::POST, "/api/contacts", Some(new_contact), Some(access(&tokens)))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        headers["www-authenticate"],
        r#"Bearer realm="latchkey", error="insufficient_scope", scope="contacts.write""#
    );
    assert_eq!(body["error"], "insufficient_scope");
    assert_eq!(server.count("SELECT COUNT(*) FROM contacts").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_role_change_takes_effect_for_new_tokens() {
    let server = TestServer::start().await;
    let ann = server.api_login("ann@example.com", None).await;
    let bob = server.api_login("bob@example.com", None).await;
    let bob_id = me(&server, access(&bob)).await.1["id"].as_str().unwrap().to_owned();
    let path = format!("/api/admin/users/{bob_id}/roles");

    let (status, _, _) = server
        .api(
            Method::PUT,
            &path,
            Some(json!({"roles": ["editor"]})),
            Some(access(&ann)),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a viewer cannot change roles");

    let ann_id = me(&server, access(&ann)).await.1["id"].as_str().unwrap().to_owned();
    sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, 'admin')")
        .bind(&ann_id)
        .execute(&server.db)
        .await
        .unwrap();
    let admin = server.api_login_existing("ann@example.com", None).await;
    assert_eq!(admin["scope"], "contacts.read contacts.write users.admin");

    let (status, _, body) = server
        .api(
            Method::PUT,
            &path,
            Some(json!({"roles": ["editor", "editor"]})),
            Some(access(&admin)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["roles"], json!(["editor"]));
    let (status, _, body) = server
        .api(
            Method::PUT,
            &path,
            Some(json!({"roles": ["root"]})),
            Some(access(&admin)),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, _) = server
        .api(
            Method::PUT,
            "/api/admin/users/no-such-user/roles",
            Some(json!({"roles": []})),
            Some(access(&admin)),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _, _) = server
        .api(
            Method::POST,
            "/api/contacts",
            Some(json!({"name": "Cy"})),
            Some(access(&bob)),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the old token keeps its old scopes");
    let bob_editor = server.api_login_existing("bob@example.com", None).await;
    assert_eq!(bob_editor["scope"], "contacts.read contacts.write");
    let (status, _, contact) = server
        .api(
            Method::POST,
            "/api/contacts",
            Some(json!({"name": " Cy ", "email": "Cy@Example.com"})),
            Some(access(&bob_editor)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    assert_eq!(contact["name"], "Cy");
    assert_eq!(contact["email"], "cy@example.com");
    let (_, _, list) = server
        .api(Method::GET, "/api/contacts", None, Some(access(&bob_editor)))
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, _, ann_list) = server
        .api(Method::GET, "/api/contacts", None, Some(access(&admin)))
        .await;
    assert_eq!(ann_list, json!([]), "contacts are per user");

    let (status, refreshed) = server
        .api_post(
            "/api/auth/refresh",
            json!({"refresh_token": refresh_token(&bob_editor)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(refreshed["scope"], "contacts.read contacts.write");
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role = 'editor'")
        .bind(&bob_id)
        .execute(&server.db)
        .await
        .unwrap();
    let (_, narrowed) = server
        .api_post("/api/auth/refresh", json!({"refresh_token": refresh_token(&refreshed)}))
        .await;
    assert_eq!(narrowed["scope"], "", "a removed role is gone at the next refresh");
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE kind = 'roles_changed'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_stores_nothing() {
    let server = TestServer::start().await;
    let register = "/api/auth/register";

    let (status, body) = server.api_raw(register, "text/plain", b"email=a".to_vec()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["error"], "unsupported_media_type");

    let (status, body) = server
        .api_raw(register, "application/json", b"{\"email\": ".to_vec())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");

    let (status, body) = server
        .api_raw(
            register,
            "application/json",
            br#"{"email": 5, "password": "x", "name": "y"}"#.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("email"), "{body}");

    let (status, body) = server
        .api_raw(
            register,
            "application/json",
            br#"{"email": "ann@example.com", "name": "Ann"}"#.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("password"), "{body}");

    let huge = json!({"email": "ann@example.com", "password": "p".repeat(20_000), "name": "Ann"});
    let (status, body) = server
        .api_raw(register, "application/json", huge.to_string().into_bytes())
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"], "payload_too_large");

    let long_email = format!("{}@example.com", "a".repeat(300));
    let (status, body) = server
        .api_post(
            register,
            json!({"email": long_email, "password": PASSWORD, "name": "Ann"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["fields"]["email"].is_string(), "{body}");

    let (status, body) = server
        .api_post(
            register,
            json!({"email": "ann@example.com", "password": PASSWORD, "name": "x".repeat(101)}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["fields"]["name"].is_string(), "{body}");

    let (status, body) = server
        .api_post(
            register,
            json!({"email": "ann@example.com", "password": "short", "name": "Ann\u{0}"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["fields"]["password"].is_string(), "{body}");
    assert!(body["fields"]["name"].is_string(), "{body}");

    let (status, body) = server
        .api_raw("/api/auth/login", "application/json", vec![0xff, 0xfe, b'{'])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, body) = server
        .api_post(
            "/api/auth/login",
            json!({"email": "ann@example.com", "password": "p".repeat(600)}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["fields"]["password"].is_string(), "{body}");

    assert_eq!(server.count("SELECT COUNT(*) FROM users").await, 0);
    let (status, _, body) = server.api(Method::GET, "/api/no-such-endpoint", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_existing_email_answers_the_same() {
    let server = TestServer::start().await;
    server.api_login("ann@example.com", None).await;
    let (status, body) = server
        .api_post(
            "/api/auth/register",
            json!({"email": "ANN@example.com", "password": "another long password", "name": "Eve"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["email"], "ann@example.com");
    assert_eq!(body["email_verified"], false);
    assert_eq!(server.count("SELECT COUNT(*) FROM users").await, 1);
    let other_id: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1")
        .bind(body["id"].as_str())
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert_eq!(other_id, 0, "the answer names no real account");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_email_errors() {
    let server = TestServer::start().await;
    let (status, body) = server
        .api_post("/api/auth/verify-email", json!({"token": "nonsense"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_token");

    server
        .api_post(
            "/api/auth/register",
            json!({"email": "ann@example.com", "password": PASSWORD, "name": "Ann"}),
        )
        .await;
    let token = server.latest_token_for("ann@example.com").await;
    sqlx::query("UPDATE email_verification_tokens SET expires_at = 0")
        .execute(&server.db)
        .await
        .unwrap();
    let (status, body) = server.api_post("/api/auth/verify-email", json!({"token": token})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "expired_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_token_in_cookie() {
    // Over HTTPS the cookie takes the __Secure- prefix, so that browsers
    // refuse it from plain HTTP pages.
    let deployments = [
        (None, "latchkey_refresh="),
        (Some("https://auth.example.com"), "__Secure-latchkey_refresh="),
    ];
    for (public_url, cookie_prefix) in deployments {
        let settings: Vec<(&str, &str)> = public_url.map(|url| ("PUBLIC_URL", url)).into_iter().collect();
        let server = TestServer::start_with(&settings).await;
        server.api_login("ann@example.com", None).await;
        let (status, headers, body) = server
            .api(
                Method::POST,
                "/api/auth/login",
                Some(json!({"email": "ann@example.com", "password": PASSWORD, "refresh_token_cookie": true})),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.get("refresh_token").is_none(),
            "the body leaves the refresh token out: {body}"
        );
        let cookie = headers["set-cookie"].to_str().unwrap().to_owned();
        assert!(cookie.starts_with(cookie_prefix), "{cookie}");
        for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api/auth"] {
            assert!(cookie.contains(attribute), "{attribute}: {cookie}");
        }
        let pair = cookie.split(';').next().unwrap().to_owned();

        let response = reqwest::Client::new()
            .post(server.url("/api/auth/refresh"))
            .header("cookie", &pair)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{cookie_prefix}");
        let rotated = common::set_cookie_pair(response.headers());
        assert!(rotated.starts_with(cookie_prefix), "{rotated}");
        assert_ne!(rotated, pair);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_key_keeps_old_tokens_valid() {
    let server = TestServer::start().await;
    let before = server.api_login("ann@example.com", None).await;
    let old_kid = jsonwebtoken::decode_header(access(&before)).unwrap().kid.unwrap();

    let new_kid = server.services.api.auth.keys().rotate().await.unwrap();
    assert_ne!(new_kid, old_kid);
    let after = server.api_login_existing("ann@example.com", None).await;
    assert_eq!(
        jsonwebtoken::decode_header(access(&after)).unwrap().kid.unwrap(),
        new_kid
    );
    assert_eq!(
        me(&server, access(&before)).await.0,
        StatusCode::OK,
        "tokens of the previous key stay valid"
    );
    assert_eq!(me(&server, access(&after)).await.0, StatusCode::OK);

    let (_, _, jwks) = server.api(Method::GET, "/.well-known/jwks.json", None, None).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "{kids:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_and_api_logins_share_one_record_kind() {
    let server = TestServer::start().await;
    let tokens = server.api_login("ann@example.com", None).await;
    let cookie = server
        .log_in("ann@example.com", PASSWORD, None)
        .await
        .cookie_pair()
        .unwrap();
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM sessions ORDER BY kind")
        .fetch_all(&server.db)
        .await
        .unwrap();
    assert_eq!(kinds, ["api", "browser"]);

    let user_id = latchkey_core::store::UserId(me(&server, access(&tokens)).await.1["id"].as_str().unwrap().to_owned());
    let sessions = server.services.app.accounts.sessions();
    let listed = sessions
        .list_for_user(&user_id, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(listed.len(), 2, "one list shows both logins");

    assert_eq!(sessions.revoke_all_for_user(&user_id).await.unwrap(), 2);
    assert_eq!(me(&server, access(&tokens)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(server.get("/account", Some(&cookie)).await.status(), StatusCode::FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_only_configured_origins() {
    let server = TestServer::start_with(&[("CORS_ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(Method::OPTIONS, server.url("/api/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,authorization")
            .send()
    };

    let allowed = preflight("https://app.example.com").await.unwrap();
    assert!(allowed.status().is_success());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(methods.contains("POST"), "{methods}");

    let denied = preflight("https://evil.example").await.unwrap();
    assert!(denied.headers().get("access-control-allow-origin").is_none());

    let default_server = TestServer::start().await;
    let response = client
        .request(Method::OPTIONS, default_server.url("/api/auth/login"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        response.headers().get("access-control-allow-origin").is_none(),
        "no origin is allowed by default"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_lists_the_endpoints() {
    let server = TestServer::start().await;
    let (status, _, doc) = server.api(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/auth/me",
        "/api/contacts",
        "/api/admin/users/{id}/roles",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");

    // Links let clients and stateful testing chain calls.
    let links = |path: &str, status: &str| doc["paths"][path]["post"]["responses"][status]["links"].clone();
    let refresh = &links("/api/auth/login", "200")["Refresh"];
    assert_eq!(refresh["operationId"], "refresh");
    assert_eq!(refresh["requestBody"]["refresh_token"], "$response.body#/refresh_token");
    assert_eq!(
        links("/api/auth/refresh", "200")["RefreshAgain"]["operationId"],
        "refresh"
    );
    let set_roles = &links("/api/auth/register", "201")["SetRoles"];
    assert_eq!(set_roles["operationId"], "set_roles");
    assert_eq!(set_roles["parameters"]["id"], "$response.body#/id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_token_lifetimes_end_logins() {
    let server = TestServer::start().await;
    let idle = server.api_login("ann@example.com", None).await;
    sqlx::query("UPDATE sessions SET expires_at = $1 WHERE kind = 'api'")
        .bind(time::OffsetDateTime::now_utc().unix_timestamp() - 1)
        .execute(&server.db)
        .await
        .unwrap();
    let (status, body) = server
        .api_post("/api/auth/refresh", json!({"refresh_token": refresh_token(&idle)}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "past the idle timeout");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(me(&server, access(&idle)).await.0, StatusCode::UNAUTHORIZED);

    let old = server.api_login_existing("ann@example.com", None).await;
    sqlx::query("UPDATE sessions SET created_at = created_at - 31 * 86400 WHERE kind = 'api'")
        .execute(&server.db)
        .await
        .unwrap();
    let (status, _) = server
        .api_post("/api/auth/refresh", json!({"refresh_token": refresh_token(&old)}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "past the absolute lifetime of 30 days");
    assert_eq!(me(&server, access(&old)).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_spelled_differently_holds_one_account() {
    let server = TestServer::start().await;
    let register = |email: &'static str| {
        let server = &server;
        async move {
            server
                .api_post(
                    "/api/auth/register",
                    json!({"email": email, "password": PASSWORD, "name": "Ann"}),
                )
                .await
        }
    };
    assert_eq!(register("ann@bücher.example").await.0, StatusCode::CREATED);
    for spelling in [
        "ANN@BÜCHER.example",
        "  ann@bücher.example ",
        "ann@xn--bcher-kva.example",
        "\u{FF41}\u{FF4E}\u{FF4E}@bücher.example",
        "ann@bu\u{308}cher.example",
    ] {
        let (status, body) = register(spelling).await;
        assert_eq!(status, StatusCode::CREATED, "{spelling:?}: {body}");
        assert_eq!(body["email"], "ann@bücher.example", "{spelling:?}");
    }
    assert_eq!(server.count("SELECT COUNT(*) FROM users").await, 1);

    // A look-alike from another script is another address.
    let (status, body) = register("\u{430}nn@bücher.example").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["email"], "\u{430}nn@bücher.example");
    assert_eq!(server.count("SELECT COUNT(*) FROM users").await, 2);
}
