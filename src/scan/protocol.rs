//! clamd's replies, and reading them.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::ScanError;

/// The longest reply read; clamd's are one short line.
const MAX_REPLY: usize = 4096;

/// A reply to INSTREAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `stream: OK`
    Clean,
    /// `stream: NAME FOUND`
    Found(String),
    /// `INSTREAM size limit exceeded. ERROR`
    SizeLimit,
    /// Any other error.
    Error(String),
}

/// Parses one INSTREAM reply (without its terminating `\0`).
pub fn parse_reply(reply: &str) -> Reply {
    let reply = reply.trim_end_matches(['\0', '\n']).trim();
    if reply.contains("size limit exceeded") {
        return Reply::SizeLimit;
    }
    let Some(result) = reply.strip_prefix("stream: ") else {
        return Reply::Error(reply.to_owned());
    };
    if result == "OK" {
        return Reply::Clean;
    }
    match result.strip_suffix(" FOUND") {
        Some(signature) if !signature.is_empty() => Reply::Found(signature.to_owned()),
        _ => Reply::Error(reply.to_owned()),
    }
}

/// Reads one `\0`-terminated reply.
pub(super) async fn read_reply<S: AsyncRead + Unpin>(
    stream: &mut S,
    timeout: Duration,
) -> Result<String, ScanError> {
    let read = async {
        let mut reply = Vec::new();
        let mut byte = [0u8; 256];
        loop {
            let n = stream.read(&mut byte).await.map_err(ScanError::Io)?;
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&byte[..n]);
            if reply.contains(&0) || reply.len() > MAX_REPLY {
                break;
            }
        }
        let end = reply.iter().position(|&b| b == 0).unwrap_or(reply.len());
        if end == 0 {
            return Err(ScanError::Clamd("clamd closed the connection without a reply".into()));
        }
        Ok(String::from_utf8_lossy(&reply[..end]).into_owned())
    };
    tokio::time::timeout(timeout, read).await.map_err(|_| ScanError::Timeout(timeout))?
}

/// Sends a one-word command (such as `zVERSION\0`) and returns the reply.
pub(super) async fn command<S>(mut stream: S, command: &[u8]) -> Result<String, ScanError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(command).await.map_err(ScanError::Io)?;
    read_reply(&mut stream, Duration::from_secs(10)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_told_apart() {
        assert_eq!(parse_reply("stream: OK"), Reply::Clean);
        assert_eq!(
            parse_reply("stream: Eicar-Test-Signature.UNOFFICIAL FOUND\0"),
            Reply::Found("Eicar-Test-Signature.UNOFFICIAL".into())
        );
        assert_eq!(parse_reply("INSTREAM size limit exceeded. ERROR"), Reply::SizeLimit);
        assert!(matches!(parse_reply("stream: FOUND"), Reply::Error(_)));
        assert!(matches!(parse_reply("UNKNOWN COMMAND"), Reply::Error(_)));
    }

    #[tokio::test]
    async fn instream_frames_are_length_prefixed_and_end_with_zero() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let body = futures::stream::iter(vec![
            Ok(bytes::Bytes::from_static(b"hello ")),
            Ok(bytes::Bytes::from_static(b"world")),
        ]);
        let scanning = tokio::spawn(super::super::instream(client, Box::pin(body)));

        let mut received = vec![0u8; 10 + 4 + 6 + 4 + 5 + 4];
        server.read_exact(&mut received).await.unwrap();
        let mut expected = b"zINSTREAM\0".to_vec();
        expected.extend_from_slice(&6u32.to_be_bytes());
        expected.extend_from_slice(b"hello ");
        expected.extend_from_slice(&5u32.to_be_bytes());
        expected.extend_from_slice(b"world");
        expected.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(received, expected);

        server.write_all(b"stream: OK\0").await.unwrap();
        assert_eq!(scanning.await.unwrap().unwrap(), super::super::Verdict::Clean);
    }
}
