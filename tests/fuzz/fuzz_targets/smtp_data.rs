//! The DATA phase parser, fed line by line the way `Conn::read_whole_line`
//! splits input: a line over `MAX_DATA_LINE` (1000 octets) is consumed whole and
//! only whether it ended in CRLF or a bare LF is told to the parser.
//! Invariants: the end of data is only ever `CRLF . CRLF`, after any line,
//! over-long or not; a message accepted (verdict Ok) has CRLF-only lines, no
//! bare CR or LF, no over-long line, and is never over the size limit.
#![no_main]

use ferrymail::smtp::data::{DataParser, Step, Verdict, MAX_DATA_LINE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut p = DataParser::new(4096, 3);
    let mut out = Vec::new();
    let mut prev: &[u8] = b"\r\n";
    let mut rest = data;
    let mut ended = false;
    let mut long = false;
    while let Some(i) = rest.iter().position(|&b| b == b'\n') {
        let (line, r) = rest.split_at(i + 1);
        rest = r;
        if line.len() > MAX_DATA_LINE {
            p.too_long(line.ends_with(b"\r\n"));
            // The end of data may follow only if this line ended in CRLF.
            prev = line;
            long = true;
            continue;
        }
        match p.line(line) {
            Step::End => {
                assert_eq!(line, b".\r\n");
                assert!(prev.ends_with(b"\r\n"));
                ended = true;
                break;
            }
            Step::Write(b) => out.extend_from_slice(b),
        }
        prev = line;
    }
    if long {
        assert_ne!(p.verdict, Verdict::Ok);
    }
    if ended && p.verdict == Verdict::Ok {
        assert!(p.size <= 4096);
        assert_eq!(out.len() as u64, p.size);
        // CRLF-only: every LF is preceded by CR, every CR followed by LF.
        for (i, &b) in out.iter().enumerate() {
            if b == b'\n' {
                assert!(i > 0 && out[i - 1] == b'\r');
            }
            if b == b'\r' {
                assert_eq!(out.get(i + 1), Some(&b'\n'));
            }
        }
        assert!(out.is_empty() || out.ends_with(b"\r\n"));
    }
    if p.verdict != Verdict::Ok {
        assert!(!p.verdict.reply().starts_with('2'));
    }
});
