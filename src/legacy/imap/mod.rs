//! A small IMAP4rev1 client for the legacy server (RFC 3501), written for two
//! jobs: the login check (whose connection may become a proxied session) and the
//! copy. Our own reader rather than async-imap, so that message literals are
//! streamed straight into message files (bounded memory whatever the size) and
//! one `UID FETCH` can stream a whole folder.
//!
//! The parts: `response` (response values, framing and parser, response
//! codes, dates), `command` (arguments, quoting, UID sets), `reader` (reading
//! responses off the connection, message bodies into files), `session` (login
//! and the command loop), `folders` (NAMESPACE, LIST, STATUS, EXAMINE) and
//! `fetch` (the `UID FETCH` stream).

mod command;
mod fetch;
mod folders;
mod reader;
mod response;
mod session;

pub use command::{uid_set, Arg};
pub use fetch::Fetched;
pub use folders::{FolderStatus, ListEntry};
pub use response::{parse_internaldate, parse_responses, Response, Status, Value};
pub use session::Session;
