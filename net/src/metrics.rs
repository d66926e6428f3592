//! The Prometheus text exposition of a process's figures, and the tiny HTTP
//! server answering `GET /metrics` with it (every other path is a 404).

use std::fmt::Write;
use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Builds one exposition: `# HELP`/`# TYPE` once per metric family.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, "gauge", help);
        let _ = writeln!(self.text, "{name} {value}");
    }

    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, "counter", help);
        let _ = writeln!(self.text, "{name} {value}");
    }

    /// A histogram from cumulative bucket counts `(upper bound, count)`
    /// (the last bound may be infinite), their sum and count.
    pub fn histogram(
        &mut self,
        name: &str,
        help: &str,
        buckets: &[(f64, u64)],
        sum: f64,
        count: u64,
    ) {
        self.family(name, "histogram", help);
        for (le, n) in buckets {
            let le = if le.is_infinite() {
                "+Inf".to_string()
            } else {
                le.to_string()
            };
            let _ = writeln!(self.text, "{name}_bucket{{le=\"{le}\"}} {n}");
        }
        let _ = writeln!(self.text, "{name}_sum {sum}");
        let _ = writeln!(self.text, "{name}_count {count}");
    }

    pub fn finish(self) -> String {
        self.text
    }
}

/// Serve `GET /metrics` on `listener` with what `render` returns at that
/// moment, until `shutdown`. One request per connection; a client that sends
/// nothing within 5 s or more than 8 KiB of request is dropped.
pub async fn serve_metrics<R>(
    listener: tokio::net::TcpListener,
    render: R,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    R: Fn() -> String + Send + Sync + Clone + 'static,
{
    tokio::pin!(shutdown);
    loop {
        let (mut stream, _) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => continue,
            },
        };
        let render = render.clone();
        tokio::spawn(async move {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let line = request.split(|b| *b == b'\r').next().unwrap_or(&[]);
            let (status, kind, body) = if line.starts_with(b"GET /metrics ") {
                ("200 OK", "text/plain; version=0.0.4", render())
            } else {
                (
                    "404 Not Found",
                    "text/plain",
                    "only /metrics is served here\n".to_string(),
                )
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// Serve metrics on `address` in the background if one is given (a
/// daemon's `--metrics-listen`); the listener is bound before returning, so
/// a bad address is an error at startup.
pub async fn spawn_if_asked<R>(
    address: Option<&str>,
    render: R,
) -> std::io::Result<Option<tokio::task::JoinHandle<std::io::Result<()>>>>
where
    R: Fn() -> String + Send + Sync + Clone + 'static,
{
    let Some(address) = address else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot serve metrics on {address}: {e}"))
    })?;
    Ok(Some(tokio::spawn(serve_metrics(
        listener,
        render,
        std::future::pending(),
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn metrics_are_served_and_other_paths_are_not() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut server = crate::serving::Serving::spawn(|stopped| {
            serve_metrics(
                listener,
                || {
                    let mut e = Exposition::default();
                    e.gauge("cpg_test", "a test figure", 1.5);
                    e.histogram(
                        "cpg_lat_seconds",
                        "latency",
                        &[(0.1, 2), (f64::INFINITY, 3)],
                        0.4,
                        3,
                    );
                    e.finish()
                },
                stopped,
            )
        });
        let ok = get(addr, "/metrics").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
        assert!(ok.contains("# TYPE cpg_test gauge\ncpg_test 1.5\n"), "{ok}");
        assert!(
            ok.contains("cpg_lat_seconds_bucket{le=\"+Inf\"} 3\n"),
            "{ok}"
        );
        let missing = get(addr, "/").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        server.stop().await.unwrap();
    }
}
