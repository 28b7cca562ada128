//! A short-lived, in-process copy of hot lookups: whether a token family is
//! live, a user with their roles, and the claims of an access token whose
//! signature was checked. Every API request needs all three. On SQLite each
//! read costs two thread hops to a connection worker, and an Ed25519
//! signature check costs more than the rest of the request.
//!
//! The store forgets an entry in the same call that changes its rows, so on
//! one instance a logout or a role change applies to the very next request.
//! Changes made by another process (a second instance, or a subcommand)
//! are seen once the entry's time to live has passed, which bounds how stale
//! an answer can be.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Above this many entries, expired ones are dropped before an insert, and
/// if that frees nothing the cache starts over. Keeps memory bounded under
/// a flood of distinct keys.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug)]
pub(crate) struct ReadCache<K, V> {
    ttl: Duration,
    inner: Mutex<Inner<K, V>>,
}

#[derive(Debug)]
struct Inner<K, V> {
    entries: HashMap<K, (Instant, V)>,
    /// Counts invalidations. A read that began before one must not fill
    /// the cache, since the value it read may be the one just removed.
    generation: u64,
    /// When `fill` next drops expired entries. Sweeping once per time to
    /// live keeps the map at about the entries of the last two periods, so
    /// memory stays flat under steady traffic with ever new keys.
    next_sweep: Instant,
}

/// Taken before a database read and handed back to [`ReadCache::fill`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

impl<K: Eq + Hash, V: Clone> ReadCache<K, V> {
    /// Creates a cache whose entries live for `ttl`. Zero turns caching off.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                generation: 0,
                next_sweep: Instant::now() + ttl,
            }),
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let inner = self.lock();
        let (expires, value) = inner.entries.get(key)?;
        (Instant::now() < *expires).then(|| value.clone())
    }

    /// Returns the current generation. Call it before reading the database.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.lock().generation)
    }

    /// Stores a value read from the database, unless an invalidation ran
    /// since `ticket` was taken.
    pub(crate) fn fill(&self, ticket: Ticket, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != ticket.0 {
            return;
        }

        let now = Instant::now();
        if now >= inner.next_sweep {
            inner.entries.retain(|_, (expires, _)| *expires > now);
            // After a burst, give the memory of the emptied table back.
            if inner.entries.capacity() > 4 * inner.entries.len() + 1024 {
                let keep = 2 * inner.entries.len();
                inner.entries.shrink_to(keep);
            }
            inner.next_sweep = now + self.ttl;
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.retain(|_, (expires, _)| *expires > now);
            if inner.entries.len() >= MAX_ENTRIES {
                inner.entries.clear();
            }
        }
        inner.entries.insert(key, (now + self.ttl, value));
    }

    pub(crate) fn forget(&self, key: &K) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.remove(key);
    }

    pub(crate) fn forget_where(&self, mut matches: impl FnMut(&K, &V) -> bool) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.retain(|key, (_, value)| !matches(key, value));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        // The map holds plain data and every update completes before the
        // guard drops, so a panic elsewhere cannot leave it half-written.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_filled_values_until_forgotten() {
        let cache = ReadCache::new(Duration::from_secs(60));
        let ticket = cache.ticket();
        cache.fill(ticket, "a", 1);
        assert_eq!(cache.get(&"a"), Some(1));

        cache.forget(&"a");
        assert_eq!(cache.get(&"a"), None);
    }

    #[test]
    fn fill_after_invalidation_is_dropped() {
        let cache = ReadCache::new(Duration::from_secs(60));
        let ticket = cache.ticket();
        cache.forget(&"a");
        cache.fill(ticket, "a", 1);
        assert_eq!(cache.get(&"a"), None);
    }

    #[test]
    fn entries_expire() {
        let cache = ReadCache::new(Duration::from_millis(20));
        cache.fill(cache.ticket(), "a", 1);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get(&"a"), None);
    }

    #[test]
    fn expired_entries_are_swept_on_fill() {
        let cache = ReadCache::new(Duration::from_millis(20));
        for key in 0..1_000 {
            cache.fill(cache.ticket(), key, key);
        }
        std::thread::sleep(Duration::from_millis(40));
        cache.fill(cache.ticket(), 1_000, 1_000);

        let inner = cache.lock();
        assert_eq!(inner.entries.len(), 1, "only the new entry is left");
        assert!(
            inner.entries.capacity() < 1_000,
            "memory given back: {}",
            inner.entries.capacity()
        );
    }

    #[test]
    fn zero_time_to_live_stores_nothing() {
        let cache = ReadCache::new(Duration::ZERO);
        cache.fill(cache.ticket(), "a", 1);
        assert_eq!(cache.get(&"a"), None);
    }

    #[test]
    fn forget_where_removes_matching_values() {
        let cache = ReadCache::new(Duration::from_secs(60));
        cache.fill(cache.ticket(), "a", 1);
        cache.fill(cache.ticket(), "b", 2);
        cache.forget_where(|_, value| *value == 1);
        assert_eq!(cache.get(&"a"), None);
        assert_eq!(cache.get(&"b"), Some(2));
    }
}
