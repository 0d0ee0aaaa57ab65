//! Legacy IMAP responses: the framing (lines, literals, size bounds) and parser
//! of `legacy::imap` never panic, whatever a hostile legacy server sends.
#![no_main]

use ferrymail::legacy::imap::{parse_internaldate, parse_responses, Response, Value};
use libfuzzer_sys::fuzz_target;

fn walk(v: &Value, depth: usize) {
    assert!(depth <= 70, "nesting deeper than the parser allows");
    match v {
        Value::List(l) => l.iter().for_each(|x| walk(x, depth + 1)),
        Value::Blob(_) => panic!("no blob without a mailstore"),
        other => {
            let _ = other.text();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    for r in parse_responses(data) {
        match r {
            Ok(Response::Untagged { values, .. }) => values.iter().for_each(|v| walk(v, 0)),
            Ok(Response::Tagged { tag, .. }) => assert!(!tag.contains(' ')),
            Ok(Response::Continue) | Err(_) => {}
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_internaldate(s);
    }
});
