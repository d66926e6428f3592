//! Framing of every connection: length-delimited frames with a deliberate
//! size limit, bincode inside (tarpc's serde transport).

use std::pin::Pin;

use tarpc::tokio_serde::formats::Bincode;
use tarpc::tokio_serde::{Deserializer, Serializer};
use tarpc::tokio_util::bytes::{Bytes, BytesMut};
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

/// A tarpc transport over one framed connection, bincode inside.
pub type Transport<Item, SinkItem> =
    tarpc::serde_transport::Transport<Conn, Item, SinkItem, Guarded<Item, SinkItem>>;

/// One connection: plain TCP, or TLS over it (the dialling or the
/// accepting side).
#[derive(Debug)]
pub enum Conn {
    Plain(tokio::net::TcpStream),
    Client(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
    Server(Box<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>),
    /// Dialled by a named member of an in-process test cluster: over a link
    /// that may be faulted (`faults`).
    Faulty(Box<crate::faults::Faulty<Conn>>),
}

/// What every kind of connection is: bytes both ways.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

impl Conn {
    /// The stream under the connection, whatever its kind.
    fn io(self: Pin<&mut Self>) -> Pin<&mut dyn Io> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s),
            Conn::Client(s) => Pin::new(s.as_mut()),
            Conn::Server(s) => Pin::new(s.as_mut()),
            Conn::Faulty(s) => Pin::new(s.as_mut()),
        }
    }
}

impl tokio::io::AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.io().poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.io().poll_write(cx, buf)
    }

    fn poll_flush(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.io().poll_flush(cx)
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.io().poll_shutdown(cx)
    }
}

pub use crate::certs::Tls;

static TLS: std::sync::OnceLock<Option<Tls>> = std::sync::OnceLock::new();

/// Secure every connection of this process with `tls`, or none (`None`:
/// `--insecure`). Once per process; whether this call set it.
pub fn secure_with(tls: Option<Tls>) -> bool {
    TLS.set(tls).is_ok()
}

/// Secure every link of this daemon (`who`: "node", "coordinator") as its
/// flags say: mutual TLS with the certificates in `certs_dir`, or plain TCP
/// when `insecure` (logged as a warning).
pub fn secure_links(
    certs_dir: Option<&std::path::Path>,
    insecure: bool,
    who: &str,
) -> Result<(), String> {
    let tls = crate::certs::security(certs_dir, "node", true, insecure)?;
    if tls.is_none() {
        tracing::warn!("--insecure: every link of this {who} is plain TCP");
    }
    secure_with(tls);
    Ok(())
}

fn tls() -> Option<&'static Tls> {
    TLS.get().and_then(Option::as_ref)
}

/// Whether this process's links are TLS.
pub fn uses_tls() -> bool {
    tls().is_some()
}

/// tarpc's bincode format, guarded against what a hostile peer can send:
/// tarpc 0.38 turns a request's deadline into an `Instant` by adding it to
/// the current time unchecked, which panics for a huge one, so requests
/// with a deadline over [`MAX_DEADLINE_SECS`] are refused before decoding;
/// and any other panic while decoding becomes an error for that
/// connection only. Messages are encoded at the link's protocol version
/// (see [`proto::encoding`]).
#[derive(Debug)]
pub struct Guarded<Item, SinkItem> {
    /// Frames are tarpc `ClientMessage`s (a server's side).
    requests: bool,
    /// The protocol the link runs at.
    version: u16,
    ghost: std::marker::PhantomData<fn() -> (Item, SinkItem)>,
}

/// The longest request deadline accepted: a day.
pub const MAX_DEADLINE_SECS: u64 = 24 * 3600;

/// One bincode varint at the start of `bytes`: its value and length.
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let (&first, rest) = bytes.split_first()?;
    let wide = |n: usize| -> Option<(u64, usize)> {
        let b = rest.get(..n)?;
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(b);
        Some((u64::from_le_bytes(v), n + 1))
    };
    match first {
        0..=250 => Some((u64::from(first), 1)),
        251 => wide(2),
        252 => wide(4),
        253 => wide(8),
        // A u128 varint: no deadline fits that.
        _ => None,
    }
}

