//! Virus scanning with a ClamAV daemon (clamd), over its INSTREAM protocol.
//!
//! The protocol is small enough that a client of our own is clearer than a crate that
//! hides its replies: the `clamav-client` crate reports clamd's "size limit exceeded"
//! error merely as "not clean", and twinstore must tell an infected file from one
//! that was too large to scan. What is sent:
//!
//! ```text
//! zINSTREAM\0  then chunks: <u32 big-endian length><bytes>  then <u32 0>
//! ```
//!
//! and clamd answers one `\0`-terminated line: `stream: OK`, `stream: NAME FOUND`, or
//! `INSTREAM size limit exceeded. ERROR` (after which it closes the connection).

mod protocol;

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};

pub use protocol::{Reply, parse_reply};

use crate::store::ByteStream;

/// The largest chunk sent in one INSTREAM frame. clamd accepts any size up to its
/// StreamMaxLength; smaller frames let it notice an oversized stream sooner.
const MAX_FRAME: usize = 256 * 1024;

/// How long a connection may take, and how long clamd may stay silent, before the
/// scan counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Where clamd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddress {
    /// `tcp://HOST:PORT`.
    Tcp(String),
    /// The path of a unix socket.
    Unix(PathBuf),
}

impl ClamdAddress {
    /// Parses `tcp://HOST:PORT` or a socket path (`unix:///path` is accepted too).
    pub fn parse(text: &str) -> Result<Self, ScanError> {
        let text = text.trim();
        if let Some(address) = text.strip_prefix("tcp://") {
            if address.is_empty() || !address.contains(':') {
                return Err(ScanError::Address(text.to_owned()));
            }
            return Ok(ClamdAddress::Tcp(address.trim_end_matches('/').to_owned()));
        }
        let path = text.strip_prefix("unix://").unwrap_or(text);
        if path.is_empty() {
            return Err(ScanError::Address(text.to_owned()));
        }
        Ok(ClamdAddress::Unix(PathBuf::from(path)))
    }
}

/// What clamd said about a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "signature", rename_all = "lowercase")]
pub enum Verdict {
    /// Nothing found.
    Clean,
    /// A signature matched.
    Infected(String),
    /// The file is larger than clamd's StreamMaxLength: it was not scanned.
    TooLarge,
}

/// Why a scan could not give a verdict.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The configured address is not valid.
    #[error("TWINSTORE_CLAMD must be tcp://HOST:PORT or a socket path, not {0:?}")]
    Address(String),
    /// clamd could not be reached.
    #[error("cannot connect to clamd at {address}")]
    Connect {
        /// Where.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The connection failed during the scan.
    #[error("the connection to clamd failed")]
    Io(#[source] std::io::Error),
    /// clamd did not answer in time.
    #[error("clamd did not answer within {0:?}")]
    Timeout(Duration),
    /// The file's bytes could not be read.
    #[error("the file could not be read for scanning")]
    Read(#[source] std::io::Error),
    /// clamd answered with an error, or something this client does not understand.
    #[error("clamd answered: {0}")]
    Clamd(String),
}

/// Engine and signature versions, from `VERSION`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScannerHealth {
    /// Whether clamd answered.
    pub available: bool,
    /// What clamd reports, such as `ClamAV 1.4.6/27400/Tue Oct 1 2026`.
    pub version: Option<String>,
    /// Why it is not available.
    pub error: Option<String>,
}

/// A clamd client.
#[derive(Debug, Clone)]
pub struct Scanner {
    address: ClamdAddress,
}

impl Scanner {
    /// A client of the clamd at `address`.
    pub fn new(address: ClamdAddress) -> Self {
        Self { address }
    }

    /// Streams `body` to clamd and returns its verdict. The body is sent in frames as
    /// it arrives; nothing is held whole.
    pub async fn scan(&self, body: ByteStream) -> Result<Verdict, ScanError> {
        match &self.address {
            ClamdAddress::Tcp(address) => {
                let stream = connect(address, tokio::net::TcpStream::connect(address)).await?;
                instream(stream, body).await
            }
            ClamdAddress::Unix(path) => {
                let address = path.display().to_string();
                let stream = connect(&address, tokio::net::UnixStream::connect(path)).await?;
                instream(stream, body).await
            }
        }
    }

    /// Asks clamd for its engine and signature versions.
    pub async fn health(&self) -> ScannerHealth {
        match self.version().await {
            Ok(version) => ScannerHealth { available: true, version: Some(version), error: None },
            Err(err) => ScannerHealth {
                available: false,
                version: None,
                error: Some(crate::store::error_chain(&err)),
            },
        }
    }

    async fn version(&self) -> Result<String, ScanError> {
        let reply = match &self.address {
            ClamdAddress::Tcp(address) => {
                let stream = connect(address, tokio::net::TcpStream::connect(address)).await?;
                protocol::command(stream, b"zVERSION\0").await?
            }
            ClamdAddress::Unix(path) => {
                let address = path.display().to_string();
                let stream = connect(&address, tokio::net::UnixStream::connect(path)).await?;
                protocol::command(stream, b"zVERSION\0").await?
            }
        };
        Ok(reply)
    }
}

async fn connect<S>(
    address: &str,
    connecting: impl Future<Output = std::io::Result<S>>,
) -> Result<S, ScanError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(source)) => Err(ScanError::Connect { address: address.to_owned(), source }),
        Err(_) => Err(ScanError::Timeout(CONNECT_TIMEOUT)),
    }
}

/// Runs one INSTREAM exchange on a connected stream.
async fn instream<S>(mut stream: S, mut body: ByteStream) -> Result<Verdict, ScanError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use tokio::io::AsyncWriteExt;

    let send = async {
        stream.write_all(b"zINSTREAM\0").await?;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|err| std::io::Error::other(ReadFailed(err)))?;
            for frame in chunk.chunks(MAX_FRAME) {
                stream.write_all(&(frame.len() as u32).to_be_bytes()).await?;
                stream.write_all(frame).await?;
            }
        }
        stream.write_all(&0u32.to_be_bytes()).await?;
        stream.flush().await
    };
    let sent = match tokio::time::timeout(IO_TIMEOUT, send).await {
        Ok(sent) => sent,
        Err(_) => return Err(ScanError::Timeout(IO_TIMEOUT)),
    };
    if let Err(err) = sent {
        if let Some(read) = err.get_ref().and_then(|inner| inner.downcast_ref::<ReadFailed>()) {
            return Err(ScanError::Read(std::io::Error::new(read.0.kind(), read.0.to_string())));
        }
        // clamd closes the connection when the stream passes its limit, and says why
        // first: read the reply before calling this a connection failure.
        return match protocol::read_reply(&mut stream, IO_TIMEOUT).await {
            Ok(reply) => verdict(&reply),
            Err(_) => Err(ScanError::Io(err)),
        };
    }
    let reply = protocol::read_reply(&mut stream, IO_TIMEOUT).await?;
    verdict(&reply)
}

fn verdict(reply: &str) -> Result<Verdict, ScanError> {
    match parse_reply(reply) {
        Reply::Clean => Ok(Verdict::Clean),
        Reply::Found(signature) => Ok(Verdict::Infected(signature)),
        Reply::SizeLimit => Ok(Verdict::TooLarge),
        Reply::Error(text) => Err(ScanError::Clamd(text)),
    }
}

/// Marks an error of the file being scanned, as opposed to the connection.
#[derive(Debug, thiserror::Error)]
#[error("reading the file failed: {0}")]
struct ReadFailed(std::io::Error);
