//! Settings read from environment variables.
//!
//! Every setting has a documented default except where none is safe. A value
//! that does not parse stops the server at start with an error that names the
//! variable and the fix, rather than falling back silently.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use lettre::message::Mailbox;
use url::Url;

use crate::{
    client_ip::TrustedProxies,
    mail_queue::RetryPolicy,
    password::HashParams,
    password_rules::{PasswordRules, DEFAULT_PASSWORD_MIN_CHARS, PASSWORD_MIN_CHARS_FLOOR},
    store::Backend,
    throttle::{Backoff, Limits, Rate},
};

#[derive(Debug, thiserror::Error)]
#[error("{variable} is invalid: {problem}. {fix}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
    pub fix: String,
}

/// How to reach an SMTP relay. Credentials, if any, are part of the URL.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl(pub Url);

impl std::fmt::Debug for SmtpUrl {
    /// Prints the URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.0.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        write!(f, "SmtpUrl({shown})")
    }
}

/// Paths of the certificate chain and private key for HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM file: the server certificate first, then its intermediates.
    pub cert: PathBuf,
    /// PEM file: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    /// Origin of the site as users reach it, used to build links in mail.
    pub public_url: Url,
    /// `None` writes mail to `mail_outbox_dir` instead of sending it.
    pub smtp_url: Option<SmtpUrl>,
    pub mail_from: Mailbox,
    pub mail_outbox_dir: PathBuf,
    pub password_hash: HashParams,
    pub max_concurrent_hashes: usize,
    /// A session unused for this long ends.
    pub session_idle_timeout: Duration,
    /// A session ends this long after login, however active it is.
    pub session_max_lifetime: Duration,
    /// A login with "Remember me" lasts this long, active or not.
    pub remember_me_lifetime: Duration,
    pub verification_token_ttl: Duration,
    pub password_reset_token_ttl: Duration,
    pub access_token_ttl: Duration,
    /// A token family unused for this long ends.
    pub refresh_token_idle_timeout: Duration,
    /// A token family ends this long after login, however active it is.
    pub refresh_token_max_lifetime: Duration,
    /// `aud` claim of access tokens, checked on every request.
    pub jwt_audience: String,
    /// Origins whose scripts may call the JSON API (CORS).
    pub cors_allowed_origins: Vec<String>,
    /// How long checked tokens, token liveness and user profiles are served
    /// from memory. This instance applies its own changes at once, and another
    /// instance's revocation within this time. Zero turns the cache off.
    pub read_cache_ttl: Duration,
    /// Rate limits and login waits.
    pub limits: Limits,
    pub password_rules: PasswordRules,
    /// Proxies whose `Forwarded` and `X-Forwarded-For` headers name the
    /// client. Empty: the socket peer is the client.
    pub trusted_proxies: TrustedProxies,
    /// Terminate TLS in the server with these files. `None`: serve plain
    /// HTTP, for local use or behind a proxy that terminates TLS.
    pub tls: Option<TlsFiles>,
    /// Also listen for plain HTTP here and redirect every request to
    /// `public_url`. Only with `tls`.
    pub http_redirect_addr: Option<SocketAddr>,
    /// Serve Prometheus metrics at `/metrics` on this address, apart from
    /// the public listener. `None`: no metrics endpoint.
    pub metrics_addr: Option<SocketAddr>,
    /// When failed mail is tried again, and how often.
    pub mail_retry: RetryPolicy,
    /// Storage of rate limit and login failure counts.
    pub limit_store: LimitStoreKind,
    /// How often signing keys are read again from the database, which
    /// bounds how long an instance signs with a key rotated elsewhere.
    pub signing_key_reload: Duration,
}