/// Why a request frame is refused before decoding, if it is: a request
/// (`ClientMessage::Request`, variant 0) starts with its context, whose
/// first field is the deadline as a duration (seconds, then nanoseconds).
pub fn check_request(frame: &[u8]) -> Result<(), String> {
    let Some((variant, n)) = varint(frame) else {
        return Err("an empty or undecodable frame".into());
    };
    if variant != 0 {
        return Ok(());
    }
    match varint(&frame[n..]) {
        Some((secs, _)) if secs <= MAX_DEADLINE_SECS => Ok(()),
        Some((secs, _)) => Err(format!(
            "a request deadline {secs} s away (at most {MAX_DEADLINE_SECS} s)"
        )),
        None => Err("a request without a readable deadline".into()),
    }
}

impl<Item, SinkItem> Deserializer<Item> for Guarded<Item, SinkItem>
where
    for<'a> Item: serde::Deserialize<'a>,
{
    type Error = std::io::Error;

    fn deserialize(self: Pin<&mut Self>, src: &BytesMut) -> Result<Item, Self::Error> {
        let this = self.get_mut();
        let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
        if this.requests {
            check_request(src).map_err(invalid)?;
        }
        std::panic::catch_unwind(|| {
            std::pin::pin!(Bincode::<Item, SinkItem>::default()).deserialize(src)
        })
        .unwrap_or_else(|_| Err(invalid("a frame that made the decoder panic".into())))
    }
}

impl<Item, SinkItem> Serializer<SinkItem> for Guarded<Item, SinkItem>
where
    SinkItem: serde::Serialize,
{
    type Error = std::io::Error;

    fn serialize(self: Pin<&mut Self>, item: &SinkItem) -> Result<Bytes, Self::Error> {
        proto::encoding::at(self.version, || {
            std::pin::pin!(Bincode::<Item, SinkItem>::default()).serialize(item)
        })
    }
}

impl<Item, SinkItem> Guarded<Item, SinkItem> {
    /// The format of a server's side (`requests`) or a client's, on a
    /// link at protocol `version`.
    pub fn new(requests: bool, version: u16) -> Self {
        Guarded {
            requests,
            version,
            ghost: std::marker::PhantomData,
        }
    }
}

fn transport_of<Item, SinkItem>(
    stream: Conn,
    requests: bool,
    version: u16,
) -> Transport<Item, SinkItem>
where
    Item: for<'de> serde::Deserialize<'de>,
    SinkItem: serde::Serialize,
{
    tarpc::serde_transport::new(framed(stream), Guarded::new(requests, version))
}

/// Wrap a dialled connection (a client's side) of a link at protocol
/// `version`.
pub fn transport<Item, SinkItem>(stream: Conn, version: u16) -> Transport<Item, SinkItem>
where
    Item: for<'de> serde::Deserialize<'de>,
    SinkItem: serde::Serialize,
{
    transport_of(stream, false, version)
}

/// Wrap an accepted connection (a server's side: frames are requests) of
/// a link at protocol `version`.
pub fn server_transport<Item, SinkItem>(stream: Conn, version: u16) -> Transport<Item, SinkItem>
where
    Item: for<'de> serde::Deserialize<'de>,
    SinkItem: serde::Serialize,
{
    transport_of(stream, true, version)
}

/// The version of the protocol spoken on every connection. Raise it when a
/// wire type changes incompatibly: peers of different versions refuse each
/// other at once instead of misreading each other's frames. (2: replicas
/// behind, linearizable reads, the module graph, the link mode in the
/// greeting. 3: injections and `use` arguments in summaries, macro calls,
/// call candidates and undefined flags, library packages in the report.
/// 4: checks, keys, deprecations, templates. 5: projects and shared
/// libraries in the catalog, the project of a query. 6: removed files
/// travel with an ingest's batches. 7: taint severities, exclusions and
/// flow rules. 8: sanitizers scoped to sources, map keys on bindings.
/// 9: the Summaries query. 11: exports in chunks. 12: a partition's
/// summaries travel encoded, as bytes. 13: the catalog listing names the
/// files without modules. 14: walk tables and rounds on the nodes, the
/// catalog for backups. 15: the size of a node's walk tables in its
/// health. 16: the greeting negotiates, see [`OLDEST_PROTOCOL_VERSION`];
/// no wire type changed. 17: `CpgError::NotDurable`, carried as `Internal`
/// on links at 15 or 16.)
pub const PROTOCOL_VERSION: u16 = 17;

