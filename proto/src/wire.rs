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
