//! The open mail stores, one per account, shared by every user of the account
//! (IMAP and POP3 sessions, SMTP deliveries, the copy) so that they all see one
//! change feed.
//!
//! Opening a store reads its SQLite index and scans its message directories
//! ([`Mailstore::open`]), so it runs on the blocking pool. Callers for one
//! account share one open through that account's slot; callers for different
//! accounts never wait on each other (the map lock is only held for short,
//! non-blocking steps). A store whose last user dropped it stays open for
//! [`IDLE`], so a delivery to a user without a session does not reopen and
//! rescan it every time; at most [`MAX_IDLE`] unused stores are kept. Unused
//! stores are released by a sweep run on the way through [`MailstoreCache::get`]
//! (at most once per [`SWEEP_EVERY`] on a hit, on every miss): no background task.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::store::error::{Result, StoreError};
use crate::store::mailstore::Mailstore;

/// How long an unused store stays open after its last user dropped it.
pub const IDLE: Duration = Duration::from_secs(60);
/// Unused stores kept open at most; beyond that the longest unused go first.
pub const MAX_IDLE: usize = 128;
/// Least time between two sweeps on the hit path.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// One account's store: locked while it is being opened (by the open itself,
/// so a caller that gives up waiting does not let a second open start), then
/// holding it.
type Slot = Arc<tokio::sync::Mutex<Option<Arc<Mailstore>>>>;

struct Entry {
    slot: Slot,
    /// Since when a sweep has seen the store unused; `None` while in use.
    idle_since: Option<Instant>,
}

#[derive(Default)]
struct Slots {
    entries: HashMap<i64, Entry>,
    last_sweep: Option<Instant>,
}

/// The open mail stores of a [`super::Store`].
pub struct MailstoreCache {
    slots: Mutex<Slots>,
    idle: Duration,
    max_idle: usize,
}

impl Default for MailstoreCache {
    fn default() -> Self {
        MailstoreCache::with_limits(IDLE, MAX_IDLE)
    }
}

