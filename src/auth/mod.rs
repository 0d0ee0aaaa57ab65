//! Authentication building blocks: password hashes (and the [`Password`] type
//! that keeps secrets out of logs), SASL decoding, and failed-login
//! throttling. The login path itself is the login gate, `crate::login`.

pub mod credcache;
pub mod password;
pub mod sasl;
pub mod throttle;

pub use credcache::CredentialCache;
pub use password::{hash_password, verify_password, Password};
pub use throttle::Throttle;
