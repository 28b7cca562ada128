//! The real `latchkey` binary as a child process, for tests of what only a
//! whole process shows: listeners, signals, restarts and crashes.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus},
    time::{Duration, Instant},
};

use super::database::TestDatabase;

/// The binary, killed when the test ends.
pub struct Latchkey {
    pub child: Child,
    pub log: PathBuf,
    _database: Option<TestDatabase>,
}

impl Latchkey {
    /// Starts the binary in `dir` on a database of its own.
    pub async fn start(dir: &Path, settings: &[(&str, &str)]) -> Self {
        let database = TestDatabase::create(dir).await;
        let mut latchkey = Self::start_on(dir, &database.url, settings);
        latchkey._database = Some(database);
        latchkey
    }

    /// Starts the binary in `dir` on the database at `database_url`, which
    /// outlives this process, as across a restart.
    pub fn start_on(dir: &Path, database_url: &str, settings: &[(&str, &str)]) -> Self {
        let log = dir.join("server.log");
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .current_dir(dir)
            .env_clear()
            .env("LEPTOS_OUTPUT_NAME", "latchkey")
            .env("ARGON2_MEMORY_KIB", "1024")
            .env("ARGON2_ITERATIONS", "1")
            .env("DATABASE_URL", database_url)
            .envs(settings.iter().copied())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .expect("start latchkey");
        Self {
            child,
            log,
            _database: None,
        }
    }

    pub fn wait_until_listening(&self, port: u16) {
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "latchkey did not start: {}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name}");
    }

    /// Waits up to `limit` for the process to exit.
    pub async fn exit_status(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < limit, "latchkey did not exit: {}", self.output());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Reads what the process has written so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Latchkey {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