/// The oldest protocol this release speaks to a peer: at least its
/// predecessor's, so that a cluster can be upgraded one process at a time
/// (17 speaks 16 and 15, which 16 encodes alike). A link whose peer is of
/// an older version runs at that version: the dialler greets
/// with its own version, an accepting process answers with the version
/// both speak, and a dialler answered with an older version (a release
/// before 16 answers with its own and closes) dials again at that one.
/// A release that changes a wire type must either encode the previous
/// shape on links at the previous version or raise this to its own
/// version, which ends rolling upgrades from the previous release: each
/// link's codec encodes at the version its greeting agreed (see
/// [`proto::encoding`]). Protocol 16 encodes exactly what 15 does, and 17
/// writes on links at either what they had.
pub const OLDEST_PROTOCOL_VERSION: u16 = 15;

/// The first protocol whose listeners answer a greeting in kind: a
/// dialler answered with an older version than its own by one of these
/// has its link (at that version), by an older one must dial again.
const FIRST_NEGOTIATING_VERSION: u16 = 16;

/// The version a link runs at, given the peer's greeting: the lower of
/// the two, if this release speaks it.
pub fn negotiated(peer: u16) -> Option<u16> {
    let v = peer.min(PROTOCOL_VERSION);
    (v >= OLDEST_PROTOCOL_VERSION).then_some(v)
}

/// This build's release and protocol, as processes report it
/// (`0.1.0 (protocol 17)`): what a rolling upgrade watches change.
pub fn release() -> String {
    format!(
        "{} (protocol {PROTOCOL_VERSION})",
        env!("CARGO_PKG_VERSION")
    )
}

/// What both ends send first: the magic bytes, the version (big endian),
/// and whether the link goes on in TLS (1) or plain TCP (0).
const MAGIC: &[u8; 6] = b"CPGRPC";

/// Length of the greeting.
pub const PREAMBLE_LEN: usize = 9;

fn preamble(version: u16) -> [u8; PREAMBLE_LEN] {
    let mut out = [0u8; PREAMBLE_LEN];
    out[..6].copy_from_slice(MAGIC);
    out[6..8].copy_from_slice(&version.to_be_bytes());
    out[8] = u8::from(tls().is_some());
    out
}

/// The version a peer's greeting announces, or why its first bytes were
/// refused (another protocol, a version too far apart, the other link mode).
fn check_preamble(got: &[u8; PREAMBLE_LEN]) -> Result<u16, String> {
    if &got[..6] != MAGIC {
        return Err(format!(
            "not a cpg peer: its first bytes were {:?}",
            String::from_utf8_lossy(got)
        ));
    }
    let version = u16::from_be_bytes([got[6], got[7]]);
    if negotiated(version).is_none() {
        return Err(format!(
            "the peer speaks cpg protocol version {version}, this process versions {OLDEST_PROTOCOL_VERSION} to {PROTOCOL_VERSION}; upgrade a cluster one release at a time"
        ));
    }
    match (got[8], tls().is_some()) {
        (1, false) => Err("the peer uses TLS (started with --certs-dir) and this process plain TCP (--insecure): give it --certs-dir with the cluster's certificates".into()),
        (0, true) => Err("the peer uses plain TCP (--insecure) and this process TLS (--certs-dir): start every process and client of a cluster the same way".into()),
        (0 | 1, _) => Ok(version),
        (mode, _) => Err(format!("not a cpg peer: link mode {mode}")),
    }
}

/// `exchange` within `timeout`, or a time-out naming the greeting.
async fn greeting_within<T>(
    timeout: std::time::Duration,
    exchange: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    tokio::time::timeout(timeout, exchange).await.map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no protocol greeting within {timeout:?}"),
        )
    })?
}

/// An accepted connection's greeting: the peer's first, then ours at the
/// version the link runs at (ours when the peer is refused, so that its
/// message names both). The version agreed.
async fn greet_dialler(
    stream: &mut tokio::net::TcpStream,
    timeout: std::time::Duration,
) -> std::io::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    greeting_within(timeout, async {
        let mut got = [0u8; PREAMBLE_LEN];
        stream.read_exact(&mut got).await?;
        let checked = check_preamble(&got);
        // A peer refused for its link mode is answered at its version all
        // the same, so that its own check gets as far as the mode and says
        // so (an older release checks the version first).
        let announced = (&got[..6] == MAGIC).then(|| u16::from_be_bytes([got[6], got[7]]));
        let answer = announced.and_then(negotiated).unwrap_or(PROTOCOL_VERSION);
        stream.write_all(&preamble(answer)).await?;
        checked.map(|_| answer).map_err(std::io::Error::other)
    })
    .await
}

/// What a dialled peer's greeting says about the link.
enum Greeted {
    /// It runs at this version.
    At(u16),
    /// The peer is of an older release that answers with its own version
    /// and closes: dial again at that version.
    Older(u16),
}

