//! Framing of every connection: length-delimited frames with a deliberate
//! size limit, bincode inside (tarpc's serde transport).

use tarpc::tokio_util::codec::{Framed, LengthDelimitedCodec};

/// The largest frame accepted or sent: big enough for a batch of source files
/// or a partition's summaries, small enough that a hostile peer cannot make a
/// process allocate gigabytes. Larger payloads are split by the sender.
pub const MAX_FRAME: usize = 64 << 20;

/// Frame a byte stream for a tarpc serde transport.
pub fn framed<S>(io: S) -> Framed<S, LengthDelimitedCodec>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite,
{
    Framed::new(
        io,
        LengthDelimitedCodec::builder()
            .max_frame_length(MAX_FRAME)
            .new_codec(),
    )
}

/// A tarpc transport over one framed TCP connection, bincode inside.
pub type Transport<Item, SinkItem> = tarpc::serde_transport::Transport<
    tokio::net::TcpStream,
    Item,
    SinkItem,
    tarpc::tokio_serde::formats::Bincode<Item, SinkItem>,
>;

/// Wrap an accepted or dialled connection.
pub fn transport<Item, SinkItem>(stream: tokio::net::TcpStream) -> Transport<Item, SinkItem>
where
    Item: for<'de> serde::Deserialize<'de>,
    SinkItem: serde::Serialize,
{
    let _ = stream.set_nodelay(true);
    tarpc::serde_transport::new(
        framed(stream),
        tarpc::tokio_serde::formats::Bincode::default(),
    )
}

/// The version of the protocol spoken on every connection. Raise it when a
/// wire type changes incompatibly: peers of different versions refuse each
/// other at once instead of misreading each other's frames.
pub const PROTOCOL_VERSION: u16 = 1;

/// What both ends send first: the magic bytes, then the version (big endian).
const MAGIC: &[u8; 6] = b"CPGRPC";

fn preamble() -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..6].copy_from_slice(MAGIC);
    out[6..].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    out
}

/// Why a peer's first bytes were refused.
fn check_preamble(got: &[u8; 8]) -> Result<(), String> {
    if &got[..6] != MAGIC {
        return Err(format!(
            "not a cpg peer: its first bytes were {:?}",
            String::from_utf8_lossy(got)
        ));
    }
    let version = u16::from_be_bytes([got[6], got[7]]);
    if version != PROTOCOL_VERSION {
        return Err(format!(
            "the peer speaks cpg protocol version {version}, this process version {PROTOCOL_VERSION}; run the same release everywhere"
        ));
    }
    Ok(())
}

/// Send our preamble and check the peer's, within `timeout`.
async fn handshake(
    stream: &mut tokio::net::TcpStream,
    timeout: std::time::Duration,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        stream.write_all(&preamble()).await?;
        let mut got = [0u8; 8];
        stream.read_exact(&mut got).await?;
        check_preamble(&got).map_err(std::io::Error::other)
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no protocol greeting within {timeout:?}"),
        )
    })?
}

/// How long an accepted connection has to greet before it is closed.
const GREETING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Dial `address`, giving up after `timeout`; both ends check they speak
/// the same protocol version before anything else is sent.
pub async fn dial<Item, SinkItem>(
    address: &str,
    timeout: std::time::Duration,
) -> std::io::Result<Transport<Item, SinkItem>>
where
    Item: for<'de> serde::Deserialize<'de>,
    SinkItem: serde::Serialize,
{
    let mut stream = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{address}: no answer within {timeout:?}"),
            )
        })??;
    handshake(&mut stream, timeout)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("{address}: {e}")))?;
    Ok(transport(stream))
}

/// Accept connections on `listener`, running `serve` on each, until
/// `shutdown`; then every open connection is closed too (a stopped server
/// answers nobody). A failed accept (fd exhaustion, an aborted handshake) does
/// not stop the server.
///
/// Each connection first exchanges protocol greetings (see [`dial`]); one
/// that greets wrongly or not at all is closed with a logged reason. Every
/// connection runs in a span naming its peer, so what goes wrong later
/// (an oversized, truncated or undecodable frame closes the connection) is
/// logged with the peer too.
pub async fn serve_connections<F, Fut>(
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
    serve: F,
) -> std::io::Result<()>
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    use tracing::Instrument;
    tokio::pin!(shutdown);
    let serve = std::sync::Arc::new(serve);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
        tokio::select! {
            _ = &mut shutdown => {
                connections.shutdown().await;
                return Ok(());
            }
            accepted = listener.accept() => {
                if let Ok((mut stream, peer)) = accepted {
                    let serve = serve.clone();
                    let span = tracing::info_span!("connection", %peer);
                    connections.spawn(
                        async move {
                            match handshake(&mut stream, GREETING_TIMEOUT).await {
                                Ok(()) => serve(stream).await,
                                Err(e) => tracing::warn!("closing the connection: {e}"),
                            }
                        }
                        .instrument(span),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_of_strangers_and_other_versions_are_refused_with_the_reason() {
        assert_eq!(check_preamble(&preamble()), Ok(()));
        let http = check_preamble(b"GET / HT").unwrap_err();
        assert!(http.starts_with("not a cpg peer"), "{http}");
        let mut newer = preamble();
        newer[6..].copy_from_slice(&(PROTOCOL_VERSION + 1).to_be_bytes());
        let newer = check_preamble(&newer).unwrap_err();
        assert!(
            newer.contains(&format!("version {}", PROTOCOL_VERSION + 1))
                && newer.contains("run the same release everywhere"),
            "{newer}"
        );
    }
}
