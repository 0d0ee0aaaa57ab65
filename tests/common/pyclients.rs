//! Real client programs: Python scripts (poplib, imaplib, smtplib) run with
//! `python3 -c`, and any client program run off the runtime that serves it.

use std::net::SocketAddr;
use std::process::{Command, Output};

use super::output_with_stdin;

/// Runs `python3 -c SCRIPT ARGS...` with `stdin` on its standard input; it must
/// succeed. Returns its standard output.
pub fn run_python(script: &str, args: &[&str], stdin: &str) -> String {
    let out = output_with_stdin(
        Command::new("python3").arg("-c").arg(script).args(args),
        stdin,
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python3 {args:?} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Runs a client script that logs in: it gets the host, port and `user` as
/// arguments and reads the password from its first line of input.
pub fn run_login_script(script: &str, addr: SocketAddr, user: &str, pass: &str) -> String {
    run_python(
        script,
        &[&addr.ip().to_string(), &addr.port().to_string(), user],
        &format!("{pass}\n"),
    )
}

/// Runs a client program off the runtime that serves it.
pub async fn run_blocking(cmd: &mut Command) -> Output {
    let mut cmd = std::mem::replace(cmd, Command::new("true"));
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}
