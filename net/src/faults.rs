//! Faults on the links between named members of one test program: an
//! in-process cluster runs each coordinator and node on its own runtime,
//! whose threads carry the member's name ([`enter`]); a connection a member
//! dials is tied to the (member, address) link, and a test can cut that link
//! or slow it down ([`Faults`]) without root or network namespaces.
//!
//! A cut link behaves as a network partition does under TCP: new
//! connections get no answer (the dial times out) and open ones stall in
//! both directions, without losing a byte, until the link is restored; the
//! requests on them run into their deadlines. A slow link delays every read
//! by a fixed time. A reset link fails its connections at once (a peer
//! that vanished). A dropping link loses every message (one frame: a
//! request or a reply) sent either way while it drops, and a duplicating
//! link delivers each twice; both keep the connection open, as a lossy or
//! replaying network under the framing would. Every connection between two members is dialled by one
//! of them, so cutting both directions of a pair cuts all their traffic;
//! a dialler with no name (the test itself, a process started without a
//! faults file) is never faulted.
//!
//! A real process (a daemon a test started) has its links faulted from a
//! file instead: started with [`FILE_VAR`] naming one, it watches it and
//! applies the faults it lists to every link it dials ([`render`] writes
//! the format: `<address> <fault>` a line, a slow link's delay in whole
//! milliseconds). Processes started without it
//! never name a member: the only cost there is two atomic loads per dial.

use std::collections::HashMap;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What is wrong with a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing gets through; open connections stall.
    Cut,
    /// Every read waits this long first.
    Slow(Duration),
    /// The peer is gone: open connections fail at their next read or
    /// write, new ones are refused at once.
    Reset,
    /// Every message sent either way is lost; the connection stays open.
    Drop,
    /// Every message sent either way arrives twice.
    Duplicate,
}

/// The faults of the links of this program, by (dialling member, address).
#[derive(Debug, Default)]
pub struct Faults {
    links: Mutex<HashMap<(Arc<str>, String), Fault>>,
    /// Messages dropped or duplicated so far.
    messages: std::sync::atomic::AtomicU64,
}

static FAULTS: OnceLock<Faults> = OnceLock::new();
/// Whether any thread was ever named: until then dials skip the table.
static IN_USE: AtomicBool = AtomicBool::new(false);

thread_local! {
    static MEMBER: std::cell::RefCell<Option<Arc<str>>> = const { std::cell::RefCell::new(None) };
}

/// The program's fault table.
pub fn faults() -> &'static Faults {
    FAULTS.get_or_init(Faults::default)
}

/// Name the member this thread works for (from a runtime's
/// `on_thread_start`): what it dials is subject to the faults of its links.
pub fn enter(member: &str) {
    IN_USE.store(true, Ordering::Relaxed);
    MEMBER.with(|m| *m.borrow_mut() = Some(Arc::from(member)));
}

/// The member this thread works for, if any: its name, or this process
/// when its links are faulted from a file.
fn member() -> Option<Arc<str>> {
    if IN_USE.load(Ordering::Relaxed) {
        if let Some(m) = MEMBER.with(|m| m.borrow().clone()) {
            return Some(m);
        }
    }
    process_member()
}

/// The environment variable naming the file of this process's link
/// faults (for tests of real processes; see [`render`]).
pub const FILE_VAR: &str = "CPG_TEST_LINK_FAULTS";

/// How often the file of link faults is read again.
const REREAD: Duration = Duration::from_millis(50);

/// The name this process's links go by when [`FILE_VAR`] is set (the file
/// watched from the first dial on), else `None`.
fn process_member() -> Option<Arc<str>> {
    static PROCESS: OnceLock<Option<Arc<str>>> = OnceLock::new();
    PROCESS
        .get_or_init(|| {
            let path = std::path::PathBuf::from(std::env::var_os(FILE_VAR)?);
            let name: Arc<str> = Arc::from("this process");
            apply_file(&name, &path);
            let watched = name.clone();
            let started = std::thread::Builder::new()
                .name("link-faults".into())
                .spawn(move || loop {
                    std::thread::sleep(REREAD);
                    apply_file(&watched, &path);
                });
            if let Err(e) = started {
                tracing::error!(error = %e, "cannot watch the link faults file");
            }
            Some(name)
        })
        .clone()
}