/// Storage of the throttle's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitStoreKind {
    /// In this process: fast, and right for a single instance.
    Memory,
    /// In the database, shared by every instance on it.
    Database,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, which returns a variable's value.
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());

        let site_addr = get("LEPTOS_SITE_ADDR").unwrap_or_else(|| "127.0.0.1:3000".to_owned());
        let tls = parse_tls_files(&get)?;
        let public_url = match get("PUBLIC_URL") {
            Some(value) => parse_public_url(&value)?,
            None if tls.is_some() => parse_public_url(&format!("https://{site_addr}"))?,
            None => parse_public_url(&format!("http://{site_addr}"))?,
        };
        if tls.is_some() && public_url.scheme() != "https" {
            return Err(ConfigError {
                variable: "PUBLIC_URL",
                problem: format!(
                    "{:?} is not an https origin, but TLS_CERT_FILE is set",
                    public_url.as_str()
                ),
                fix: "Users reach a server that terminates TLS over https://; set PUBLIC_URL to that origin."
                    .to_owned(),
            });
        }
        let http_redirect_addr = get("HTTP_REDIRECT_ADDR")
            .map(|value| {
                let invalid = |problem: String| ConfigError {
                    variable: "HTTP_REDIRECT_ADDR",
                    problem,
                    fix: "Set it to an address and port such as `0.0.0.0:80`, together with TLS_CERT_FILE and \
                          TLS_KEY_FILE, or unset it."
                        .to_owned(),
                };
                if tls.is_none() {
                    return Err(invalid(
                        "it only works when the server terminates TLS itself".to_owned(),
                    ));
                }
                value
                    .trim()
                    .parse::<SocketAddr>()
                    .map_err(|_| invalid(format!("{value:?} is not an address with a port")))
            })
            .transpose()?;

        let smtp_url = get("SMTP_URL").map(|value| parse_smtp_url(&value)).transpose()?;
        let mail_from = get("MAIL_FROM").unwrap_or_else(|| "Latchkey <no-reply@latchkey.localhost>".to_owned());
        let mail_from = mail_from.parse::<Mailbox>().map_err(|err| ConfigError {
            variable: "MAIL_FROM",
            problem: format!("{mail_from:?} is not a mailbox ({err})"),
            fix: "Use an address such as `Latchkey <no-reply@example.com>`.".to_owned(),
        })?;

        let defaults = HashParams::default();
        let password_hash = HashParams {
            memory_kib: parse_number(&get, "ARGON2_MEMORY_KIB", defaults.memory_kib, 8..=4_194_304)?,
            iterations: parse_number(&get, "ARGON2_ITERATIONS", defaults.iterations, 1..=100)?,
            parallelism: parse_number(&get, "ARGON2_PARALLELISM", defaults.parallelism, 1..=64)?,
        };
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let max_concurrent_hashes = parse_number(&get, "MAX_CONCURRENT_HASHES", cores, 1..=1024)?;
        let retry_defaults = RetryPolicy::default();
        let mail_retry = RetryPolicy {
            first_delay: parse_duration(&get, "MAIL_RETRY_DELAY", "10s")?,
            max_attempts: parse_number(&get, "MAIL_MAX_ATTEMPTS", retry_defaults.max_attempts, 1..=100)?,
            ..retry_defaults
        };

        let database_url = get("DATABASE_URL").unwrap_or_else(|| "sqlite://data/latchkey.db".to_owned());
        Ok(Self {
            database_url: database_url.clone(),
            public_url,
            smtp_url,
            mail_from,
            mail_outbox_dir: get("MAIL_OUTBOX_DIR")
                .unwrap_or_else(|| "data/outbox".to_owned())
                .into(),
            password_hash,
            max_concurrent_hashes,
            session_idle_timeout: parse_duration(&get, "SESSION_IDLE_TIMEOUT", "1h")?,
            session_max_lifetime: parse_duration(&get, "SESSION_MAX_LIFETIME", "7d")?,
            remember_me_lifetime: parse_duration(&get, "REMEMBER_ME_LIFETIME", "30d")?,
            verification_token_ttl: parse_duration(&get, "VERIFICATION_TOKEN_TTL", "24h")?,
            password_reset_token_ttl: parse_duration(&get, "PASSWORD_RESET_TOKEN_TTL", "1h")?,
            access_token_ttl: parse_duration(&get, "ACCESS_TOKEN_TTL", "15m")?,
            refresh_token_idle_timeout: parse_duration(&get, "REFRESH_TOKEN_IDLE_TIMEOUT", "14d")?,
            refresh_token_max_lifetime: parse_duration(&get, "REFRESH_TOKEN_MAX_LIFETIME", "30d")?,
            jwt_audience: get("JWT_AUDIENCE").unwrap_or_else(|| "latchkey-api".to_owned()),
            cors_allowed_origins: parse_origins(get("CORS_ALLOWED_ORIGINS").as_deref())?,
            read_cache_ttl: match get("READ_CACHE_TTL").as_deref().map(str::trim) {
                Some("0" | "0s") => Duration::ZERO,
                _ => parse_duration(&get, "READ_CACHE_TTL", "1s")?,
            },
            limits: parse_limits(&get)?,
            password_rules: PasswordRules {
                min_chars: parse_number(
                    &get,
                    "PASSWORD_MIN_LENGTH",
                    DEFAULT_PASSWORD_MIN_CHARS,
                    PASSWORD_MIN_CHARS_FLOOR..=64,
                )?,
            },
            trusted_proxies: get("TRUSTED_PROXIES")
                .unwrap_or_default()
                .parse()
                .map_err(|problem| ConfigError {
                    variable: "TRUSTED_PROXIES",
                    problem,
                    fix: "List the addresses or CIDR networks of your reverse proxies, separated by commas, \
                          such as `127.0.0.1,10.0.0.0/8`."
                        .to_owned(),
                })?,
            tls,
            http_redirect_addr,
            metrics_addr: get("METRICS_ADDR")
                .map(|value| {
                    value.trim().parse::<SocketAddr>().map_err(|_| ConfigError {
                        variable: "METRICS_ADDR",
                        problem: format!("{value:?} is not an address with a port"),
                        fix: "Set it to an address that only your monitoring reaches, such as `127.0.0.1:9464`, \
                              or unset it."
                            .to_owned(),
                    })
                })
                .transpose()?,
            mail_retry,
            signing_key_reload: parse_duration(&get, "SIGNING_KEY_RELOAD_INTERVAL", "60s")?,
            limit_store: match get("RATE_LIMIT_STORE").as_deref().map(str::trim) {
                Some("memory") => LimitStoreKind::Memory,
                Some("database") => LimitStoreKind::Database,
                // Several instances need one count, and they run on
                // PostgreSQL, so it shares the counts unless set otherwise.
                None if matches!(Backend::of_url(&database_url), Ok(Backend::Postgres)) => LimitStoreKind::Database,
                None => LimitStoreKind::Memory,
                Some(other) => {
                    return Err(ConfigError {
                        variable: "RATE_LIMIT_STORE",
                        problem: format!("{other:?} is not a limit store"),
                        fix: "Use `memory` or `database`, or unset it: the database with PostgreSQL, \
                              memory with SQLite."
                            .to_owned(),
                    })
                }
            },
        })
    }

    /// Returns whether users reach the site over HTTPS.
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

