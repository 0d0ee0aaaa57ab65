//! Authentication: password hashes, login names, and (in later modules) the shared
//! login path used by IMAP, POP3 and SMTP AUTH.

pub mod password;

pub use password::{hash_password, verify_password, Password};