/// Make the faults of `member`'s links those the file at `path` lists (none
/// when it is missing); a line that does not parse is logged and skipped.
fn apply_file(member: &Arc<str>, path: &std::path::Path) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the link faults");
            return;
        }
    };
    // Read every 50 ms: applied (and what does not parse said) only when
    // the text changed.
    static LAST: Mutex<Option<(Arc<str>, String)>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if last
        .as_ref()
        .is_some_and(|(m, t)| m == member && *t == text)
    {
        return;
    }
    let mut wanted = HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match parse_line(line) {
            Some((address, fault)) => {
                wanted.insert((member.clone(), address.to_string()), fault);
            }
            None => tracing::warn!(line, "a link fault that does not parse: skipped"),
        }
    }
    *last = Some((member.clone(), text));
    drop(last);
    let f = faults();
    let mut links = f.links.lock().unwrap_or_else(|e| e.into_inner());
    links.retain(|(m, _), _| m != member);
    links.extend(wanted);
}

/// One line of a link faults file: an address and its fault.
fn parse_line(line: &str) -> Option<(&str, Fault)> {
    let (address, fault) = line.trim().split_once(' ')?;
    let fault = match fault.trim() {
        "cut" => Fault::Cut,
        "reset" => Fault::Reset,
        "drop" => Fault::Drop,
        "duplicate" => Fault::Duplicate,
        other => Fault::Slow(Duration::from_millis(
            other.strip_prefix("slow ")?.trim().parse().ok()?,
        )),
    };
    Some((address, fault))
}

/// The text of a link faults file (see [`FILE_VAR`]): each address the
/// process dials and the fault of that link.
pub fn render<'a>(links: impl IntoIterator<Item = (&'a str, Fault)>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (address, fault) in links {
        let _ = match fault {
            Fault::Cut => writeln!(out, "{address} cut"),
            Fault::Reset => writeln!(out, "{address} reset"),
            Fault::Drop => writeln!(out, "{address} drop"),
            Fault::Duplicate => writeln!(out, "{address} duplicate"),
            Fault::Slow(d) => writeln!(out, "{address} slow {}", d.as_millis()),
        };
    }
    out
}

impl Faults {
    /// Set the fault of the link from `member` to `address` (`None`: the
    /// link works again; stalled connections go on).
    pub fn set(&self, member: &str, address: &str, fault: Option<Fault>) {
        let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        let key = (Arc::from(member), address.to_string());
        match fault {
            Some(f) => {
                links.insert(key, f);
            }
            None => {
                links.remove(&key);
            }
        }
    }

    /// How many messages links have dropped or duplicated so far (for a
    /// test to know its faults met traffic).
    pub fn messages_faulted(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Remove every fault.
    pub fn clear(&self) {
        self.links.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn of(&self, member: &str, address: &str) -> Option<Fault> {
        let links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        links
            .get(&(Arc::from(member), address.to_string()))
            .copied()
    }
}

/// The link a dial from this thread to `address` goes over, if this thread
/// works for a named member.
pub(crate) fn link(address: &str) -> Option<Link> {
    member().map(|member| Link {
        member,
        address: address.to_string(),
    })
}

/// One directed link: a member and the address it dialled.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    member: Arc<str>,
    address: String,
}

impl Link {
    pub(crate) fn fault(&self) -> Option<Fault> {
        faults().of(&self.member, &self.address)
    }
}

/// How often a stalled connection looks whether its link is back.
const RECHECK: Duration = Duration::from_millis(20);

/// The messages of one direction of a connection: bytes are taken in as
/// they come, cut into frames (a 4-byte big-endian length, then that many
/// bytes: the framing of `wire`), and each whole frame is passed on,
/// dropped or doubled by the link's fault at the time it completes.
#[derive(Debug, Default)]
struct Messages {
    /// The frame being assembled.
    partial: Vec<u8>,
    /// Whole frames to pass on, and how much of them has been.
    ready: Vec<u8>,
    sent: usize,
}

impl Messages {
    fn take(&mut self, bytes: &[u8], fault: Option<Fault>) {
        self.partial.extend_from_slice(bytes);
        while self.partial.len() >= 4 {
            let mut header = [0u8; 4];
            header.copy_from_slice(&self.partial[..4]);
            let end = 4 + u32::from_be_bytes(header) as usize;
            if self.partial.len() < end {
                break;
            }
            let times = match fault {
                Some(Fault::Drop) => 0,
                Some(Fault::Duplicate) => 2,
                _ => 1,
            };
            if times != 1 {
                faults().messages.fetch_add(1, Ordering::Relaxed);
            }
            for _ in 0..times {
                self.ready.extend_from_slice(&self.partial[..end]);
            }
            self.partial.drain(..end);
        }
    }

