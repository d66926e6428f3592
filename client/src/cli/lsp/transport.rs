//! The language server's standard input and output: lsp-server's message
//! framing, and one more road out for answers already written as JSON
//! text. A large answer (hundreds of callers) costs about twice as much
//! when it is first made a `serde_json::Value` and then written; written
//! straight from the protocol types, it is one pass.

use std::io::{self, Write};
use std::thread::JoinHandle;

use crossbeam_channel::{never, select, unbounded, Receiver, Sender};
use lsp_server::{Connection, Message, RequestId};

/// How long the writer is given at exit.
const WRITER_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The connection (messages in and out), the road for answers as text, and
/// the threads that read and write.
pub(super) struct Stdio {
    pub connection: Connection,
    pub answers: Answers,
    reader: JoinHandle<io::Result<()>>,
    writer: JoinHandle<io::Result<()>>,
}

/// Sends an answer written as JSON text.
#[derive(Clone)]
pub(super) struct Answers(Sender<Vec<u8>>);

impl Answers {
    /// The response to request `id` whose result is the JSON text `result`.
    pub fn send(&self, id: &RequestId, result: &str) -> io::Result<()> {
        let id = serde_json::to_string(id)?;
        let mut body = Vec::with_capacity(result.len() + id.len() + 40);
        body.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
        body.extend_from_slice(id.as_bytes());
        body.extend_from_slice(b",\"result\":");
        body.extend_from_slice(result.as_bytes());
        body.push(b'}');
        self.0
            .send(body)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the writer stopped"))
    }
}

impl Stdio {
    pub fn start() -> Stdio {
        let (to_writer, messages) = unbounded::<Message>();
        let (answers, texts) = unbounded::<Vec<u8>>();
        let writer = std::thread::spawn(move || write_all(messages, texts));
        let (to_server, from_client) = unbounded::<Message>();
        let reader = std::thread::spawn(move || {
            let stdin = io::stdin();
            let mut stdin = stdin.lock();
            while let Some(msg) = Message::read(&mut stdin)? {
                let exit = matches!(&msg, Message::Notification(n) if n.method == "exit");
                if to_server.send(msg).is_err() || exit {
                    break;
                }
            }
            Ok(())
        });
        Stdio {
            connection: Connection {
                sender: to_writer,
                receiver: from_client,
            },
            answers: Answers(answers),
            reader,
            writer,
        }
    }

    /// Wait for the reader, and for the writer to write what it was given
    /// (it ends once every sender is dropped, `Stdio`'s own go with it), a
    /// few seconds at most: a client that stopped reading, or a thread that
    /// still holds a sender, does not keep the server from exiting.
    pub fn join(self) -> io::Result<()> {
        let Stdio {
            connection,
            answers,
            reader,
            writer,
        } = self;
        drop(connection);
        drop(answers);
        let deadline = std::time::Instant::now() + WRITER_GRACE;
        while !writer.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if writer.is_finished() {
            writer
                .join()
                .map_err(|_| io::Error::other("the writer thread panicked"))??;
        } else {
            eprintln!("cpg lsp: output still pending at exit; not waiting for it");
        }
        // The reader stops at `exit` or at the end of input; a client that
        // sent neither leaves it waiting on a read that the exit ends.
        if reader.is_finished() {
            reader
                .join()
                .map_err(|_| io::Error::other("the reader thread panicked"))??;
        }
        Ok(())
    }
}

/// Write messages and answers as they come, until both roads close.
fn write_all(mut messages: Receiver<Message>, mut texts: Receiver<Vec<u8>>) -> io::Result<()> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let (mut messages_open, mut texts_open) = (true, true);
    while messages_open || texts_open {
        select! {
            recv(messages) -> m => match m {
                Ok(m) => m.write(&mut out)?,
                Err(_) => {
                    messages_open = false;
                    messages = never();
                }
            },
            recv(texts) -> t => match t {
                Ok(body) => {
                    write!(out, "Content-Length: {}\r\n\r\n", body.len())?;
                    out.write_all(&body)?;
                    out.flush()?;
                }
                Err(_) => {
                    texts_open = false;
                    texts = never();
                }
            },
        }
    }
    Ok(())
}
