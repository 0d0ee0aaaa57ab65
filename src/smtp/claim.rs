//! One owner per relay queue entry.
//!
//! A delivery attempt first takes the entry's [`Claim`], an in-memory mark
//! keyed by (queue folder, id) that is released when the last handle of the
//! claim is dropped. Only the holder of a claim changes the entry on disk, and
//! it always starts from the entry as it is on disk *after* claiming
//! ([`Claim::load`]): the runner's directory scan is only a hint, so a scan
//! taken while an earlier attempt was still running can neither start a second
//! attempt at once nor bring back an entry that attempt already removed.
//!
//! Rules the holder keeps:
//! - the envelope is rewritten only while both it and the message file exist
//!   ([`Claim::update`]); an entry is never recreated;
//! - an envelope whose message file is gone (which the queue's own order of
//!   writes never leaves behind) is moved to `queue/lost/` with a loud error
//!   ([`Claim::set_aside`]): no retry, no DSN.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::queue::{write_entry, Entry};
use crate::store::blob::sync_dir;

/// Ids claimed, per queue folder (several daemons may share a process in tests).
type Registry = Mutex<HashMap<PathBuf, HashSet<String>>>;

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Default::default)
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<PathBuf, HashSet<String>>> {
    registry().lock().unwrap_or_else(|p| p.into_inner())
}

/// The right to attempt and change one queue entry. Clones share it; the
/// entry is released when the last clone is dropped.
#[derive(Clone)]
pub(super) struct Claim(Arc<Held>);

struct Held {
    qdir: PathBuf,
    id: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut r = lock();
        if let Some(ids) = r.get_mut(&self.qdir) {
            ids.remove(&self.id);
            if ids.is_empty() {
                r.remove(&self.qdir);
            }
        }
    }
}

/// What the holder finds on disk.
#[derive(Debug)]
pub(super) enum Loaded {
    /// Envelope and message are there.
    Ready(Entry),
    /// No envelope: an earlier attempt finished the entry.
    Gone,
    /// The envelope without its message file.
    NoMessage(Entry),
    /// An envelope that cannot be read or is not this entry's.
    Unreadable(String),
}

/// What [`Claim::update`] did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Updated {
    Written,
    /// The envelope was gone: not recreated.
    Gone,
    /// The message file was gone: the envelope was left as it was.
    NoMessage,
}

impl Claim {
    /// Claims entry `id` of the queue folder `qdir`; `None` while another
    /// attempt holds it.
    pub fn try_take(qdir: &Path, id: &str) -> Option<Claim> {
        let fresh = lock()
            .entry(qdir.to_path_buf())
            .or_default()
            .insert(id.to_string());
        fresh.then(|| {
            Claim(Arc::new(Held {
                qdir: qdir.to_path_buf(),
                id: id.to_string(),
            }))
        })
    }

    pub fn id(&self) -> &str {
        &self.0.id
    }

    fn json(&self) -> PathBuf {
        self.0.qdir.join(format!("{}.json", self.0.id))
    }

    fn eml(&self) -> PathBuf {
        self.0.qdir.join(format!("{}.eml", self.0.id))
    }

    /// The path of the message file.
    pub fn message_path(&self) -> PathBuf {
        self.eml()
    }

    /// The entry as it is on disk now. Blocking.
    pub fn load(&self) -> Loaded {
        let bytes = match std::fs::read(self.json()) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::Gone,
            Err(e) => return Loaded::Unreadable(e.to_string()),
        };
        let entry = match serde_json::from_slice::<Entry>(&bytes) {
            Ok(e) if e.id == self.0.id => e,
            Ok(e) => return Loaded::Unreadable(format!("names another entry, {}", e.id)),
            Err(e) => return Loaded::Unreadable(e.to_string()),
        };
        match exists(&self.eml()) {
            Ok(true) => Loaded::Ready(entry),
            Ok(false) => Loaded::NoMessage(entry),
            Err(e) => Loaded::Unreadable(format!("message file: {e}")),
        }
    }

    /// Rewrites the envelope (durably), only while envelope and message file
    /// both exist. Blocking.
    pub fn update(&self, e: &Entry) -> std::io::Result<Updated> {
        if !exists(&self.json())? {
            return Ok(Updated::Gone);
        }
        if !exists(&self.eml())? {
            return Ok(Updated::NoMessage);
        }
        write_entry(&self.0.qdir, e)?;
        Ok(Updated::Written)
    }

    /// Removes the entry: envelope first (that is the commit), then the
    /// message. An envelope already gone is fine. Blocking.
    pub fn finish(&self) -> std::io::Result<()> {
        match std::fs::remove_file(self.json()) {
            Ok(()) => sync_dir(&self.0.qdir)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        match std::fs::remove_file(self.eml()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(id = %self.0.id, error = %e, "cannot remove a relayed message file; removed at the next start")
            }
            _ => {}
        }
        Ok(())
    }

    /// Moves the envelope to `queue/lost/` (out of the runner's sight, kept for
    /// the administrator) and drops what is left of the message. Blocking.
    pub fn set_aside(&self) -> std::io::Result<PathBuf> {
        let lost = self.0.qdir.join("lost");
        crate::store::create_private_dir(&lost)?;
        let to = lost.join(format!("{}.json", self.0.id));
        std::fs::rename(self.json(), &to)?;
        sync_dir(&lost)?;
        sync_dir(&self.0.qdir)?;
        let _ = std::fs::remove_file(self.eml());
        Ok(to)
    }
}

