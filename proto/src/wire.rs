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

/// Dial `address`, giving up after `timeout`.
pub async fn dial<Item, SinkItem>(
    address: &str,
    timeout: std::time::Duration,
) -> std::io::Result<Transport<Item, SinkItem>>
where
    Item: for<'de> serde::Deserialize<'de>,
    SinkItem: serde::Serialize,
{
    let stream = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{address}: no answer within {timeout:?}"),
            )
        })??;
    Ok(transport(stream))
}

/// Accept connections on `listener`, running `serve` on each, until
/// `shutdown`; then every open connection is closed too (a stopped server
/// answers nobody). A failed accept (fd exhaustion, an aborted handshake) does
/// not stop the server.
pub async fn serve_connections<F, Fut>(
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
    mut serve: F,
) -> std::io::Result<()>
where
    F: FnMut(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::pin!(shutdown);
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
                if let Ok((stream, _)) = accepted {
                    connections.spawn(serve(stream));
                }
            }
        }
    }
}
