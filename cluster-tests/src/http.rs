//! A minimal HTTP/1.1 client for the HTTP API tests, plain or over TLS.

use std::path::Path;
use std::time::Duration;

/// An HTTP response: status, headers (names lower-cased) and body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request to `address` (`host:port`), the connection closed
/// after it: what the HTTP API tests send, without a client library.
pub fn http(
    address: &str,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Result<HttpResponse, String> {
    let stream = std::net::TcpStream::connect(address).map_err(|e| format!("{address}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    exchange(stream, address, method, path, body)
}

/// [`http`] over TLS, presenting the client certificate `client` of the
/// certificates in `certs_dir` (`client.root` for `cpg cert create-client
/// root`) and trusting only the cluster's CA.
pub fn https(
    certs_dir: &Path,
    client: &str,
    address: &str,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Result<HttpResponse, String> {
    let config = net::certs::client_config(certs_dir, client).map_err(|e| e.to_string())?;
    let host = address
        .rsplit_once(':')
        .map_or(address, |(h, _)| h)
        .to_string();
    let name = rustls::pki_types::ServerName::try_from(host).map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name)
        .map_err(|e| e.to_string())?;
    let tcp = std::net::TcpStream::connect(address).map_err(|e| format!("{address}: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    exchange(
        rustls::StreamOwned::new(conn, tcp),
        address,
        method,
        path,
        body,
    )
}

fn exchange(
    mut stream: impl std::io::Read + std::io::Write,
    address: &str,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Result<HttpResponse, String> {
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|_| stream.write_all(body))
        .map_err(|e| format!("{address}: {e}"))?;
    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw) {
        // A TLS peer that closes without close_notify: what was read counts.
        if raw.is_empty() || e.kind() != std::io::ErrorKind::UnexpectedEof {
            return Err(format!("{address}: {e}"));
        }
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {head:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or("bad chunk")?;
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..end]).trim(), 16)
                .map_err(|e| format!("bad chunk size: {e}"))?;
            rest = &rest[end + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(rest.get(..size).ok_or("short chunk")?);
            rest = rest.get(size + 2..).ok_or("short chunk")?;
        }
        body = out;
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}
