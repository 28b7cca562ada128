//! Argon2id password hashing with a bounded number of hashes in flight.
//!
//! Each hash uses `memory_kib` of memory (19 MiB by default) and a core for
//! tens of milliseconds. Running them on the async runtime would stall every
//! other request, and running an unbounded number of them in parallel lets a
//! burst of logins take hundreds of MiB. So `max_concurrent` worker threads
//! take hashes from one queue, and further callers wait their turn.
//!
//! A worker starts the next queued hash as soon as it finishes one, without
//! waiting for the async runtime to hand over a permit. When every core is
//! busy hashing, that handover could wait for a time slice, which cost the
//! login benchmark several percent of the raw hash rate.
//!
//! Each worker allocates its work area once and reuses it. Allocating 19 MiB
//! per hash instead made the allocator keep freed areas per thread: a login
//! benchmark left the server at 570 MiB.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    sync::Arc,
};

use argon2::{
    password_hash::{Output, ParamsString, PasswordHash, PasswordHasher as _, SaltString},
    Algorithm, Argon2, Block, Params, Version,
};
use rand::rngs::OsRng;
use tokio::sync::oneshot;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashParams {
    /// Returns the OWASP Password Storage Cheat Sheet's second Argon2id option:
    /// m = 19 MiB, t = 2, p = 1.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid Argon2 parameters: {0}")]
    Params(argon2::Error),
    #[error("password hashing failed: {0}")]
    Hash(argon2::password_hash::Error),
    /// A stored hash that does not parse is a bug or a damaged row, never a
    /// wrong password, so it is an error rather than a mismatch.
    #[error("stored password hash is not a valid PHC string: {0}")]
    StoredHash(argon2::password_hash::Error),
    /// The worker running this hash panicked. The worker itself lives on.
    #[error("password hashing failed unexpectedly")]
    WorkerPanicked,
}

/// A hash to compute, given the worker's work area.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Mismatch,
    /// The password is right. `needs_rehash` is set when the stored hash was
    /// made with other parameters than the current ones.
    Match {
        needs_rehash: bool,
    },
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: HashParams,
    /// Queue of the worker threads. They stop when the last clone of the
    /// hasher is dropped.
    jobs: flume::Sender<Job>,
    /// Hash of a random password, checked when the account does not exist so
    /// that an unknown email costs as much time as a wrong password.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// # Errors
    /// [`PasswordError::Params`] when Argon2 rejects the parameters.
    pub fn new(params: HashParams, max_concurrent: usize) -> Result<Self, PasswordError> {
        let argon2 = argon2_with(params)?;
        let random_password = crate::token::SecretToken::generate();
        let salt = SaltString::generate(&mut OsRng);
        let dummy_hash = argon2
            .hash_password(random_password.expose().as_bytes(), &salt)
            .map_err(PasswordError::Hash)?
            .to_string();

        Ok(Self {
            params,
            jobs: start_workers(max_concurrent.max(1)),
            dummy_hash: dummy_hash.into(),
        })
    }

    pub fn params(&self) -> HashParams {
        self.params
    }

    /// Hashes a password into a PHC string with a fresh 128-bit salt.
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let params = self.params;
        let password = password.to_owned();
        self.run_blocking(move |work_area| {
            let salt = SaltString::generate(&mut OsRng);
            let argon2 = argon2_with(params)?;
            let mut salt_bytes = [0u8; 64];
            let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(PasswordError::Hash)?;
            let output = compute(
                &argon2,
                password.as_bytes(),
                salt_bytes,
                Params::DEFAULT_OUTPUT_LEN,
                work_area,
            )?;
            let hash = PasswordHash {
                algorithm: argon2::ARGON2ID_IDENT,
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(argon2.params()).map_err(PasswordError::Hash)?,
                salt: Some(salt.as_salt()),
                hash: Some(output),
            };
            Ok(hash.to_string())
        })
        .await
    }

    /// Checks a password against a stored PHC string. With `stored = None`
    /// (no such account) it checks against the dummy hash and reports a
    /// mismatch, taking as long as a real check.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<Verification, PasswordError> {
        let account_exists = stored.is_some();
        let stored = stored.unwrap_or(&self.dummy_hash).to_owned();
        let password = password.to_owned();
        let current = self.params;

        let verification = self
            .run_blocking(move |work_area| {
                let parsed = PasswordHash::new(&stored).map_err(PasswordError::StoredHash)?;
                // The hash names its own algorithm and parameters; verifying
                // with them lets old hashes keep working until rehashed.
                let algorithm = Algorithm::try_from(parsed.algorithm).map_err(PasswordError::StoredHash)?;
                let version = parsed
                    .version
                    .map_or(Ok(Version::V0x13), Version::try_from)
                    .map_err(PasswordError::Params)?;
                let params = Params::try_from(&parsed).map_err(PasswordError::StoredHash)?;
                let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
                    return Err(PasswordError::StoredHash(argon2::password_hash::Error::PhcStringField));
                };
                let mut salt_bytes = [0u8; 64];
                let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(PasswordError::StoredHash)?;

                let argon2 = Argon2::new(algorithm, version, params);
                let computed = compute(&argon2, password.as_bytes(), salt_bytes, expected.len(), work_area)?;
                // `Output` compares in constant time.
                if computed == expected {
                    Ok(Verification::Match {
                        needs_rehash: !uses_params(&parsed, current),
                    })
                } else {
                    Ok(Verification::Mismatch)
                }
            })
            .await?;

        Ok(if account_exists {
            verification
        } else {
            Verification::Mismatch
        })
    }

    /// Runs `work` on the next free worker, with that worker's work area.
    async fn run_blocking<T, F>(&self, work: F) -> Result<T, PasswordError>
    where
        F: FnOnce(&mut Vec<Block>) -> Result<T, PasswordError> + Send + 'static,
        T: Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |work_area| {
            // The caller is gone (say, the client hung up), so no one needs
            // this hash and the worker moves on.
            if done.is_closed() {
                return;
            }
            let _ = done.send(work(work_area));
        });

        // The workers hold the receiver until every sender, including this
        // hasher's, is dropped, so sending cannot fail here.
        self.jobs.send(job).map_err(|_| PasswordError::WorkerPanicked)?;
        result.await.map_err(|_| PasswordError::WorkerPanicked)?
    }
}

