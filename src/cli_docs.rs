//! `ferrymail completions SHELL` and `ferrymail man`: shell completion scripts
//! and roff manual pages, generated from the same clap definitions as the
//! command line itself, so they never drift from `--help`. The Debian package
//! (bench/build-deb.sh) installs what these print.

use std::io::Write;
use std::path::Path;

use clap_complete::Shell;

/// Writes the completion script of `cmd` (the whole command line) for
/// `shell` to standard output.
pub fn completions(mut cmd: clap::Command, shell: Shell) -> Result<(), String> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "ferrymail", &mut out);
    write_stdout(&out)
}

/// Without `dir`: writes ferrymail(1) to standard output. With `dir`: writes
/// ferrymail.1 and one page per subcommand (ferrymail-serve.1, ...) there.
pub fn man(cmd: clap::Command, dir: Option<&Path>) -> Result<(), String> {
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .map_err(|e| format!("cannot write the manual pages to {}: {e}", dir.display()))
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(|e| format!("cannot render the manual page: {e}"))?;
            write_stdout(&out)
        }
    }
}

fn write_stdout(bytes: &[u8]) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to standard output: {e}"))
}
