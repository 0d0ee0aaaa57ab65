//! A small HTTP/1.1 server side for the admin API: one request per connection,
//! bounded headers and body, every read with a timeout.

use std::collections::HashMap;

use crate::server::conn::trim_eol;
use crate::server::{Conn, ConnError};

/// Longest request line or header line.
const MAX_LINE: usize = 8 * 1024;
/// Most header lines.
const MAX_HEADERS: usize = 64;
/// Largest request body (a bulk migration list is sent in chunks below this).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    /// Header names lower-cased.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The value of one cookie.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.header("cookie")?.split(';').find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then_some(v)
        })
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            headers: vec![],
            body: body.into(),
        }
    }

    pub fn json<T: serde::Serialize>(status: u16, value: &T) -> Response {
        let body = serde_json::to_vec_pretty(value).unwrap_or_else(|_| b"{}".to_vec());
        Response::new(status, "application/json", body)
    }

    /// `{"error": text}` with `status`.
    pub fn error(status: u16, text: &str) -> Response {
        Response::json(status, &serde_json::json!({ "error": text }))
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Conn(#[from] ConnError),
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    #[error("request body too large")]
    TooLarge,
    #[error("request not received in time")]
    Timeout,
}

/// Decodes `%xx` and `+` in a query component.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// Time for the request line and all headers, however slowly they trickle in.
pub const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Time for the whole body once the headers are in.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Reads the request line and headers within `HEADER_TIMEOUT` (else
/// `HttpError::Timeout`); the body is read by [`read_body`].
pub async fn read_head(conn: &mut Conn) -> Result<Request, HttpError> {
    tokio::time::timeout(HEADER_TIMEOUT, read_head_inner(conn))
        .await
        .unwrap_or(Err(HttpError::Timeout))
}

/// Reads the body announced by `Content-Length` (at most `MAX_BODY`, within
/// `BODY_TIMEOUT`) into `req.body`.
pub async fn read_body(conn: &mut Conn, req: &mut Request) -> Result<(), HttpError> {
    let len: usize = match req.headers.get("content-length") {
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| HttpError::Malformed("content-length"))?,
        None => 0,
    };
    if len > MAX_BODY {
        return Err(HttpError::TooLarge);
    }
    req.body = tokio::time::timeout(BODY_TIMEOUT, conn.read_exact(len))
        .await
        .map_err(|_| HttpError::Timeout)??;
    Ok(())
}

async fn read_head_inner(conn: &mut Conn) -> Result<Request, HttpError> {
    let line = conn.read_line(MAX_LINE).await?;
    let line = String::from_utf8_lossy(trim_eol(&line)).into_owned();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::Malformed("request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed("HTTP version"));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), parse_query(q)),
        None => (target.to_string(), HashMap::new()),
    };
    let mut headers = HashMap::new();
    for _ in 0..=MAX_HEADERS {
        let l = conn.read_line(MAX_LINE).await?;
        let l = trim_eol(&l);
        if l.is_empty() {
            return Ok(Request {
                method: method.to_string(),
                path,
                query,
                headers,
                body: Vec::new(),
            });
        }
        let l = String::from_utf8_lossy(l);
        let (k, v) = l.split_once(':').ok_or(HttpError::Malformed("header"))?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    Err(HttpError::Malformed("too many headers"))
}

pub async fn write_response(conn: &mut Conn, resp: &Response) -> Result<(), ConnError> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type,
        resp.body.len()
    );
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write(head.as_bytes());
    conn.write(&resp.body);
    conn.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query("domain=example.org&user=a%40b.c&x=1+2&bad=%zz&tail=%4");
        assert_eq!(q["domain"], "example.org");
        assert_eq!(q["user"], "a@b.c");
        assert_eq!(q["x"], "1 2");
        assert_eq!(q["bad"], "%zz");
        assert_eq!(q["tail"], "%4");
    }
}