fn parse_public_url(value: &str) -> Result<Url, ConfigError> {
    let invalid = |problem: String| ConfigError {
        variable: "PUBLIC_URL",
        problem,
        fix: "Set it to the origin users open, such as `https://auth.example.com`.".to_owned(),
    };
    let url = Url::parse(value).map_err(|err| invalid(format!("{value:?} is not a URL ({err})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid(format!("{value:?} is not an http or https origin")));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!("{value:?} has a path, query or fragment")));
    }
    Ok(url)
}

fn parse_tls_files(get: &impl Fn(&str) -> Option<String>) -> Result<Option<TlsFiles>, ConfigError> {
    match (get("TLS_CERT_FILE"), get("TLS_KEY_FILE")) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert: cert.into(),
            key: key.into(),
        })),
        (cert, _) => Err(ConfigError {
            variable: if cert.is_some() {
                "TLS_KEY_FILE"
            } else {
                "TLS_CERT_FILE"
            },
            problem: "it is unset while the other TLS file is set".to_owned(),
            fix: "Set both TLS_CERT_FILE and TLS_KEY_FILE to PEM files, or neither to serve plain HTTP.".to_owned(),
        }),
    }
}

fn parse_limits(get: &impl Fn(&str) -> Option<String>) -> Result<Limits, ConfigError> {
    let defaults = Limits::default();
    let rate = |variable: &'static str, default: Rate| -> Result<Rate, ConfigError> {
        let Some(value) = get(variable) else {
            return Ok(default);
        };
        value.parse().map_err(|problem| ConfigError {
            variable,
            problem,
            fix: format!(
                "Write a count and a period such as 30/5m, or unset it for the default, {}/{}s.",
                default.count,
                default.period.as_secs()
            ),
        })
    };
    let backoff = defaults.login_backoff;

    Ok(Limits {
        login_per_ip: rate("LOGIN_RATE_PER_IP", defaults.login_per_ip)?,
        login_backoff: Backoff {
            free_failures: parse_number(get, "LOGIN_FAILURES_BEFORE_WAIT", backoff.free_failures, 1..=100)?,
            max_wait: parse_duration(get, "LOGIN_MAX_WAIT", "15m")?,
            lock_after: parse_number(get, "LOGIN_FAILURES_BEFORE_LOCK", backoff.lock_after, 10..=100)?,
            ..backoff
        },
        register_per_ip: rate("REGISTER_RATE_PER_IP", defaults.register_per_ip)?,
        verification_mail_per_ip: rate("VERIFICATION_MAIL_RATE_PER_IP", defaults.verification_mail_per_ip)?,
        verification_mail_per_email: rate("VERIFICATION_MAIL_RATE_PER_EMAIL", defaults.verification_mail_per_email)?,
        verification_mail_cooldown: match get("VERIFICATION_MAIL_COOLDOWN").as_deref().map(str::trim) {
            Some("0" | "0s") => Duration::ZERO,
            _ => parse_duration(get, "VERIFICATION_MAIL_COOLDOWN", "60s")?,
        },
        refresh_per_ip: rate("REFRESH_RATE_PER_IP", defaults.refresh_per_ip)?,
        password_reset_per_ip: rate("PASSWORD_RESET_RATE_PER_IP", defaults.password_reset_per_ip)?,
        password_reset_per_email: rate("PASSWORD_RESET_RATE_PER_EMAIL", defaults.password_reset_per_email)?,
    })
}

