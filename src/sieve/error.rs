//! The error of a Sieve script: where (line and column, both from 1; 0 when
//! the error has no place in the script, such as a runtime limit) and what.

use std::fmt;

/// A parse, validation or runtime error of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl Error {
    pub fn at(line: u32, column: u32, message: impl Into<String>) -> Error {
        Error {
            line,
            column,
            message: message.into(),
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
