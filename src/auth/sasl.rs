//! SASL PLAIN (RFC 4616) and LOGIN decoding, shared by IMAP AUTHENTICATE,
//! POP3 AUTH and SMTP AUTH.

use base64::Engine;

use super::Password;

/// Credentials carried by a SASL exchange.
#[derive(Debug)]
pub struct Credentials {
    pub username: String,
    pub password: Password,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    #[error("invalid base64")]
    Base64,
    #[error("malformed PLAIN message")]
    Malformed,
    #[error("authorization identity differs from the authentication identity")]
    Authzid,
    #[error("authentication cancelled")]
    Cancelled,
}

/// Decodes base64 as sent in SASL exchanges (`=` means empty).
pub fn decode_b64(s: &[u8]) -> Result<Vec<u8>, SaslError> {
    let s = trim(s);
    if s == b"=" {
        return Ok(vec![]);
    }
    if s == b"*" {
        return Err(SaslError::Cancelled);
    }
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| SaslError::Base64)
}

fn trim(s: &[u8]) -> &[u8] {
    let s = s.strip_suffix(b"\n").unwrap_or(s);
    s.strip_suffix(b"\r").unwrap_or(s)
}

pub fn encode_b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Decodes a PLAIN message (already base64-decoded): `authzid NUL authcid NUL
/// passwd`. An authorization identity is accepted only when it names the same user.
pub fn parse_plain(msg: &[u8]) -> Result<Credentials, SaslError> {
    let mut parts = msg.split(|&b| b == 0);
    let (Some(authz), Some(authc), Some(pass), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    let authc = std::str::from_utf8(authc).map_err(|_| SaslError::Malformed)?;
    let pass = std::str::from_utf8(pass).map_err(|_| SaslError::Malformed)?;
    if authc.is_empty() {
        return Err(SaslError::Malformed);
    }
    if !authz.is_empty() && authz != authc.as_bytes() {
        return Err(SaslError::Authzid);
    }
    Ok(Credentials {
        username: authc.to_string(),
        password: Password::new(pass),
    })
}

/// Decodes a base64 PLAIN response.
pub fn parse_plain_b64(b64: &[u8]) -> Result<Credentials, SaslError> {
    parse_plain(&decode_b64(b64)?)
}

/// Builds the PLAIN message for a client (used towards legacy servers).
pub fn plain_b64(username: &str, password: &Password) -> String {
    let mut v = Vec::with_capacity(username.len() + password.expose().len() + 2);
    v.push(0);
    v.extend_from_slice(username.as_bytes());
    v.push(0);
    v.extend_from_slice(password.expose().as_bytes());
    encode_b64(&v)
}

/// Decodes one step of the LOGIN mechanism (a base64 user name or password).
pub fn parse_login_step(b64: &[u8]) -> Result<String, SaslError> {
    String::from_utf8(decode_b64(b64)?).map_err(|_| SaslError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain() {
        let c = parse_plain_b64(b"AGFsaWNlAHNlY3JldA==\r\n").unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(c.password.expose(), "secret");
        let c = parse_plain(b"alice\0alice\0pw").unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(
            parse_plain(b"admin\0alice\0pw").unwrap_err(),
            SaslError::Authzid
        );
        assert_eq!(parse_plain(b"alice\0pw").unwrap_err(), SaslError::Malformed);
        assert_eq!(parse_plain(b"\0\0pw").unwrap_err(), SaslError::Malformed);
        assert_eq!(parse_plain_b64(b"!!!").unwrap_err(), SaslError::Base64);
        assert_eq!(parse_plain_b64(b"*").unwrap_err(), SaslError::Cancelled);
        let round = parse_plain_b64(plain_b64("bob", &Password::new("p w")).as_bytes()).unwrap();
        assert_eq!(
            (round.username.as_str(), round.password.expose()),
            ("bob", "p w")
        );
    }
}
