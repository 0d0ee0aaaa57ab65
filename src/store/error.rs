//! The error type of the store, shared by all its parts.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("UID {uid} is already used in this mailbox")]
    DuplicateUid { uid: u32 },
    #[error("{0}")]
    Invalid(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl StoreError {
    /// True when the disk is full (or over quota): callers answer with a temporary error.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Io(e) => {
                matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
            }
            StoreError::Db(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
            }
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;
