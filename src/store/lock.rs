//! One process at a time in a data dir: `data_dir/lock`, held with an
//! exclusive `flock` by the daemon for as long as it runs, and by the account
//! commands while they write the data dir themselves (no daemon running). The
//! file says who holds it: `PID serve` or `PID command`. The kernel releases
//! the lock when its holder exits, however it exits; the file stays.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Who takes the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `ferrymail serve`.
    Serve,
    /// A command that writes the data dir itself (`account`, `users import`).
    Command,
}

impl Role {
    fn word(self) -> &'static str {
        match self {
            Role::Serve => "serve",
            Role::Command => "command",
        }
    }
}

/// The lock, held until dropped (or the process ends).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Why the lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it: its PID and role, as written in the file
    /// (`None` when the file does not say).
    Held {
        pid: Option<u32>,
        role: Option<Role>,
    },
    Io(std::io::Error),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Held { pid, role } => {
                let who = match role {
                    Some(Role::Serve) => "a ferrymail daemon",
                    Some(Role::Command) => "a ferrymail command",
                    None => "another process",
                };
                match pid {
                    Some(p) => write!(f, "{who} (PID {p}) is using this data dir"),
                    None => write!(f, "{who} is using this data dir"),
                }
            }
            LockError::Io(e) => write!(f, "{e}"),
        }
    }
}

pub fn lock_path(data_dir: &Path) -> PathBuf {
    data_dir.join("lock")
}

/// Takes the lock of `data_dir` (created, mode 0700, if missing) without
/// waiting, and writes this process's PID and `role` into it.
pub fn try_lock(data_dir: &Path, role: Role) -> Result<DataDirLock, LockError> {
    super::create_private_dir(data_dir).map_err(LockError::Io)?;
    let mut file = open(&lock_path(data_dir)).map_err(LockError::Io)?;
    // SAFETY: flock on a descriptor this function owns; no memory involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(held(&mut file));
        }
        return Err(LockError::Io(e));
    }
    let write = |f: &mut File| -> std::io::Result<()> {
        f.set_len(0)?;
        f.rewind()?;
        f.write_all(format!("{} {}\n", std::process::id(), role.word()).as_bytes())
    };
    // The PID only informs the next one who tries (a full disk may refuse it):
    // the lock itself is held either way.
    let _ = write(&mut file);
    Ok(DataDirLock { _file: file })
}

/// [`try_lock`], waiting up to `wait` while another *command* holds the lock
/// (commands hold it for moments; a daemon holds it for good).
pub fn lock_waiting_for_commands(
    data_dir: &Path,
    role: Role,
    wait: Duration,
) -> Result<DataDirLock, LockError> {
    let deadline = Instant::now() + wait;
    loop {
        match try_lock(data_dir, role) {
            Err(LockError::Held {
                role: Some(Role::Command) | None,
                ..
            }) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            r => return r,
        }
    }
}

/// Who holds the lock of `data_dir` now, if anyone; creates nothing (no
/// lock file: nobody).
pub fn holder(data_dir: &Path) -> Option<LockError> {
    let mut file = File::open(lock_path(data_dir)).ok()?;
    // SAFETY: as in `try_lock`; a lock taken here is dropped with `file`.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Some(held(&mut file));
    }
    None
}

fn open(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

/// What the holder wrote. It writes right after taking the lock: an empty
/// file is read again for a moment.
fn held(file: &mut File) -> LockError {
    for _ in 0..20 {
        let mut text = String::new();
        let _ = file.rewind();
        let _ = file.read_to_string(&mut text);
        let mut words = text.split_whitespace();
        let pid = words.next().and_then(|p| p.parse().ok());
        let role = match words.next() {
            Some("serve") => Some(Role::Serve),
            Some("command") => Some(Role::Command),
            _ => None,
        };
        if pid.is_some() {
            return LockError::Held { pid, role };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    LockError::Held {
        pid: None,
        role: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_names_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = try_lock(&data, Role::Serve).unwrap();
        match try_lock(&data, Role::Command) {
            Err(LockError::Held { pid, role }) => {
                assert_eq!(pid, Some(std::process::id()));
                assert_eq!(role, Some(Role::Serve));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            holder(&data),
            Some(LockError::Held {
                role: Some(Role::Serve),
                ..
            })
        ));
        drop(first);
        assert!(holder(&data).is_none());
        assert!(holder(&dir.path().join("none")).is_none());
        assert!(!dir.path().join("none").exists());
        let again = try_lock(&data, Role::Command).unwrap();
        drop(again);
        let text = std::fs::read_to_string(lock_path(&data)).unwrap();
        assert_eq!(text, format!("{} command\n", std::process::id()));
    }
}