impl MailstoreCache {
    fn with_limits(idle: Duration, max_idle: usize) -> Self {
        MailstoreCache {
            slots: Mutex::default(),
            idle,
            max_idle,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The open store of account `id`, or the one `open` makes (run on the
    /// blocking pool, at most one at a time per account). A failed open is not
    /// remembered: the next caller tries again.
    pub(crate) async fn get<F>(&self, id: i64, open: F) -> Result<Arc<Mailstore>>
    where
        F: FnOnce() -> Result<Mailstore> + Send + 'static,
    {
        let now = Instant::now();
        let mut released = Vec::new();
        let slot = {
            let mut slots = self.lock();
            let hit = slots.entries.get_mut(&id).and_then(|e| {
                let ms = e.slot.try_lock().ok()?.as_ref()?.clone();
                e.idle_since = None;
                Some(ms)
            });
            if let Some(ms) = hit {
                if slots
                    .last_sweep
                    .is_none_or(|t| now.duration_since(t) >= SWEEP_EVERY)
                {
                    released = self.sweep(&mut slots, now);
                }
                drop(slots);
                release(released);
                return Ok(ms);
            }
            let slot = slots
                .entries
                .entry(id)
                .or_insert_with(|| Entry {
                    slot: Slot::default(),
                    idle_since: None,
                })
                .slot
                .clone();
            released = self.sweep(&mut slots, now);
            slot
        };
        release(released);
        let mut guard = slot.lock_owned().await;
        if let Some(ms) = guard.as_ref() {
            return Ok(ms.clone());
        }
        // The guard moves into the open: should this caller stop waiting, the
        // slot stays locked until the open is done and keeps what it opened.
        tokio::task::spawn_blocking(move || {
            let ms = Arc::new(open()?);
            *guard = Some(ms.clone());
            Ok(ms)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("opening a mail store failed: {e}")))?
    }

    /// Closes the store of account `id` as far as the cache is concerned (its
    /// account is being deleted); users still holding it keep it.
    pub(crate) fn forget(&self, id: i64) {
        let entry = self.lock().entries.remove(&id);
        drop(entry);
    }

    /// Marks stores seen unused, and takes out of the map those unused for
    /// [`Self::idle`], those beyond [`Self::max_idle`] (longest unused first),
    /// and slots whose open failed. Returns what it took out, to be dropped
    /// outside the lock.
    fn sweep(&self, slots: &mut Slots, now: Instant) -> Vec<Entry> {
        slots.last_sweep = Some(now);
        let mut unused: Vec<(i64, Instant)> = Vec::new();
        let mut failed: Vec<i64> = Vec::new();
        for (&id, e) in slots.entries.iter_mut() {
            // A caller holds or awaits the slot: in use (being opened, say).
            if Arc::strong_count(&e.slot) > 1 {
                e.idle_since = None;
                continue;
            }
            let Ok(guard) = e.slot.try_lock() else {
                e.idle_since = None;
                continue;
            };
            match guard.as_ref() {
                None => failed.push(id),
                Some(ms) if Arc::strong_count(ms) > 1 => e.idle_since = None,
                Some(_) => unused.push((id, *e.idle_since.get_or_insert(now))),
            }
        }
        let mut out: Vec<Entry> = failed
            .into_iter()
            .filter_map(|id| slots.entries.remove(&id))
            .collect();
        // Longest unused first.
        unused.sort_by_key(|&(_, since)| since);
        let over = unused.len().saturating_sub(self.max_idle);
        for (i, (id, since)) in unused.into_iter().enumerate() {
            if i < over || now.duration_since(since) >= self.idle {
                out.extend(slots.entries.remove(&id));
            }
        }
        out
    }
}

/// Drops released stores on the blocking pool: closing a store's database may
/// checkpoint its write-ahead log.
fn release(released: Vec<Entry>) {
    if released.is_empty() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn_blocking(move || drop(released));
        }
        Err(_) => drop(released),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A directory with the stores of accounts 1..=n.
    fn stores(n: i64) -> (tempfile::TempDir, Vec<PathBuf>) {
        let dir = tempfile::tempdir().unwrap();
        let dirs = (1..=n)
            .map(|id| {
                let d = dir.path().join(id.to_string());
                Mailstore::create(&d, &[("INBOX", None)]).unwrap();
                d
            })
            .collect();
        (dir, dirs)
    }

    /// An open of `dir` as account `id` that counts itself in `opens`.
    fn opener(
        id: i64,
        dir: &Path,
        opens: &Arc<AtomicUsize>,
    ) -> impl FnOnce() -> Result<Mailstore> + Send + 'static {
        let (dir, opens) = (dir.to_path_buf(), opens.clone());
        move || {
            opens.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
            Mailstore::open(id, &dir)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_open() {
        let (_d, dirs) = stores(1);
        let cache = MailstoreCache::default();
        let opens = Arc::new(AtomicUsize::new(0));
        let (a, b) = tokio::join!(
            cache.get(1, opener(1, &dirs[0], &opens)),
            cache.get(1, opener(1, &dirs[0], &opens))
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(opens.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_unused_store_stays_open_for_the_idle_period_then_goes() {
        let (_d, dirs) = stores(1);
        let cache = MailstoreCache::default();
        let opens = Arc::new(AtomicUsize::new(0));
        let first = cache.get(1, opener(1, &dirs[0], &opens)).await.unwrap();
        let weak = Arc::downgrade(&first);
        drop(first);
        let again = cache.get(1, opener(1, &dirs[0], &opens)).await.unwrap();
        assert!(Arc::ptr_eq(&again, &weak.upgrade().unwrap()));
        assert_eq!(opens.load(Ordering::SeqCst), 1);

        // In use: kept however long.
        let t0 = Instant::now();
        let far = t0 + IDLE * 10;
        assert!(cache.sweep(&mut cache.lock(), far).is_empty());
        drop(again);
        // Unused: seen unused first, kept for the idle period, then released.
        assert!(cache.sweep(&mut cache.lock(), t0).is_empty());
        assert!(cache
            .sweep(&mut cache.lock(), t0 + IDLE - Duration::from_secs(1))
            .is_empty());
        assert!(weak.upgrade().is_some());
        let released = cache.sweep(&mut cache.lock(), t0 + IDLE);
        assert_eq!(released.len(), 1);
        drop(released);
        assert!(weak.upgrade().is_none());
        cache.get(1, opener(1, &dirs[0], &opens)).await.unwrap();
        assert_eq!(opens.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn at_most_max_idle_unused_stores_are_kept() {
        let (_d, dirs) = stores(3);
        let cache = MailstoreCache::with_limits(IDLE, 1);
        let opens = Arc::new(AtomicUsize::new(0));
        for (i, dir) in dirs.iter().enumerate() {
            let id = i as i64 + 1;
            drop(cache.get(id, opener(id, dir, &opens)).await.unwrap());
        }
        cache.sweep(&mut cache.lock(), Instant::now());
        let kept: Vec<i64> = cache.lock().entries.keys().copied().collect();
        assert_eq!(kept, vec![3], "the most recently used one");
    }

    #[tokio::test]
    async fn a_failed_open_is_tried_again() {
        let cache = MailstoreCache::default();
        let r = cache
            .get(1, || Err(StoreError::NotFound("mail store".into())))
            .await;
        assert!(matches!(r, Err(StoreError::NotFound(_))));
        let (_d, dirs) = stores(1);
        let opens = Arc::new(AtomicUsize::new(0));
        cache.get(1, opener(1, &dirs[0], &opens)).await.unwrap();
        assert_eq!(opens.load(Ordering::SeqCst), 1);
    }

    /// While account 1's open is stuck, account 2 opens.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_accounts_slow_open_does_not_hold_up_another() {
        let (_d, dirs) = stores(2);
        let cache = Arc::new(MailstoreCache::default());
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let slow = {
            let (cache, dir) = (cache.clone(), dirs[0].clone());
            tokio::spawn(async move {
                cache
                    .get(1, move || {
                        wait.recv().unwrap();
                        Mailstore::open(1, &dir)
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let opens = Arc::new(AtomicUsize::new(0));
        let other = tokio::time::timeout(
            Duration::from_secs(10),
            cache.get(2, opener(2, &dirs[1], &opens)),
        )
        .await
        .expect("account 2 waited for account 1")
        .unwrap();
        assert_eq!(other.account_id, 2);
        assert!(!slow.is_finished());
        go.send(()).unwrap();
        assert_eq!(slow.await.unwrap().unwrap().account_id, 1);
    }

    /// A caller that stops waiting does not let a second open start: the next
    /// caller gets what the first open made.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_giving_up_does_not_start_a_second_open() {
        let (_d, dirs) = stores(1);
        let cache = MailstoreCache::default();
        let opens = Arc::new(AtomicUsize::new(0));
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let first = {
            let (dir, opens) = (dirs[0].clone(), opens.clone());
            move || {
                opens.fetch_add(1, Ordering::SeqCst);
                wait.recv().unwrap();
                Mailstore::open(1, &dir)
            }
        };
        let given_up = tokio::time::timeout(Duration::from_millis(50), cache.get(1, first)).await;
        assert!(given_up.is_err());
        go.send(()).unwrap();
        cache.get(1, opener(1, &dirs[0], &opens)).await.unwrap();
        assert_eq!(opens.load(Ordering::SeqCst), 1);
    }
}
