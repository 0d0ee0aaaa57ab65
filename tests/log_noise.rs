//! The log says what an admin must act on: a client that sends an IP address
//! as TLS server name (SNI) is rustls's "Illegal SNI extension" warning on
//! every connection, harmless (the name is ignored); it stays out of the log.

mod common;

use common::{Daemon, TestConfig};

#[test]
fn an_ip_address_as_tls_server_name_logs_no_warning() {
    let cfg = TestConfig::new(
        "[imap]\nlisten = [\"127.0.0.1:0\"]\nlisten_tls = [\"127.0.0.1:0\"]\n",
        &[("example.test", "domain = \"example.test\"\n")],
    );
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    let addr = d.addr("imap", "tls");
    // openssl s_client sends the name given with -servername, an IP here.
    let out = common::output_with_stdin(
        std::process::Command::new("openssl").args([
            "s_client",
            "-quiet",
            "-ign_eof",
            "-connect",
            &addr.to_string(),
            "-servername",
            "127.0.0.1",
        ]),
        "a LOGOUT\r\n",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("* OK"), "the TLS session works: {text}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let log = d.log_text();
    assert!(!log.contains("SNI"), "{log}");
}
