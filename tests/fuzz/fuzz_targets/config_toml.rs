//! The configuration loader on arbitrary server files: problems are reported,
//! nothing panics. The domains folder holds one fixed valid domain file.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn dir() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let d = tempfile::tempdir().unwrap().keep();
        std::fs::create_dir_all(d.join("domains")).unwrap();
        std::fs::write(
            d.join("domains/example.org.toml"),
            "domain = \"example.org\"\n",
        )
        .unwrap();
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let path = dir().join("ferrymail.toml");
    std::fs::write(&path, data).unwrap();
    if let Err(problems) = ferrymail::config::load(&path) {
        assert!(!problems.is_empty());
    }
});
