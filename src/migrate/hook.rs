//! The post-migrate hook (`post_migrate_hook` in a domain file): run after a user's
//! switch with the address as its only argument and the password on standard
//! input, never in argv or the environment, under a timeout. Its outcome is
//! logged and shown in status; a failing hook never undoes a migration.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::auth::Password;

/// Output kept from each of stdout and stderr.
const MAX_OUTPUT: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HookOutcome {
    /// Exit status; `None` when killed (timeout) or not started.
    pub status: Option<i32>,
    pub timed_out: bool,
    /// stdout then stderr, truncated.
    pub output: String,
    /// Why it did not start, if it did not.
    pub error: Option<String>,
}

impl HookOutcome {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// One line for status and logs: `ok`, `exit 3`, `timed out`, `not started: ...`.
    pub fn summary(&self) -> String {
        match (&self.error, self.timed_out, self.status) {
            (Some(e), _, _) => format!("not started: {e}"),
            (None, true, _) => "timed out".into(),
            (None, false, Some(0)) => "ok".into(),
            (None, false, Some(c)) => format!("exit {c}"),
            (None, false, None) => "killed by a signal".into(),
        }
    }
}

async fn read_capped(r: Option<impl tokio::io::AsyncRead + Unpin>) -> Vec<u8> {
    let Some(mut r) = r else {
        return vec![];
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => {
                // Keep draining so the hook never blocks on a full pipe.
                let room = MAX_OUTPUT.saturating_sub(out.len());
                out.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

/// Runs `hook ADDRESS` with `password` on stdin, killing it after `timeout`.
pub async fn run(
    hook: &Path,
    address: &str,
    password: &Password,
    timeout: Duration,
) -> HookOutcome {
    let mut child = match tokio::process::Command::new(hook)
        .arg(address)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so a timeout kills what it started too.
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return HookOutcome {
                status: None,
                timed_out: false,
                output: String::new(),
                error: Some(e.to_string()),
            }
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is not an error.
        let _ = stdin.write_all(password.expose().as_bytes()).await;
        let _ = stdin.write_all(b"\n").await;
    }
    let out = tokio::spawn(read_capped(child.stdout.take()));
    let err = tokio::spawn(read_capped(child.stderr.take()));
    let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(s)) => (s.code(), false),
        Ok(Err(_)) => (None, false),
        Err(_) => {
            if let Some(pid) = child.id() {
                // SAFETY: signals the process group created for this child.
                unsafe {
                    libc::kill(-(pid as i32), libc::SIGKILL);
                }
            }
            let _ = child.kill().await;
            (None, true)
        }
    };
    let grace = Duration::from_secs(2);
    let mut output = tokio::time::timeout(grace, out)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    output.extend(
        tokio::time::timeout(grace, err)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default(),
    );
    HookOutcome {
        status,
        timed_out,
        output: String::from_utf8_lossy(&output).into_owned(),
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, body: &str) -> std::path::PathBuf {
        let p = dir.join("hook.sh");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[tokio::test]
    async fn password_on_stdin_never_in_argv_or_environment() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("seen");
        let hook = script(
            dir.path(),
            &format!(
                "read pw\necho \"arg=$1 pw=$pw\" > {o}\ntr '\\0' ' ' < /proc/$$/cmdline >> {o}\necho >> {o}\ntr '\\0' ' ' < /proc/$$/environ >> {o}\necho done",
                o = out.display()
            ),
        );
        let r = run(
            &hook,
            "ann@example.test",
            &Password::new("Secr3t-pw"),
            Duration::from_secs(10),
        )
        .await;
        assert!(r.success(), "{r:?}");
        assert_eq!(r.output.trim(), "done");
        let seen = std::fs::read_to_string(&out).unwrap();
        let mut lines = seen.lines();
        assert_eq!(lines.next().unwrap(), "arg=ann@example.test pw=Secr3t-pw");
        let rest: String = lines.collect();
        assert!(rest.contains("ann@example.test"), "cmdline: {rest}");
        assert!(
            !rest.contains("Secr3t-pw"),
            "password leaked into argv or environment: {rest}"
        );
    }

    #[tokio::test]
    async fn failure_timeout_and_missing_hook() {
        let dir = tempfile::tempdir().unwrap();
        let hook = script(dir.path(), "echo oops >&2\nexit 3");
        let r = run(&hook, "a@b", &Password::new("p"), Duration::from_secs(10)).await;
        assert_eq!(
            (r.status, r.summary().as_str(), r.output.trim()),
            (Some(3), "exit 3", "oops")
        );
        let hook = script(dir.path(), "sleep 30");
        let r = run(
            &hook,
            "a@b",
            &Password::new("p"),
            Duration::from_millis(300),
        )
        .await;
        assert!(r.timed_out && r.summary() == "timed out", "{r:?}");
        let r = run(
            &dir.path().join("missing"),
            "a@b",
            &Password::new("p"),
            Duration::from_secs(1),
        )
        .await;
        assert!(r.summary().starts_with("not started"), "{r:?}");
    }
}
