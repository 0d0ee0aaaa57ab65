//! The golden messages in tests/golden/message: `NAME.eml`, with what ferrymail
//! must answer for it in `NAME.body`, `NAME.bodystructure` and `NAME.envelope`.

use std::path::{Path, PathBuf};

pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/message")
}

/// The bytes of `file` (`plain.eml`, `plain.envelope`, ...).
pub fn file(file: &str) -> Vec<u8> {
    std::fs::read(dir().join(file)).unwrap()
}

/// The message `NAME.eml`.
pub fn eml(name: &str) -> Vec<u8> {
    file(&format!("{name}.eml"))
}

/// Every golden message as (NAME, bytes), by name.
pub fn messages() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}
