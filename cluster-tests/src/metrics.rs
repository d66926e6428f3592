//! A member's Prometheus metrics, read as a test reads them: one plain
//! `GET /metrics`. One file, which the node crate's tests include too
//! (`#[path]`: node cannot depend on cluster-tests).

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `GET /metrics` at `address`: the whole response, headers and all.
pub async fn scrape(address: &str) -> String {
    let read = async {
        let mut s = tokio::net::TcpStream::connect(address).await?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await?;
        let mut text = String::new();
        s.read_to_string(&mut text).await?;
        Ok::<_, std::io::Error>(text)
    };
    read.await
        .unwrap_or_else(|e| panic!("GET /metrics at {address}: {e}"))
}

/// `GET /metrics` at `address`: the value of `name` (0 when absent).
pub async fn metric(address: &str, name: &str) -> f64 {
    scrape(address)
        .await
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}
