//! SMTP command lines: the verb split, MAIL/RCPT paths and ESMTP parameters, and
//! the SASL PLAIN decoding of AUTH. No input may panic; every accepted address
//! must keep the invariants the router relies on.
#![no_main]

use ferrymail::auth::sasl;
use ferrymail::smtp::address::{parse_address, parse_path};
use ferrymail::smtp::split_command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sasl::parse_plain_b64(data);
    let _ = sasl::parse_login_step(data);
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let (verb, arg) = split_command(line);
    assert!(verb.len() <= line.len());
    for allow_null in [true, false] {
        if let Ok(p) = parse_path(arg, allow_null) {
            assert!(allow_null || p.address.is_some());
            assert!(p.params.len() <= 10);
            for (k, _) in &p.params {
                assert!(!k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
            }
            if let Some(a) = p.address {
                check(&a.local, &a.domain);
                // What we relay parses back to the same address.
                let again = parse_address(&a.to_wire());
                if a.local.bytes().all(|b| b.is_ascii_graphic()) {
                    assert_eq!(again.as_ref().ok(), Some(&a), "{:?}", a.to_wire());
                }
            }
        }
    }
    if let Ok(a) = parse_address(line) {
        check(&a.local, &a.domain);
    }
});

fn check(local: &str, domain: &str) {
    assert!(!local.is_empty() && local.len() <= 64);
    for bad in ['%', '!', '@', '\r', '\n', '\0', '<', '>'] {
        assert!(!local.contains(bad), "{local:?}");
    }
    assert!(!domain.is_empty());
    assert!(!domain
        .chars()
        .any(|c| c.is_control() || c == ' ' || c == '@'));
}