    fn unsent(&self) -> &[u8] {
        &self.ready[self.sent..]
    }

    fn mark_sent(&mut self, n: usize) {
        self.sent += n;
        if self.sent == self.ready.len() {
            self.ready.clear();
            self.sent = 0;
        }
    }
}

/// A connection over a link that may be faulted.
#[derive(Debug)]
pub struct Faulty<S> {
    inner: S,
    link: Link,
    /// Pending while stalled or delayed.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// A slow link's delay was served for the next read.
    delayed: bool,
    /// What this end writes, and what it reads, message by message.
    outgoing: Messages,
    incoming: Messages,
}

impl<S> Faulty<S> {
    pub(crate) fn new(inner: S, link: Link) -> Faulty<S> {
        Faulty {
            inner,
            link,
            timer: None,
            delayed: false,
            outgoing: Messages::default(),
            incoming: Messages::default(),
        }
    }

    /// Ready when the link lets traffic through (after a slow link's delay
    /// when `read`); pending, with a wake-up armed, while it does not; an
    /// error once it is reset.
    fn gate(&mut self, cx: &mut Context<'_>, read: bool) -> Poll<std::io::Result<()>> {
        loop {
            if let Some(t) = self.timer.as_mut() {
                if t.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.timer = None;
            }
            match self.link.fault() {
                Some(Fault::Cut) => {
                    self.timer = Some(Box::pin(tokio::time::sleep(RECHECK)));
                }
                Some(Fault::Slow(d)) if read && !self.delayed => {
                    self.delayed = true;
                    self.timer = Some(Box::pin(tokio::time::sleep(d)));
                }
                Some(Fault::Reset) => {
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        format!("{}: the link was reset", self.link.address),
                    )))
                }
                _ => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Faulty<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.gate(cx, true))?;
        loop {
            let unread = this.incoming.unsent();
            if !unread.is_empty() {
                let n = unread.len().min(buf.remaining());
                buf.put_slice(&unread[..n]);
                this.incoming.mark_sent(n);
                this.delayed = false;
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 16 << 10];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                // The end of the stream (a partial frame is lost with it).
                Poll::Ready(Ok(())) if read.filled().is_empty() => {
                    this.delayed = false;
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Ok(())) => this.incoming.take(read.filled(), this.link.fault()),
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> Faulty<S> {
    /// Write out the whole messages taken so far.
    fn send(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while !self.outgoing.unsent().is_empty() {
            match Pin::new(&mut self.inner).poll_write(cx, self.outgoing.unsent()) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()))
                }
                Poll::Ready(Ok(n)) => self.outgoing.mark_sent(n),
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Faulty<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.gate(cx, false))?;
        // Earlier messages go out first (back-pressure from the peer).
        std::task::ready!(this.send(cx))?;
        let fault = this.link.fault();
        this.outgoing.take(buf, fault);
        // What cannot go now goes at the next write or flush.
        if let Poll::Ready(Err(e)) = this.send(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.gate(cx, false))?;
        std::task::ready!(this.send(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.send(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A connected pair on loopback: the dialled end over `member`'s link to
    /// the listener's address, and the accepted end.
    async fn pair(member: &str) -> (Faulty<tokio::net::TcpStream>, tokio::net::TcpStream, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let dialled = tokio::net::TcpStream::connect(&address).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let link = Link {
            member: Arc::from(member),
            address: address.clone(),
        };
        (Faulty::new(dialled, link), accepted, address)
    }

    #[tokio::test]
    async fn a_cut_link_stalls_without_losing_a_byte_and_goes_on_when_restored() {
        let (mut a, mut b, address) = pair("cut-test").await;
        faults().set("cut-test", &address, Some(Fault::Cut));
        b.write_all(&frame(b"hello")).await.unwrap();
        let mut got = [0u8; 9];
        let stalled =
            tokio::time::timeout(Duration::from_millis(200), a.read_exact(&mut got)).await;
        assert!(stalled.is_err(), "a read over a cut link got through");
        faults().set("cut-test", &address, None);
        a.read_exact(&mut got).await.unwrap();
        assert_eq!(got.as_slice(), frame(b"hello"));
    }

    #[tokio::test]
    async fn a_slow_link_delays_reads_and_a_reset_one_fails_them() {
        let (mut a, mut b, address) = pair("slow-test").await;
        faults().set(
            "slow-test",
            &address,
            Some(Fault::Slow(Duration::from_millis(150))),
        );
        b.write_all(&frame(b"x")).await.unwrap();
        let started = std::time::Instant::now();
        let mut one = [0u8; 5];
        a.read_exact(&mut one).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "{:?}",
            started.elapsed()
        );
        faults().set("slow-test", &address, Some(Fault::Reset));
        let e = a.write_all(&frame(b"y")).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
        faults().set("slow-test", &address, None);
    }

    /// One frame of the wire's framing.
    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(payload);
        f
    }

    #[tokio::test]
    async fn a_dropping_link_loses_whole_messages_and_a_duplicating_one_doubles_them() {
        let (mut a, mut b, address) = pair("message-test").await;
        // Written out: the first message goes, the second is lost, the
        // third arrives twice; a message split across writes counts once.
        a.write_all(&frame(b"one")).await.unwrap();
        faults().set("message-test", &address, Some(Fault::Drop));
        a.write_all(&frame(b"lost")).await.unwrap();
        faults().set("message-test", &address, Some(Fault::Duplicate));
        let twice = frame(b"twice");
        a.write_all(&twice[..3]).await.unwrap();
        a.write_all(&twice[3..]).await.unwrap();
        faults().set("message-test", &address, None);
        a.write_all(&frame(b"end")).await.unwrap();
        a.flush().await.unwrap();
        let want = [frame(b"one"), twice.clone(), twice, frame(b"end")].concat();
        let mut got = vec![0u8; want.len()];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(got, want);

        // Read in: the same on the replies.
        faults().set("message-test", &address, Some(Fault::Drop));
        b.write_all(&frame(b"gone")).await.unwrap();
        b.flush().await.unwrap();
        let mut one = [0u8; 1];
        let nothing = tokio::time::timeout(Duration::from_millis(200), a.read(&mut one)).await;
        assert!(nothing.is_err(), "a dropped reply was read");
        faults().set("message-test", &address, Some(Fault::Duplicate));
        b.write_all(&frame(b"reply")).await.unwrap();
        let want = [frame(b"reply"), frame(b"reply")].concat();
        let mut got = vec![0u8; want.len()];
        a.read_exact(&mut got).await.unwrap();
        assert_eq!(got, want);
        faults().set("message-test", &address, None);
    }

    #[test]
    fn only_a_named_member_dials_over_a_link() {
        std::thread::spawn(|| {
            assert!(
                link("127.0.0.1:1").is_none(),
                "an unnamed thread has no link"
            );
            enter("named-test");
            let l = link("127.0.0.1:1").expect("a named thread's link");
            assert_eq!(
                (&*l.member, l.address.as_str()),
                ("named-test", "127.0.0.1:1")
            );
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_faults_file_sets_the_links_it_lists_and_only_those() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("faults");
        let listed = [
            ("127.0.0.1:7001", Fault::Cut),
            ("127.0.0.1:7002", Fault::Slow(Duration::from_millis(40))),
            ("127.0.0.1:7003", Fault::Duplicate),
            ("127.0.0.1:7004", Fault::Drop),
            ("127.0.0.1:7005", Fault::Reset),
        ];
        let text = render(listed);
        assert_eq!(
            text.lines().map(parse_line).collect::<Vec<_>>(),
            listed.iter().map(|&l| Some(l)).collect::<Vec<_>>()
        );
        let member: Arc<str> = Arc::from("file-test");
        std::fs::write(&path, format!("{text}not a fault line\n")).unwrap();
        apply_file(&member, &path);
        for (address, fault) in listed {
            assert_eq!(faults().of("file-test", address), Some(fault));
        }
        // Rewritten with one link: the others work again.
        std::fs::write(&path, render([("127.0.0.1:7002", Fault::Reset)])).unwrap();
        apply_file(&member, &path);
        assert_eq!(faults().of("file-test", "127.0.0.1:7001"), None);
        assert_eq!(
            faults().of("file-test", "127.0.0.1:7002"),
            Some(Fault::Reset)
        );
        // Removed: every link works.
        std::fs::remove_file(&path).unwrap();
        apply_file(&member, &path);
        assert_eq!(faults().of("file-test", "127.0.0.1:7002"), None);
    }
}
