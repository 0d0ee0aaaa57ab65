//! The CLI side of the admin API: a small blocking HTTP client that reads the
//! daemon's address from the config and its token from data_dir.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::config::Config;

pub struct AdminClient {
    addr: SocketAddr,
    token: String,
    timeout: Duration,
}

impl AdminClient {
    pub fn from_config(config: &Config) -> Result<AdminClient, String> {
        let mut addr = config.admin_listen.ok_or(
            "the config has no [admin] listen address; the daemon has no admin API to talk to",
        )?;
        if addr.port() == 0 {
            // Port chosen by the system: the daemon wrote it to data_dir/listeners.
            let listeners =
                std::fs::read_to_string(config.data_dir.join("listeners")).map_err(|e| {
                    format!("admin listen port is 0 and data_dir/listeners is unreadable: {e}")
                })?;
            addr = listeners
                .lines()
                .find_map(|l| l.strip_prefix("admin plain ")?.trim().parse().ok())
                .ok_or("admin listen port is 0 and the daemon has not written its address")?;
        }
        let path = super::token_path(&config.data_dir);
        let token = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read the admin token {}: {e} (is the daemon started, and may you read its data_dir?)", path.display()))?
            .trim()
            .to_string();
        Ok(AdminClient {
            addr,
            token,
            timeout: Duration::from_secs(600),
        })
    }

    /// Sends a request; returns the status and the body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(u16, Vec<u8>), String> {
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).map_err(|e| {
            format!("cannot reach the daemon's admin API at {}: {e} (is `ferrymail serve` running?)", self.addr)
        })?;
        s.set_read_timeout(Some(self.timeout)).ok();
        s.set_write_timeout(Some(self.timeout)).ok();
        let body = body.unwrap_or(b"");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            self.token,
            body.len()
        );
        s.write_all(head.as_bytes())
            .and_then(|_| s.write_all(body))
            .map_err(|e| format!("admin API: {e}"))?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp)
            .map_err(|e| format!("admin API: {e}"))?;
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("admin API: malformed response")?;
        let head = String::from_utf8_lossy(&resp[..split]);
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("admin API: malformed status line")?;
        Ok((status, resp[split + 4..].to_vec()))
    }

    /// GET returning JSON; a non-200 answer becomes an error with the API's text.
    pub fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let (status, body) = self.request("GET", path, None)?;
        decode(status, &body)
    }

    pub fn post_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, String> {
        let data = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let (status, resp) = self.request("POST", path, Some(&data))?;
        decode(status, &resp)
    }
}

fn decode<T: serde::de::DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, String> {
    if status != 200 {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let text = v["error"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
        return Err(format!("admin API answered {status}: {text}"));
    }
    serde_json::from_slice(body).map_err(|e| format!("admin API: bad JSON: {e}"))
}

/// Percent-encodes a query value (an address, a domain name) for the API.
pub fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