/// Starts `count` hashing threads that share one queue.
fn start_workers(count: usize) -> flume::Sender<Job> {
    let (jobs, queue) = flume::unbounded::<Job>();
    for index in 0..count {
        let queue = queue.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{index}"))
            .spawn(move || {
                let mut work_area = Vec::new();
                while let Ok(job) = queue.recv() {
                    // A panic drops the job's sender, which its caller sees
                    // as an error. The work area only ever contains scratch
                    // data, so the worker can go on using it.
                    if catch_unwind(AssertUnwindSafe(|| job(&mut work_area))).is_err() {
                        tracing::error!("a password hashing job panicked");
                    }
                }
            })
            .expect("the OS could not start a password hashing thread");
    }
    jobs
}

/// Computes a raw Argon2 hash of `output_len` bytes in `work_area`, growing
/// it when these parameters need more blocks than it has.
fn compute(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    output_len: usize,
    work_area: &mut Vec<Block>,
) -> Result<Output, PasswordError> {
    let blocks = argon2.params().block_count();
    if work_area.len() < blocks {
        work_area.resize(blocks, Block::default());
    }
    let mut out = vec![0u8; output_len];
    argon2
        .hash_password_into_with_memory(password, salt, &mut out, &mut work_area[..blocks])
        .map_err(PasswordError::Params)?;
    Output::new(&out).map_err(PasswordError::Hash)
}

