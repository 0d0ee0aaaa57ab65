//! The sessions that have a mailbox selected, so that a message one of them
//! (or SMTP, POP3, a MOVE) removes stays readable in the others until each
//! was told with an EXPUNGE (RFC 2180 §4.1.1, as Dovecot does): its metadata
//! is kept in memory and its file is unlinked only when the last of them let
//! it go. A crash loses nothing: such a file is no longer referenced by the
//! index, and [`super::Mailstore::open`] removes unreferenced files.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use super::types::MessageMeta;
use crate::store::blob;

/// Every open view of one account's mailboxes.
#[derive(Debug)]
pub(super) struct Views {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    /// Open views by mailbox.
    open: HashMap<i64, HashSet<u64>>,
    /// Removed messages some view may still be asked for, by (mailbox, UID).
    kept: HashMap<(i64, u32), Kept>,
}

#[derive(Debug)]
struct Kept {
    meta: MessageMeta,
    /// The index no longer references the file: unlink it at the end.
    unlink: bool,
    /// The views that were not told yet.
    waiting: HashSet<u64>,
}

/// One session's view of a mailbox, open from SELECT until it is closed
/// (dropped).
#[derive(Debug)]
pub struct View {
    views: Arc<Views>,
    id: u64,
    mailbox_id: i64,
}

impl Views {
    pub(super) fn new(dir: PathBuf) -> Views {
        Views {
            dir,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a view of `mailbox_id`; take it before reading the mailbox's
    /// messages, so that none removed afterwards is lost to it.
    pub(super) fn open(self: &Arc<Self>, mailbox_id: i64) -> View {
        let mut g = self.lock();
        g.next_id += 1;
        let id = g.next_id;
        g.open.entry(mailbox_id).or_default().insert(id);
        View {
            views: self.clone(),
            id,
            mailbox_id,
        }
    }

    /// `removed` left `mailbox_id` (committed); the files in `gone` are no
    /// longer referenced. Keeps what open views may still read; returns the
    /// files to unlink now.
    pub(super) fn removed(
        &self,
        mailbox_id: i64,
        removed: Vec<MessageMeta>,
        gone: Vec<String>,
    ) -> Vec<String> {
        let mut g = self.lock();
        let Some(open) = g.open.get(&mailbox_id).filter(|o| !o.is_empty()).cloned() else {
            return gone;
        };
        let mut gone: HashSet<String> = gone.into_iter().collect();
        for meta in removed {
            let unlink = gone.remove(&meta.blob);
            g.kept.insert(
                (mailbox_id, meta.uid),
                Kept {
                    meta,
                    unlink,
                    waiting: open.clone(),
                },
            );
        }
        gone.into_iter().collect()
    }

    /// A removed message as it was, while some view was not told.
    pub(super) fn kept(&self, mailbox_id: i64, uid: u32) -> Option<MessageMeta> {
        self.lock()
            .kept
            .get(&(mailbox_id, uid))
            .map(|k| k.meta.clone())
    }

    /// View `id` no longer needs (mailbox, uid), or any of them with `None`.
    fn release(&self, id: u64, mailbox_id: i64, uid: Option<u32>) {
        let mut unlink = Vec::new();
        {
            let mut g = self.lock();
            let mut done = |k: &mut Kept| -> bool {
                k.waiting.remove(&id);
                let last = k.waiting.is_empty();
                if last && k.unlink {
                    unlink.push(k.meta.blob.clone());
                }
                last
            };
            match uid {
                // One message told: a lookup, not a walk (a session is told
                // of a mass expunge one UID at a time).
                Some(u) => {
                    if g.kept.get_mut(&(mailbox_id, u)).is_some_and(&mut done) {
                        g.kept.remove(&(mailbox_id, u));
                    }
                }
                None => {
                    if let Some(o) = g.open.get_mut(&mailbox_id) {
                        o.remove(&id);
                        if o.is_empty() {
                            g.open.remove(&mailbox_id);
                        }
                    }
                    g.kept.retain(|(m, _), k| *m != mailbox_id || !done(k));
                }
            }
        }
        for b in unlink {
            let _ = std::fs::remove_file(blob::blob_path(&self.dir, &b));
        }
    }
}

impl View {
    /// The client was told that `uid` is gone.
    pub fn told_expunged(&self, uid: u32) {
        self.views.release(self.id, self.mailbox_id, Some(uid));
    }
}

impl Drop for View {
    fn drop(&mut self) {
        self.views.release(self.id, self.mailbox_id, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::flags::Flags;

    fn meta(uid: u32, blob: &str) -> MessageMeta {
        MessageMeta {
            id: uid as i64,
            uid,
            blob: blob.into(),
            size: 1,
            internaldate: 0,
            tz_minutes: 0,
            flags: Flags::new(),
            modseq: 1,
            legacy_uidl: None,
        }
    }

    #[test]
    fn a_file_is_unlinked_when_the_last_view_lets_it_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = blob::blob_path(dir.path(), "b1");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"x").unwrap();
        let views = Arc::new(Views::new(dir.path().to_path_buf()));
        // No view: unlink at once.
        assert_eq!(
            views.removed(7, vec![meta(1, "b0")], vec!["b0".into()]),
            ["b0"]
        );
        let a = views.open(7);
        let b = views.open(7);
        let other = views.open(8);
        let now = views.removed(7, vec![meta(5, "b1"), meta(6, "b2")], vec!["b1".into()]);
        assert!(now.is_empty(), "{now:?}");
        assert_eq!(views.kept(7, 5).unwrap().blob, "b1");
        a.told_expunged(5);
        assert!(views.kept(7, 5).is_some() && path.exists());
        drop(other);
        assert!(path.exists());
        drop(b);
        assert!(views.kept(7, 5).is_none() && !path.exists());
        // UID 6 still waits for `a`; its file is referenced elsewhere.
        assert!(views.kept(7, 6).is_some());
        drop(a);
        assert!(views.kept(7, 6).is_none());
        assert!(views.lock().open.is_empty());
    }
}
