//! Authentication: the shared login path, password hashes, SASL decoding, and
//! failed-login throttling.

pub mod login;
pub mod password;
pub mod sasl;
pub mod throttle;

pub use login::{login, LegacySession, LoginOutcome, LoginRequest, Proto};
pub use password::{hash_password, verify_password, Password};
pub use throttle::Throttle;