fn argon2_with(params: HashParams) -> Result<Argon2<'static>, PasswordError> {
    let params =
        Params::new(params.memory_kib, params.iterations, params.parallelism, None).map_err(PasswordError::Params)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn uses_params(hash: &PasswordHash<'_>, current: HashParams) -> bool {
    let Ok(params) = Params::try_from(hash) else {
        return false;
    };
    hash.algorithm == Algorithm::Argon2id.ident()
        && hash.version == Some(Version::V0x13.into())
        && params.m_cost() == current.memory_kib
        && params.t_cost() == current.iterations
        && params.p_cost() == current.parallelism
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small parameters keep the tests fast; the production defaults are
    /// checked separately.
    fn fast() -> HashParams {
        HashParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[tokio::test]
    async fn hash_is_argon2id_phc_with_params() {
        let hasher = PasswordHasher::new(fast(), 2).unwrap();
        let hash = hasher.hash("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{hash}");
    }

    #[tokio::test]
    async fn default_params_follow_owasp() {
        let hasher = PasswordHasher::new(HashParams::default(), 1).unwrap();
        let hash = hasher.hash("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    }

    #[tokio::test]
    async fn same_password_gets_different_salts() {
        let hasher = PasswordHasher::new(fast(), 2).unwrap();
        let first = hasher.hash("correct horse battery").await.unwrap();
        let second = hasher.hash("correct horse battery").await.unwrap();
        assert_ne!(first, second);
    }

    #[tokio::test]
    async fn verify_accepts_right_and_rejects_wrong() {
        let hasher = PasswordHasher::new(fast(), 2).unwrap();
        let hash = hasher.hash("correct horse battery").await.unwrap();
        assert_eq!(
            hasher.verify("correct horse battery", Some(&hash)).await.unwrap(),
            Verification::Match { needs_rehash: false }
        );
        assert_eq!(
            hasher.verify("Correct horse battery", Some(&hash)).await.unwrap(),
            Verification::Mismatch
        );
        assert_eq!(
            hasher.verify("correct horse battery ", Some(&hash)).await.unwrap(),
            Verification::Mismatch
        );
    }

    #[tokio::test]
    async fn older_params_need_rehash() {
        let old = PasswordHasher::new(
            HashParams {
                memory_kib: 512,
                ..fast()
            },
            1,
        )
        .unwrap();
        let hash = old.hash("correct horse battery").await.unwrap();
        let current = PasswordHasher::new(fast(), 1).unwrap();
        assert_eq!(
            current.verify("correct horse battery", Some(&hash)).await.unwrap(),
            Verification::Match { needs_rehash: true }
        );
    }

    #[tokio::test]
    async fn hashes_interoperate_with_the_argon2_crate() {
        use argon2::PasswordVerifier as _;

        let hasher = PasswordHasher::new(fast(), 1).unwrap();
        let ours = hasher.hash("correct horse battery").await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());

        let salt = SaltString::generate(&mut OsRng);
        let theirs = argon2_with(fast())
            .unwrap()
            .hash_password(b"correct horse battery", &salt)
            .unwrap()
            .to_string();
        assert_eq!(
            hasher.verify("correct horse battery", Some(&theirs)).await.unwrap(),
            Verification::Match { needs_rehash: false }
        );
    }

    #[tokio::test]
    async fn worker_reuses_its_work_area() {
        let hasher = PasswordHasher::new(fast(), 1).unwrap();
        for _ in 0..3 {
            hasher.hash("correct horse battery").await.unwrap();
        }
        let size = hasher.run_blocking(|work_area| Ok(work_area.len())).await.unwrap();
        assert_eq!(size, 1024, "one 1 KiB block per KiB of memory cost, kept");
    }

    #[tokio::test]
    async fn worker_survives_a_panicking_job() {
        let hasher = PasswordHasher::new(fast(), 1).unwrap();
        let result: Result<(), _> = hasher.run_blocking(|_| panic!("test panic")).await;
        assert!(matches!(result, Err(PasswordError::WorkerPanicked)), "{result:?}");

        let hash = hasher.hash("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
    }

    #[tokio::test]
    async fn unknown_account_is_a_mismatch() {
        let hasher = PasswordHasher::new(fast(), 1).unwrap();
        assert_eq!(hasher.verify("anything", None).await.unwrap(), Verification::Mismatch);
    }

    #[tokio::test]
    async fn corrupt_stored_hash_is_an_error() {
        let hasher = PasswordHasher::new(fast(), 1).unwrap();
        let result = hasher.verify("anything", Some("not a hash")).await;
        assert!(matches!(result, Err(PasswordError::StoredHash(_))), "{result:?}");
    }

    #[test]
    fn invalid_params_are_rejected() {
        let result = PasswordHasher::new(
            HashParams {
                memory_kib: 1,
                ..fast()
            },
            1,
        );
        assert!(matches!(result, Err(PasswordError::Params(_))));
    }
}
