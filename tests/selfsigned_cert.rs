//! Without `[tls]` the daemon makes a self-signed certificate whose subject CN
//! is the configured `hostname` and whose subjectAltName lists the hostname and
//! the loopback names; checked with the real `openssl x509`.

mod common;
mod imap_support;

use imap_support::{start, PLAIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_certificate_names_the_hostname() {
    let t = start(PLAIN, "", 0).await;
    let pem = t.cfg.data_dir().join("tls/selfsigned-cert.pem");
    assert!(pem.is_file(), "no certificate at {}", pem.display());
    let out = std::process::Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
            "-in",
        ])
        .arg(&pem)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let subject = text
        .lines()
        .find(|l| l.starts_with("subject"))
        .unwrap_or("");
    assert!(
        subject.trim_end().ends_with("CN = mail.test")
            || subject.trim_end().ends_with("CN=mail.test"),
        "subject: {text}"
    );
    assert!(!text.contains("rcgen"), "{text}");
    for san in [
        "DNS:mail.test",
        "DNS:localhost",
        "IP Address:127.0.0.1",
        "IP Address:0:0:0:0:0:0:0:1",
    ] {
        assert!(text.contains(san), "missing {san} in {text}");
    }
}
