//! Hostile bytes on a storage node's RPC port. Alone in its test binary:
//! it reads the node's log lines, which `tracing` would not route reliably
//! to one test's subscriber while other tests run on other threads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use net::serving::Serving;
use node::service::{run, Node, NodeConfig};
use proto::node_api::NodeServiceClient;
use tarpc::context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start(dir: &std::path::Path) -> (SocketAddr, Serving) {
    let (node, _) = Node::open(&NodeConfig::new(proto::assignment::NodeId(1), dir)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, Serving::spawn(|stopped| run(listener, node, stopped)))
}

async fn connect(addr: SocketAddr) -> NodeServiceClient {
    let transport = net::wire::dial(&addr.to_string(), std::time::Duration::from_secs(5))
        .await
        .unwrap();
    NodeServiceClient::new(tarpc::client::Config::default(), transport).spawn()
}

/// Log lines written while a test runs (its tasks on the test's thread).
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Whether the server closed `stream` (end of file, or a reset) within 5 s.
async fn closed_by_server(stream: &mut tokio::net::TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // The server's greeting, or an answer: keep reading.
            Ok(Ok(_)) => {}
        }
    }
}

/// Hostile bytes on the RPC port: each bad connection is closed with a
/// logged reason naming the peer, and the node goes on serving the others.
#[tokio::test]
async fn hostile_bytes_close_only_their_own_connection_with_a_reason() {
    let logs = Logs::default();
    let writer = logs.clone();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish(),
    );
    let dir = tempfile::tempdir().unwrap();
    let (addr, mut serving) = start(dir.path()).await;
    let client = connect(addr).await;
    let epoch = client.health(context::current()).await.unwrap().epoch;
    let greeting = |version: u16| {
        let mut g = b"CPGRPC".to_vec();
        g.extend_from_slice(&version.to_be_bytes());
        g.push(0); // plain TCP
        g
    };
    let good = greeting(net::wire::PROTOCOL_VERSION);
    let frame = |len: u32, body: &[u8]| {
        let mut f = len.to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "another protocol",
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            "not a cpg peer",
        ),
        (
            "a protocol version this release no longer speaks",
            greeting(net::wire::OLDEST_PROTOCOL_VERSION - 1),
            "protocol version",
        ),
        (
            "an oversized frame",
            [good.clone(), frame(u32::MAX, b"xx")].concat(),
            "Requests stream errored out",
        ),
        (
            "garbage in a frame",
            [good.clone(), frame(9, &[0xff; 9])].concat(),
            "Requests stream errored out",
        ),
        (
            "a truncated frame",
            [good.clone(), frame(1000, b"only a little")].concat(),
            "Requests stream errored out",
        ),
    ];
    for (what, bytes, reason) in cases {
        let before = logs.text().matches(reason).count();
        let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
        raw.write_all(&bytes).await.unwrap();
        if what == "a truncated frame" {
            // The peer goes away in the middle of the frame.
            raw.shutdown().await.unwrap();
        }
        assert!(closed_by_server(&mut raw).await, "{what}: still open");
        // The reason is logged once the connection's task ends.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while logs.text().matches(reason).count() == before {
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: no {reason:?} logged:\n{}",
                logs.text()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let line = logs
            .text()
            .lines()
            .rfind(|l| l.contains(reason))
            .unwrap()
            .to_string();
        assert!(
            line.contains("peer=127.0.0.1:"),
            "{what}: {line}\n{}",
            logs.text()
        );
        // Everyone else is still served.
        assert_eq!(
            client.health(context::current()).await.unwrap().epoch,
            epoch
        );
    }
    // A file name that could leave the ingest root is refused, by name.
    let escaping = proto::node_api::SourceUpload {
        file: "lib/../../etc/evil.ex".into(),
        bytes: b"defmodule Evil do\nend\n".to_vec(),
    };
    let files = vec![proto::node_api::IngestFile {
        upload: escaping,
        before: Vec::new(),
    }];
    match client
        .ingest(context::current(), epoch, 4, files, Vec::new())
        .await
        .unwrap()
    {
        Err(proto::CpgError::InvalidInput { reason }) => {
            assert!(reason.contains("lib/../../etc/evil.ex"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    serving.stop().await.unwrap();
}
