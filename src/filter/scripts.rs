//! A user's Sieve scripts on disk: `accounts/<id>/sieve/`, one file per
//! script (`<hex of the UTF-8 name>.sieve`, so any name is a safe file name)
//! and `active`, which holds the name of the active script (none: no file).
//! Every write is a temporary file, fsync, rename, directory fsync: a crash
//! leaves the old or the new version, never half of one. The directory goes
//! with the account.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Most scripts one user keeps.
pub const MAX_SCRIPTS: usize = 32;
/// Longest script name, in characters (RFC 5804 §1.6: at least 128).
pub const MAX_NAME_CHARS: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("invalid script name")]
    BadName,
    #[error("no such script")]
    NotFound,
    #[error("a script of that name exists")]
    Exists,
    #[error("the script is active")]
    Active,
    #[error("too many scripts (at most {MAX_SCRIPTS})")]
    TooMany,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub struct Scripts {
    dir: PathBuf,
}

/// RFC 5804 §1.6: a name is UTF-8 without control characters (nor the
/// Unicode line separators), not empty.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && !name
            .chars()
            .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
}

fn file_name(name: &str) -> String {
    let mut s = String::with_capacity(name.len() * 2 + 6);
    for b in name.bytes() {
        s.push_str(&format!("{b:02x}"));
    }
    s.push_str(".sieve");
    s
}