fn parse_origins(value: Option<&str>) -> Result<Vec<String>, ConfigError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let url = Url::parse(origin).ok().filter(|url| {
                matches!(url.scheme(), "http" | "https")
                    && url.host().is_some()
                    && url.path() == "/"
                    && !origin.ends_with('/')
            });
            url.map(|url| url.origin().ascii_serialization())
                .ok_or_else(|| ConfigError {
                    variable: "CORS_ALLOWED_ORIGINS",
                    problem: format!("{origin:?} is not an origin"),
                    fix: "List origins separated by commas, such as `https://app.example.com,http://localhost:5173`, \
                      with no path and no trailing slash."
                        .to_owned(),
                })
        })
        .collect()
}

fn parse_smtp_url(value: &str) -> Result<SmtpUrl, ConfigError> {
    let invalid = |problem: String| ConfigError {
        variable: "SMTP_URL",
        problem,
        fix: "Use `smtp://user:password@host:587` (STARTTLS), `smtps://user:password@host:465` (TLS) \
              or unset it to write mail to MAIL_OUTBOX_DIR."
            .to_owned(),
    };
    // The value may hold a password: the messages name its shape, not its text.
    let url = Url::parse(value).map_err(|err| invalid(format!("it is not a URL ({err})")))?;
    if !matches!(url.scheme(), "smtp" | "smtps") {
        return Err(invalid(format!("the scheme {:?} is not smtp or smtps", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it names no host".to_owned()));
    }
    for (key, value) in url.query_pairs() {
        let known = key == "tls" && matches!(value.as_ref(), "required" | "opportunistic" | "none");
        if !known {
            return Err(invalid(format!(
                "unknown query parameter {key}={value}; only tls=required|opportunistic|none is understood"
            )));
        }
    }
    Ok(SmtpUrl(url))
}

fn parse_number<T>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(value) = get(variable) else {
        return Ok(default);
    };
    match value.trim().parse::<T>() {
        Ok(number) if range.contains(&number) => Ok(number),
        _ => Err(ConfigError {
            variable,
            problem: format!(
                "{value:?} is not a whole number from {} to {}",
                range.start(),
                range.end()
            ),
            fix: format!("Set a number in that range or unset it for the default, {default}."),
        }),
    }
}

fn parse_duration(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: &str,
) -> Result<Duration, ConfigError> {
    let value = get(variable).unwrap_or_else(|| default.to_owned());
    duration_from_text(&value).ok_or_else(|| ConfigError {
        variable,
        problem: format!("{value:?} is not a positive duration"),
        fix: format!("Write a number with a unit s, m, h or d, such as 30m or 24h (default {default})."),
    })
}

/// Parses `90s`, `30m`, `12h` or `7d` into a non-zero duration.
pub fn duration_from_text(text: &str) -> Option<Duration> {
    let text = text.trim();
    // The unit is one ASCII letter; any other last character, multi-byte
    // ones included, is no duration.
    let (seconds_per_unit, number) = match text.as_bytes().last()? {
        b's' => (1, &text[..text.len() - 1]),
        b'm' => (60, &text[..text.len() - 1]),
        b'h' => (3_600, &text[..text.len() - 1]),
        b'd' => (86_400, &text[..text.len() - 1]),
        _ => return None,
    };
    let number: u64 = number.parse().ok()?;
    let seconds = number.checked_mul(seconds_per_unit).filter(|&seconds| seconds > 0)?;
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config_with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_unset() {
        let config = config_with(&[]).unwrap();
        assert_eq!(config.database_url, "sqlite://data/latchkey.db");
        assert_eq!(config.public_url.as_str(), "http://127.0.0.1:3000/");
        assert!(config.smtp_url.is_none());
        assert_eq!(config.mail_outbox_dir, PathBuf::from("data/outbox"));
        assert_eq!(config.password_hash, HashParams::default());
        assert_eq!(config.session_idle_timeout, Duration::from_secs(3_600));
        assert_eq!(config.session_max_lifetime, Duration::from_secs(7 * 86_400));
        assert_eq!(config.verification_token_ttl, Duration::from_secs(86_400));
        assert_eq!(config.access_token_ttl, Duration::from_secs(900));
        assert_eq!(config.refresh_token_idle_timeout, Duration::from_secs(14 * 86_400));
        assert_eq!(config.refresh_token_max_lifetime, Duration::from_secs(30 * 86_400));
        assert_eq!(config.jwt_audience, "latchkey-api");
        assert!(config.cors_allowed_origins.is_empty());
        assert_eq!(config.read_cache_ttl, Duration::from_secs(1));
        assert_eq!(config.limits, Limits::default());
        assert_eq!(config.password_rules.min_chars, 15);
        assert_eq!(
            config_with(&[("PASSWORD_MIN_LENGTH", "7")]).unwrap_err().variable,
            "PASSWORD_MIN_LENGTH"
        );
        assert!(config.trusted_proxies.is_empty());
    }

    #[test]
    fn limits_and_proxies_parse() {
        let config = config_with(&[
            ("LOGIN_RATE_PER_IP", "5/1m"),
            ("LOGIN_FAILURES_BEFORE_WAIT", "3"),
            ("LOGIN_MAX_WAIT", "2m"),
            ("TRUSTED_PROXIES", "127.0.0.1"),
        ])
        .unwrap();
        assert_eq!(
            config.limits.login_per_ip,
            Rate {
                count: 5,
                period: Duration::from_secs(60)
            }
        );
        assert_eq!(config.limits.login_backoff.free_failures, 3);
        assert_eq!(config.limits.login_backoff.max_wait, Duration::from_secs(120));
        assert!(config.trusted_proxies.contains("127.0.0.1".parse().unwrap()));

        let error = config_with(&[("REFRESH_RATE_PER_IP", "lots")]).unwrap_err();
        assert_eq!(error.variable, "REFRESH_RATE_PER_IP");
        let error = config_with(&[("TRUSTED_PROXIES", "proxy.local")]).unwrap_err();
        assert_eq!(error.variable, "TRUSTED_PROXIES");
    }

    #[test]
    fn read_cache_can_be_turned_off() {
        let config = config_with(&[("READ_CACHE_TTL", "0")]).unwrap();
        assert_eq!(config.read_cache_ttl, Duration::ZERO);
        let error = config_with(&[("READ_CACHE_TTL", "-1s")]).unwrap_err();
        assert_eq!(error.variable, "READ_CACHE_TTL");
    }

    #[test]
    fn cors_origins_parse() {
        let config =
            config_with(&[("CORS_ALLOWED_ORIGINS", "https://app.example.com, http://localhost:5173")]).unwrap();
        assert_eq!(
            config.cors_allowed_origins,
            ["https://app.example.com", "http://localhost:5173"]
        );
        for bad in [
            "app.example.com",
            "https://app.example.com/path",
            "https://app.example.com/",
            "*",
        ] {
            let error = config_with(&[("CORS_ALLOWED_ORIGINS", bad)]).unwrap_err();
            assert_eq!(error.variable, "CORS_ALLOWED_ORIGINS", "{bad}");
        }
    }

    #[test]
    fn public_url_follows_site_addr() {
        let config = config_with(&[("LEPTOS_SITE_ADDR", "127.0.0.1:4000")]).unwrap();
        assert_eq!(config.public_url.as_str(), "http://127.0.0.1:4000/");
    }

    #[test]
    fn tls_settings_parse_and_agree() {
        let config = config_with(&[
            ("TLS_CERT_FILE", "/etc/latchkey/cert.pem"),
            ("TLS_KEY_FILE", "/etc/latchkey/key.pem"),
            ("LEPTOS_SITE_ADDR", "0.0.0.0:443"),
            ("HTTP_REDIRECT_ADDR", "0.0.0.0:80"),
        ])
        .unwrap();
        let tls = config.tls.as_ref().unwrap();
        assert_eq!(tls.cert, PathBuf::from("/etc/latchkey/cert.pem"));
        assert_eq!(tls.key, PathBuf::from("/etc/latchkey/key.pem"));
        assert_eq!(config.public_url.as_str(), "https://0.0.0.0/");
        assert!(config.is_https());
        assert_eq!(config.http_redirect_addr, Some("0.0.0.0:80".parse().unwrap()));

        let plain = config_with(&[]).unwrap();
        assert_eq!(plain.tls, None);
        assert_eq!(plain.http_redirect_addr, None);

        let cases: [(&[(&str, &str)], &str); 4] = [
            (&[("TLS_CERT_FILE", "cert.pem")], "TLS_KEY_FILE"),
            (&[("TLS_KEY_FILE", "key.pem")], "TLS_CERT_FILE"),
            (
                &[
                    ("TLS_CERT_FILE", "cert.pem"),
                    ("TLS_KEY_FILE", "key.pem"),
                    ("PUBLIC_URL", "http://auth.example.com"),
                ],
                "PUBLIC_URL",
            ),
            (&[("HTTP_REDIRECT_ADDR", "0.0.0.0:80")], "HTTP_REDIRECT_ADDR"),
        ];
        for (settings, variable) in cases {
            assert_eq!(config_with(settings).unwrap_err().variable, variable, "{settings:?}");
        }
        let error = config_with(&[
            ("TLS_CERT_FILE", "cert.pem"),
            ("TLS_KEY_FILE", "key.pem"),
            ("HTTP_REDIRECT_ADDR", "port 80"),
        ])
        .unwrap_err();
        assert_eq!(error.variable, "HTTP_REDIRECT_ADDR");
    }

    #[test]
    fn errors_name_the_variable() {
        let cases = [
            ("PUBLIC_URL", "not a url"),
            ("PUBLIC_URL", "ftp://example.com"),
            ("PUBLIC_URL", "https://example.com/auth"),
            ("SMTP_URL", "http://mail.example.com"),
            ("SMTP_URL", "smtp://mail.example.com?tls=maybe"),
            ("MAIL_FROM", "not a mailbox"),
            ("ARGON2_MEMORY_KIB", "lots"),
            ("ARGON2_ITERATIONS", "0"),
            ("SESSION_IDLE_TIMEOUT", "10"),
            ("SESSION_MAX_LIFETIME", "0d"),
            ("VERIFICATION_TOKEN_TTL", "-1h"),
            ("ACCESS_TOKEN_TTL", "15"),
            ("REFRESH_TOKEN_MAX_LIFETIME", "never"),
            ("METRICS_ADDR", "port 9464"),
        ];
        for (variable, value) in cases {
            let error = config_with(&[(variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable, "{value}");
            assert!(error.to_string().starts_with(variable), "{error}");
        }
    }

    #[test]
    fn smtp_errors_never_echo_the_password() {
        let error = config_with(&[("SMTP_URL", "smtp://ann:hunter2secret@mail.example.com?x=1")]).unwrap_err();
        assert!(!error.to_string().contains("hunter2secret"), "{error}");
        let config = config_with(&[("SMTP_URL", "smtp://ann:hunter2secret@mail.example.com")]).unwrap();
        assert!(!format!("{config:?}").contains("hunter2secret"));
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(duration_from_text("90s"), Some(Duration::from_secs(90)));
        assert_eq!(duration_from_text("30m"), Some(Duration::from_secs(1_800)));
        assert_eq!(duration_from_text("2d"), Some(Duration::from_secs(172_800)));
        assert_eq!(duration_from_text("5Ѩ"), None, "a multi-byte last character");
        assert_eq!(duration_from_text("Ѩs"), None);
        assert_eq!(duration_from_text("0s"), None);
        assert_eq!(duration_from_text("h"), None);
        assert_eq!(duration_from_text(""), None);
        assert_eq!(duration_from_text("5 weeks"), None);
    }
}
