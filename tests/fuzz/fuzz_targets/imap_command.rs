//! IMAP command path: the literal framing (`reader::literal_at_end`), the tag and
//! verb split, the command parser and its conversion (`convert::parse`) and
//! mailbox-name decoding never panic; a parsed command has a valid tag.
#![no_main]

use ferrymail::imap::convert::{mailbox_name, parse, tag_and_verb, Parsed};
use ferrymail::imap::reader::literal_at_end;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((n, _)) = literal_at_end(data) {
        // The size is the digits before `}` (u64::MAX when too big).
        let _ = n;
        assert!(data.contains(&b'{'));
    }
    let (tag, _verb) = tag_and_verb(data);
    if let Some(t) = &tag {
        assert!(!t.is_empty() && t.len() <= 64);
        assert!(!t.bytes().any(|b| b <= b' ' || b == b'*' || b == b'+'));
    }
    // The session hands the parser complete commands ending in CRLF.
    let mut line = data.to_vec();
    line.extend_from_slice(b"\r\n");
    for input in [data, &line[..]] {
        match parse(input) {
            Parsed::Ok { tag: t, cmd } => {
                assert_eq!(Some(&t), tag.as_ref());
                let _ = cmd.name();
            }
            Parsed::No { tag: t, text } => {
                assert!(!text.is_empty());
                assert_eq!(Some(&t), tag.as_ref());
            }
            Parsed::Bad { tag: t, text } => {
                assert!(!text.is_empty());
                if let Some(t) = t {
                    assert_eq!(Some(&t), tag.as_ref());
                }
            }
        }
    }
    let _ = mailbox_name(data);
});