fn name_of(file: &str) -> Option<String> {
    let hex = file.strip_suffix(".sieve")?;
    if hex.len() % 2 != 0 || hex.is_empty() {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// Writes `data` to `path` durably (temporary file, fsync, rename, directory
/// fsync).
fn write_durably(dir: &Path, path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        crate::store::blob::new_blob_id()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let r = f.write_all(data).and_then(|()| f.sync_all());
    if let Err(e) = r.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    crate::store::blob::sync_dir(dir)
}

impl Scripts {
    /// The scripts of the account whose directory is `account_dir`.
    pub fn new(account_dir: &Path) -> Scripts {
        Scripts {
            dir: account_dir.join("sieve"),
        }
    }

    /// The scripts of account `id` in `data_dir`.
    pub fn of(data_dir: &Path, id: i64) -> Scripts {
        Scripts::new(&data_dir.join("accounts").join(id.to_string()))
    }

    fn ensure_dir(&self) -> std::io::Result<()> {
        if !self.dir.exists() {
            crate::store::create_private_dir(&self.dir)?;
            if let Some(parent) = self.dir.parent() {
                crate::store::blob::sync_dir(parent)?;
            }
        }
        Ok(())
    }

    /// Every script's name and whether it is the active one, by name.
    pub fn list(&self) -> Result<Vec<(String, bool)>, ScriptError> {
        let active = self.active_name()?;
        let mut out = Vec::new();
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e.into()),
        };
        for e in rd.flatten() {
            if let Some(name) = e.file_name().to_str().and_then(name_of) {
                let is_active = active.as_deref() == Some(name.as_str());
                out.push((name, is_active));
            }
        }
        out.sort();
        Ok(out)
    }

    pub fn get(&self, name: &str) -> Result<Vec<u8>, ScriptError> {
        if !valid_name(name) {
            return Err(ScriptError::BadName);
        }
        match std::fs::read(self.dir.join(file_name(name))) {
            Ok(v) => Ok(v),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ScriptError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores (or replaces) script `name`. The caller has checked the script.
    pub fn put(&self, name: &str, source: &[u8]) -> Result<(), ScriptError> {
        if !valid_name(name) {
            return Err(ScriptError::BadName);
        }
        self.ensure_dir()?;
        let path = self.dir.join(file_name(name));
        if !path.exists() && self.list()?.len() >= MAX_SCRIPTS {
            return Err(ScriptError::TooMany);
        }
        write_durably(&self.dir, &path, source)?;
        Ok(())
    }

    /// Deletes script `name`; the active script cannot be deleted (RFC 5804).
    pub fn delete(&self, name: &str) -> Result<(), ScriptError> {
        if !valid_name(name) {
            return Err(ScriptError::BadName);
        }
        if self.active_name()?.as_deref() == Some(name) {
            return Err(ScriptError::Active);
        }
        match std::fs::remove_file(self.dir.join(file_name(name))) {
            Ok(()) => Ok(crate::store::blob::sync_dir(&self.dir)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ScriptError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Renames a script (the active one stays active under its new name).
    pub fn rename(&self, old: &str, new: &str) -> Result<(), ScriptError> {
        if !valid_name(old) || !valid_name(new) {
            return Err(ScriptError::BadName);
        }
        let from = self.dir.join(file_name(old));
        let to = self.dir.join(file_name(new));
        if !from.exists() {
            return Err(ScriptError::NotFound);
        }
        if to.exists() {
            return Err(ScriptError::Exists);
        }
        let was_active = self.active_name()?.as_deref() == Some(old);
        std::fs::rename(&from, &to)?;
        crate::store::blob::sync_dir(&self.dir)?;
        if was_active {
            self.set_active(Some(new))?;
        }
        Ok(())
    }

    /// Makes `name` the active script, or none.
    pub fn set_active(&self, name: Option<&str>) -> Result<(), ScriptError> {
        let path = self.dir.join("active");
        match name {
            Some(n) => {
                if !valid_name(n) {
                    return Err(ScriptError::BadName);
                }
                if !self.dir.join(file_name(n)).exists() {
                    return Err(ScriptError::NotFound);
                }
                write_durably(&self.dir, &path, n.as_bytes())?;
            }
            None => match std::fs::remove_file(&path) {
                Ok(()) => crate::store::blob::sync_dir(&self.dir)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            },
        }
        Ok(())
    }

    /// Whether an active script is set (one `stat`; the cheap test a
    /// delivery makes before anything else).
    pub fn has_active(&self) -> bool {
        self.dir.join("active").exists()
    }

    pub fn active_name(&self) -> Result<Option<String>, ScriptError> {
        match std::fs::read(self.dir.join("active")) {
            Ok(v) => Ok(String::from_utf8(v).ok().filter(|n| valid_name(n))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Records the last filtering error (`last-error`), or clears it. Best
    /// effort: the message it is about is delivered anyway.
    pub fn record_error(&self, error: Option<&str>) {
        let path = self.dir.join("last-error");
        match error {
            Some(e) => {
                let line = format!("{} {e}\n", crate::store::now());
                if self.ensure_dir().is_ok() {
                    let _ = write_durably(&self.dir, &path, line.as_bytes());
                }
            }
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    /// The last filtering error: (time, text).
    pub fn last_error(&self) -> Option<(i64, String)> {
        let text = std::fs::read_to_string(self.dir.join("last-error")).ok()?;
        let (t, e) = text.trim_end().split_once(' ')?;
        Some((t.parse().ok()?, e.to_string()))
    }

    /// The active script's name and source, if there is one.
    pub fn active(&self) -> Result<Option<(String, Vec<u8>)>, ScriptError> {
        let Some(name) = self.active_name()? else {
            return Ok(None);
        };
        match self.get(&name) {
            Ok(src) => Ok(Some((name, src))),
            Err(ScriptError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_round_trip_with_any_name() {
        let dir = tempfile::tempdir().unwrap();
        let s = Scripts::new(dir.path());
        assert!(s.list().unwrap().is_empty());
        assert!(s.active().unwrap().is_none() && !s.has_active());
        for name in ["Urlaub", "Фильтры", "收件箱 rules", "a/b..\\c", "💌"] {
            s.put(name, format!("# {name}\nkeep;\n").as_bytes())
                .unwrap();
            assert_eq!(
                s.get(name).unwrap(),
                format!("# {name}\nkeep;\n").as_bytes()
            );
        }
        assert_eq!(s.list().unwrap().len(), 5);
        s.set_active(Some("Фильтры")).unwrap();
        assert!(s.has_active());
        assert_eq!(s.active().unwrap().unwrap().0, "Фильтры");
        assert!(matches!(s.delete("Фильтры"), Err(ScriptError::Active)));
        s.rename("Фильтры", "Filters").unwrap();
        assert_eq!(s.active_name().unwrap().as_deref(), Some("Filters"));
        assert!(matches!(
            s.rename("Urlaub", "Filters"),
            Err(ScriptError::Exists)
        ));
        s.set_active(None).unwrap();
        s.delete("Filters").unwrap();
        assert!(matches!(s.get("Filters"), Err(ScriptError::NotFound)));
        assert!(matches!(s.put("", b"x"), Err(ScriptError::BadName)));
        assert!(matches!(s.put("a\nb", b"x"), Err(ScriptError::BadName)));
        assert!(matches!(
            s.set_active(Some("missing")),
            Err(ScriptError::NotFound)
        ));
        // Nothing but scripts and `active` in the directory.
        for e in std::fs::read_dir(dir.path().join("sieve")).unwrap() {
            let n = e.unwrap().file_name().into_string().unwrap();
            assert!(n == "active" || name_of(&n).is_some(), "{n}");
        }
    }
}