/// A dialled connection's greeting: ours at `version`, then the peer's.
async fn greet_listener(
    stream: &mut tokio::net::TcpStream,
    version: u16,
    timeout: std::time::Duration,
) -> std::io::Result<Greeted> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    greeting_within(timeout, async {
        stream.write_all(&preamble(version)).await?;
        let mut got = [0u8; PREAMBLE_LEN];
        stream.read_exact(&mut got).await?;
        let theirs = check_preamble(&got).map_err(std::io::Error::other)?;
        Ok(if theirs == version {
            Greeted::At(version)
        } else if theirs < version && theirs >= FIRST_NEGOTIATING_VERSION {
            // A negotiating listener answered in kind: the link is open.
            Greeted::At(theirs)
        } else if theirs < version {
            Greeted::Older(theirs)
        } else {
            return Err(std::io::Error::other(format!(
                "the peer answered a greeting of protocol version {version} with version {theirs}"
            )));
        })
    })
    .await
}

/// The TLS handshake of an accepted connection, when this process uses
/// TLS: the connection and the role its client certificate carries
/// (without TLS, every peer is trusted as the cluster). Also what the HTTPS
/// API accepts with.
pub async fn accept_tls(
    stream: tokio::net::TcpStream,
) -> Result<(Conn, crate::certs::Role), String> {
    let Some(t) = tls() else {
        return Ok((Conn::Plain(stream), crate::certs::Role::Cluster));
    };
    let Some(server) = &t.server else {
        return Err("this process serves no TLS connections".into());
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(server.clone());
    let tls = tokio::time::timeout(GREETING_TIMEOUT, acceptor.accept(stream))
        .await
        .map_err(|_| format!("no TLS handshake within {GREETING_TIMEOUT:?}"))?
        .map_err(|e| format!("TLS handshake refused: {e}"))?;
    let role = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(crate::certs::Role::of)
        .ok_or("the peer presented no certificate")?;
    Ok((Conn::Server(Box::new(tls)), role))
}

/// How long an accepted connection has to greet before it is closed.
const GREETING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether `address` is `host:port` (an IP address or a DNS name, and a
/// port number): what a process may advertise and peers dial.
pub fn check_address(address: &str) -> Result<(), String> {
    if address.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    let bad = || format!("{address:?} is not HOST:PORT (an IP address or a host name, and a port)");
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().map_err(|_| bad())?;
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if name_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Dial `address`, giving up after `timeout`; both ends agree on a
/// protocol version (see [`connect_greeted`]) before anything else is sent.
pub async fn dial<Item, SinkItem>(
    address: &str,
    timeout: std::time::Duration,
) -> std::io::Result<Transport<Item, SinkItem>>
where
    Item: for<'de> serde::Deserialize<'de>,
    SinkItem: serde::Serialize,
{
    let link = crate::faults::link(address);
    if link
        .as_ref()
        .is_some_and(|l| l.fault() == Some(crate::faults::Fault::Reset))
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            format!("{address}: connection refused (the link was reset)"),
        ));
    }
    if link
        .as_ref()
        .is_some_and(|l| l.fault() == Some(crate::faults::Fault::Cut))
    {
        // A cut link drops the connection attempt: no answer in time.
        tokio::time::sleep(timeout).await;
        return Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("{address}: no answer within {timeout:?}"),
        ));
    }
    let (stream, version) = connect_greeted(address, timeout).await?;
    let conn = match tls() {
        None => Conn::Plain(stream),
        Some(t) => {
            let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
            let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{address}: {e}"))
            })?;
            let tls = tokio::time::timeout(
                timeout,
                tokio_rustls::TlsConnector::from(t.client.clone()).connect(name, stream),
            )
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("{address}: no TLS handshake within {timeout:?}"),
                )
            })?
            .map_err(|e| std::io::Error::new(e.kind(), format!("{address}: TLS: {e}")))?;
            Conn::Client(Box::new(tls))
        }
    };
    let conn = match link {
        Some(link) => Conn::Faulty(Box::new(crate::faults::Faulty::new(conn, link))),
        None => conn,
    };
    Ok(transport(conn, version))
}

