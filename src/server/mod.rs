//! Connection plumbing, used by every protocol front end and using none of
//! them: the connection type ([`Conn`]: timeouts, bounded reads, STARTTLS),
//! accept loops with connection caps ([`listener`]), and TLS set up from plain
//! file paths ([`tls`]).

pub mod conn;
mod deflate;
pub mod listener;
pub mod tls;

pub use conn::{Conn, ConnError};
pub use listener::Service;
