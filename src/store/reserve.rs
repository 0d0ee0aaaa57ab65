//! The disk reserve: a file of [`RESERVE_BYTES`] in the data dir, made at
//! start-up when there is room. When the disk fills up, the operations that
//! give space back (EXPUNGE, POP3 deletions, the flag change that marks mail
//! `\Deleted`, deleting a mailbox) would fail too: SQLite needs a little room
//! to record even a deletion. Such an operation that fails for lack of space
//! releases the reserve and is tried once more, so that users can always
//! make room. The reserve is made again once there is room for it (at start-up
//! and every minute). And new mail is refused while less than the reserve's
//! size is free, or twice that while the reserve is released ([`check_room`]),
//! so the room freed for deletions is not eaten at once by the next delivery.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The reserve's name in the data dir.
pub const RESERVE_FILE: &str = "reserve";
/// Its largest size: room for SQLite to record deletions in many accounts.
pub const RESERVE_BYTES: u64 = 4 << 20;

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(RESERVE_FILE)
}

/// (bytes free for unprivileged writers, size) of the file system of `dir`.
fn space(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the zeroed struct; `c` is a valid C string.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return None;
        }
        let unit = st.f_frsize as u64;
        Some((st.f_bavail as u64 * unit, st.f_blocks as u64 * unit))
    }
}

/// The reserve's size on a file system of `total` bytes: [`RESERVE_BYTES`],
/// or a sixteenth of a small one.
fn reserve_size(total: u64) -> u64 {
    RESERVE_BYTES.min(total / 16)
}

/// `Err(ENOSPC)` when a new message (APPEND, delivery, copy) would take room
/// that deletions need: less than the reserve's size is free, or the reserve
/// was released and there is not room to make it again besides.
pub fn check_room(dir: &Path, data_dir: &Path) -> std::io::Result<()> {
    let Some((free, total)) = space(dir) else {
        return Ok(());
    };
    let r = reserve_size(total);
    let need = if path(data_dir).exists() { r } else { 2 * r };
    if free < need {
        return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
    }
    Ok(())
}

/// Makes the reserve ([`RESERVE_BYTES`], or a sixteenth of a small file
/// system) when it is missing and the disk has room for it twice over
/// (blocking). A disk without room leaves no partial file.
pub fn ensure(data_dir: &Path) {
    let file = path(data_dir);
    let Some((free, total)) = space(data_dir) else {
        return;
    };
    let size = reserve_size(total);
    if std::fs::metadata(&file).is_ok_and(|m| m.len() == size) || free < 2 * size || size == 0 {
        return;
    }
    let tmp = data_dir.join(format!("{RESERVE_FILE}.tmp"));
    let made = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode_private()
            .open(&tmp)?;
        f.write_all(&vec![0u8; size as usize])?;
        f.sync_all()?;
        std::fs::rename(&tmp, &file)
    })();
    if let Err(e) = made {
        let _ = std::fs::remove_file(&tmp);
        tracing::warn!(error = %e, "no room for the disk reserve: deletions on a full disk may fail");
    }
}

/// Releases the reserve of the data dir that holds account dir `account_dir`
/// (`data_dir/accounts/N`); `true` when there was one to release.
pub fn release_for(account_dir: &Path) -> bool {
    match account_dir.parent().and_then(Path::parent) {
        Some(data_dir) => release(data_dir),
        None => false,
    }
}

/// [`check_room`] for account dir `account_dir` (`data_dir/accounts/N`).
pub fn check_room_for(account_dir: &Path) -> std::io::Result<()> {
    match account_dir.parent().and_then(Path::parent) {
        Some(data_dir) => check_room(account_dir, data_dir),
        None => Ok(()),
    }
}

/// Releases the reserve of `data_dir`; `true` when there was one to release.
pub fn release(data_dir: &Path) -> bool {
    let released = std::fs::remove_file(path(data_dir)).is_ok();
    if released {
        tracing::warn!(
            data_dir = %data_dir.display(),
            "the data disk is full: released the disk reserve so that deletions go through; free space, then restart to make it again"
        );
    }
    released
}

/// `OpenOptions::mode(0o600)`, spelled once.
trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateMode for std::fs::OpenOptions {
    fn mode_private(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_released_once() {
        let dir = tempfile::tempdir().unwrap();
        let account = dir.path().join("accounts/7");
        std::fs::create_dir_all(&account).unwrap();
        ensure(dir.path());
        let (_, total) = space(dir.path()).unwrap();
        assert_eq!(
            std::fs::metadata(path(dir.path())).unwrap().len(),
            reserve_size(total)
        );
        assert!(release_for(&account));
        assert!(!release_for(&account));
        assert!(!path(dir.path()).exists());
    }
}