/// A TCP connection to `address` whose greeting agreed on a version (see
/// [`OLDEST_PROTOCOL_VERSION`]), and that version.
pub async fn connect_greeted(
    address: &str,
    timeout: std::time::Duration,
) -> std::io::Result<(tokio::net::TcpStream, u16)> {
    let at = |e: std::io::Error| std::io::Error::new(e.kind(), format!("{address}: {e}"));
    let mut version = PROTOCOL_VERSION;
    loop {
        let mut stream = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address))
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("{address}: no answer within {timeout:?}"),
                )
            })??;
        let _ = stream.set_nodelay(true);
        match greet_listener(&mut stream, version, timeout)
            .await
            .map_err(at)?
        {
            Greeted::At(v) => {
                if v < PROTOCOL_VERSION {
                    tracing::debug!(
                        address,
                        version = v,
                        "an older peer: the link runs at its protocol"
                    );
                }
                return Ok((stream, v));
            }
            // Once: the older version was checked as one this release speaks.
            Greeted::Older(v) if v < version => version = v,
            Greeted::Older(v) => {
                return Err(at(std::io::Error::other(format!(
                    "the peer answered protocol version {v} twice"
                ))))
            }
        }
    }
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
    F: Fn(Conn, crate::certs::Role, u16) -> Fut + Send + Sync + 'static,
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
                            let _ = stream.set_nodelay(true);
                            let version = match greet_dialler(&mut stream, GREETING_TIMEOUT).await {
                                Ok(v) => v,
                                Err(e) => {
                                    tracing::warn!("closing the connection: {e}");
                                    return;
                                }
                            };
                            match accept_tls(stream).await {
                                Ok((conn, role)) => serve(conn, role, version).await,
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

/// A daemon's listener on `listen`, and the address others reach it at:
/// `advertise`, or else the address it is bound to.
pub async fn listen(
    listen: &str,
    advertise: Option<&str>,
) -> std::io::Result<(tokio::net::TcpListener, String)> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}")))?;
    let address = match advertise {
        Some(a) => a.to_string(),
        None => listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| listen.to_string()),
    };
    Ok((listener, address))
}

/// Serve a tarpc service on `listener` until `shutdown` (open connections
/// are closed with it): each connection, greeted and secured as
/// [`serve_connections`] does, is served by the server `$server` makes for
/// the peer's role, its requests answered concurrently. (A macro: a generic
/// function cannot require the service's `async fn` futures to be `Send`.)
#[macro_export]
macro_rules! serve_rpc {
    ($listener:expr, $shutdown:expr, |$role:ident| $server:expr) => {{
        use ::futures::StreamExt as _;
        use ::tarpc::server::{Channel as _, Serve as _};
        $crate::wire::serve_connections($listener, $shutdown, move |conn, $role, version| {
            ::tarpc::server::BaseChannel::with_defaults($crate::wire::server_transport(
                conn, version,
            ))
            .execute($server.serve())
            .for_each_concurrent(None, |response| response)
        })
        .await
    }};
}

#[cfg(test)]
mod tests {
    use super::check_address;

    #[test]
    fn addresses_are_ips_or_host_names_with_a_port() {
        for ok in [
            "127.0.0.1:7000",
            "[::1]:7000",
            "n1:7100",
            "cpg-node-0.cpg-node:7100",
        ] {
            assert_eq!(check_address(ok), Ok(()), "{ok}");
        }
        for bad in [
            "", "n1", ":7000", "n1:", "n1:70000", "a b:1", "x..y:1", "../etc:1",
        ] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
    }

    use super::*;

    #[test]
    fn greetings_of_strangers_and_other_versions_are_refused_with_the_reason() {
        assert_eq!(
            check_preamble(&preamble(PROTOCOL_VERSION)),
            Ok(PROTOCOL_VERSION)
        );
        // The previous release: a rolling upgrade runs both.
        assert_eq!(
            check_preamble(&preamble(OLDEST_PROTOCOL_VERSION)),
            Ok(OLDEST_PROTOCOL_VERSION)
        );
        let http = check_preamble(b"GET / HTT").unwrap_err();
        assert!(http.starts_with("not a cpg peer"), "{http}");
        // A newer release's greeting is taken: the link runs at this
        // version, if the newer one still speaks it (it decides).
        assert_eq!(
            check_preamble(&preamble(PROTOCOL_VERSION + 1)),
            Ok(PROTOCOL_VERSION + 1)
        );
        for far in [OLDEST_PROTOCOL_VERSION - 1, 1] {
            let refused = check_preamble(&preamble(far)).unwrap_err();
            assert!(
                refused.contains(&format!("version {far}"))
                    && refused.contains("one release at a time"),
                "{refused}"
            );
        }
    }

