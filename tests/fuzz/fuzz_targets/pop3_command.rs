//! POP3 command lines: `parse_command` never panics, refuses NUL and non-UTF-8,
//! and splits keyword and argument at the first space.
#![no_main]

use ferrymail::pop3::{parse_command, CommandError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_command(data) {
        Ok(c) => {
            assert!(!data.contains(&0));
            assert!(!c.keyword.contains(' '));
            assert!(c.keyword.len() <= data.len());
            assert_eq!(c.keyword, c.keyword.to_ascii_uppercase());
            if let Some(arg) = c.arg {
                assert_eq!(c.keyword.len() + 1 + arg.len(), data.len());
            } else {
                assert_eq!(c.keyword.len(), data.len());
            }
        }
        Err(CommandError::Nul) => assert!(data.contains(&0)),
        Err(CommandError::NotUtf8) => assert!(std::str::from_utf8(data).is_err()),
    }
});
