//! The error of a Sieve script: where (line and column, both from 1; 0 when
//! the error has no place in the script, such as a runtime limit) and what.

use std::fmt;

/// Longest error message kept, in bytes.
pub const MAX_MESSAGE: usize = 400;

/// A parse, validation or runtime error of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl Error {
    /// An error at a place; messages longer than `MAX_MESSAGE` bytes (they may
    /// quote the script) are cut at a character and end with `...`.
    pub fn at(line: u32, column: u32, message: impl Into<String>) -> Error {
        let mut message = message.into();
        if message.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str("...");
        }
        Error {
            line,
            column,
            message,
        }
    }

    /// An error without a place in the script (runtime limits, loader errors).
    pub fn runtime(message: impl Into<String>) -> Error {
        Error::at(0, 0, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "line {}:{}: {}", self.line, self.column, self.message)
        }
    }
}

impl std::error::Error for Error {}