    /// A message takes the shape its link's protocol knows: a variant
    /// newer than the link travels as the older protocol said it.
    #[test]
    fn each_link_encodes_at_its_own_version() {
        use proto::error::{CpgError, NOT_DURABLE_SINCE};
        type Reply = Result<u64, CpgError>;
        let reply: Reply = Err(CpgError::NotDurable {
            reason: "disk".into(),
        });
        let through = |version: u16| -> Reply {
            let mut codec = Guarded::<Reply, Reply>::new(false, version);
            let bytes = Pin::new(&mut codec).serialize(&reply).unwrap();
            Pin::new(&mut codec)
                .deserialize(&BytesMut::from(&bytes[..]))
                .unwrap()
        };
        assert_eq!(through(PROTOCOL_VERSION), reply);
        assert_eq!(
            through(NOT_DURABLE_SINCE - 1),
            Err(CpgError::Internal("disk".into()))
        );
    }

    /// A peer of the previous release (before 16) greets first with its
    /// own version and closes on any other: a dialler answered so dials
    /// again at that version, once.
    #[tokio::test]
    async fn a_previous_release_listener_is_dialled_again_at_its_version() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let old = OLDEST_PROTOCOL_VERSION;
        let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = refused.clone();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                s.write_all(&preamble(old)).await.unwrap();
                let mut got = [0u8; PREAMBLE_LEN];
                s.read_exact(&mut got).await.unwrap();
                if got[6..8] != old.to_be_bytes() {
                    counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    continue;
                }
                s.write_all(b"ok").await.unwrap();
                tokio::spawn(async move {
                    let mut rest = Vec::new();
                    let _ = s.read_to_end(&mut rest).await;
                });
            }
        });
        let timeout = std::time::Duration::from_secs(5);
        let (mut stream, version) = connect_greeted(&address, timeout).await.unwrap();
        assert_eq!(version, old);
        assert_eq!(refused.load(std::sync::atomic::Ordering::SeqCst), 1);
        let mut ok = [0u8; 2];
        stream.read_exact(&mut ok).await.unwrap();
        assert_eq!(&ok, b"ok");
    }

    /// An accepting process answers a greeting of this or the previous
    /// version in kind (a dialler of the previous release takes no other
    /// answer), a newer one with its own, and refuses one older than the
    /// previous with its own version.
    #[tokio::test]
    async fn a_listener_answers_each_release_in_kind() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (served, mut agreed) = tokio::sync::mpsc::unbounded_channel::<u16>();
        let server = tokio::spawn(serve_connections(
            listener,
            async {
                let _ = stopped.await;
            },
            move |_conn, _role, version| {
                let _ = served.send(version);
                async {}
            },
        ));
        for (greeting, answer, open) in [
            (PROTOCOL_VERSION, PROTOCOL_VERSION, true),
            (OLDEST_PROTOCOL_VERSION, OLDEST_PROTOCOL_VERSION, true),
            (PROTOCOL_VERSION + 1, PROTOCOL_VERSION, true),
            (OLDEST_PROTOCOL_VERSION - 1, PROTOCOL_VERSION, false),
        ] {
            let mut s = tokio::net::TcpStream::connect(address).await.unwrap();
            s.write_all(&preamble(greeting)).await.unwrap();
            let mut got = [0u8; PREAMBLE_LEN];
            s.read_exact(&mut got).await.unwrap();
            assert_eq!(check_preamble(&got), Ok(answer), "greeted with {greeting}");
            if open {
                let version =
                    tokio::time::timeout(std::time::Duration::from_secs(5), agreed.recv())
                        .await
                        .unwrap();
                assert_eq!(version, Some(answer), "the link is served at its version");
            } else {
                let mut rest = Vec::new();
                let read = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    s.read_to_end(&mut rest),
                )
                .await;
                assert!(
                    matches!(read, Ok(Ok(0))),
                    "greeted with {greeting}: not closed"
                );
            }
        }
        // A dialler of the other link mode is refused, but answered at its
        // version, so that a previous release's check reaches the mode.
        let mut s = tokio::net::TcpStream::connect(address).await.unwrap();
        let mut tls_greeting = preamble(OLDEST_PROTOCOL_VERSION);
        tls_greeting[8] = 1 - tls_greeting[8];
        s.write_all(&tls_greeting).await.unwrap();
        let mut got = [0u8; PREAMBLE_LEN];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(got[6..8], OLDEST_PROTOCOL_VERSION.to_be_bytes());
        let mut rest = Vec::new();
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut rest)).await;
        assert!(matches!(read, Ok(Ok(0))), "the other link mode: not closed");
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }
}