fn exists(p: &Path) -> std::io::Result<bool> {
    match std::fs::symlink_metadata(p) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::hop::Hop;
    use crate::smtp::queue::{enqueue, list};

    fn setup() -> (tempfile::TempDir, PathBuf, String) {
        let dir = tempfile::tempdir().unwrap();
        let msg = dir.path().join("m.eml");
        std::fs::write(&msg, b"Subject: t\r\n\r\nbody\r\n").unwrap();
        let hop = Hop::relay_host("127.0.0.1", 25);
        let id = enqueue(dir.path(), &msg, "a@x.test", "b@y.test", &hop, None).unwrap();
        let qdir = crate::smtp::queue::dir(dir.path());
        (dir, qdir, id)
    }

    #[test]
    fn one_holder_at_a_time_released_when_the_last_clone_drops() {
        let (_d, qdir, id) = setup();
        let c = Claim::try_take(&qdir, &id).expect("first claim");
        assert!(Claim::try_take(&qdir, &id).is_none(), "a second owner");
        let c2 = c.clone();
        drop(c);
        assert!(Claim::try_take(&qdir, &id).is_none(), "released too early");
        drop(c2);
        let again = Claim::try_take(&qdir, &id).expect("released on drop");
        // Another folder's entry of the same id is another entry.
        let other = tempfile::tempdir().unwrap();
        assert!(Claim::try_take(other.path(), &id).is_some());
        drop(again);
    }

    #[test]
    fn claims_race_between_threads_and_only_one_wins() {
        let (_d, qdir, id) = setup();
        for _ in 0..50 {
            let barrier = Arc::new(std::sync::Barrier::new(8));
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let (q, i, b) = (qdir.clone(), id.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        b.wait();
                        let c = Claim::try_take(&q, &i);
                        // Hold it until every thread has tried.
                        b.wait();
                        c.is_some()
                    })
                })
                .collect();
            let winners = handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|w| *w)
                .count();
            assert_eq!(winners, 1);
        }
    }

    #[test]
    fn a_finished_entry_is_gone_for_the_next_holder_and_never_recreated() {
        let (_d, qdir, id) = setup();
        // A scan taken while the first attempt runs still lists the entry.
        let stale = list(qdir.parent().unwrap());
        assert_eq!(stale.len(), 1);
        let first = Claim::try_take(&qdir, &id).unwrap();
        let Loaded::Ready(mut e) = first.load() else {
            panic!("not ready")
        };
        first.finish().unwrap();
        drop(first);
        // The stale scan's attempt: it finds nothing to do.
        let second = Claim::try_take(&qdir, &stale[0].id).unwrap();
        assert!(matches!(second.load(), Loaded::Gone));
        // Even an update from the old holder's copy does not recreate it.
        e.attempts = 1;
        assert_eq!(second.update(&e).unwrap(), Updated::Gone);
        assert_eq!(std::fs::read_dir(&qdir).unwrap().count(), 0);
        assert!(second.finish().is_ok(), "finishing twice is harmless");
    }

    #[test]
    fn an_envelope_without_its_message_is_set_aside_not_rewritten() {
        let (_d, qdir, id) = setup();
        std::fs::remove_file(qdir.join(format!("{id}.eml"))).unwrap();
        let c = Claim::try_take(&qdir, &id).unwrap();
        let Loaded::NoMessage(mut e) = c.load() else {
            panic!("missing message not seen")
        };
        let before = std::fs::read(qdir.join(format!("{id}.json"))).unwrap();
        e.attempts = 7;
        assert_eq!(c.update(&e).unwrap(), Updated::NoMessage);
        assert_eq!(
            std::fs::read(qdir.join(format!("{id}.json"))).unwrap(),
            before
        );
        let to = c.set_aside().unwrap();
        assert!(to.starts_with(qdir.join("lost")) && to.exists());
        assert!(list(qdir.parent().unwrap()).is_empty());
    }

    #[test]
    fn an_update_is_written_while_the_entry_is_whole() {
        let (_d, qdir, id) = setup();
        let c = Claim::try_take(&qdir, &id).unwrap();
        let Loaded::Ready(mut e) = c.load() else {
            panic!("not ready")
        };
        e.attempts = 3;
        e.last_error = Some("421 busy".into());
        assert_eq!(c.update(&e).unwrap(), Updated::Written);
        let Loaded::Ready(again) = c.load() else {
            panic!("not ready")
        };
        assert_eq!(again.attempts, 3);
        // An envelope that names another id is not taken for this entry.
        e.id = "other".into();
        std::fs::write(
            qdir.join(format!("{id}.json")),
            serde_json::to_vec(&e).unwrap(),
        )
        .unwrap();
        assert!(matches!(c.load(), Loaded::Unreadable(_)));
    }
}
