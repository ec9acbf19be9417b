//! What is learned from a file's bytes as they stream past: size, SHA-256, type.

use sha2::{Digest, Sha256};

/// How many leading bytes are kept for content-type sniffing. Every signature that
/// `infer` knows lies within the first few KiB.
const SNIFF_BYTES: usize = 8192;

/// Hashes, counts and sniffs a stream chunk by chunk, without keeping it.
#[derive(Default)]
pub(crate) struct StreamDigest {
    hasher: Sha256,
    size: u64,
    head: Vec<u8>,
}

/// The result of a [`StreamDigest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    pub(crate) size: u64,
    pub(crate) sha256: String,
    pub(crate) content_type: String,
}

impl Fingerprint {
    /// The catalog record of a new file with these bytes and its two copies (the
    /// first one's URL is the file's `url`, the second's its `backupUrl`), not yet
    /// scanned or rendered.
    pub(crate) fn new_file_record(
        &self,
        id: String,
        name: String,
        created_at: chrono::DateTime<chrono::Utc>,
        first: crate::catalog::CopyRecord,
        second: crate::catalog::CopyRecord,
    ) -> crate::catalog::FileRecord {
        crate::catalog::FileRecord {
            id,
            name,
            size: self.size,
            sha256: self.sha256.clone(),
            content_type: self.content_type.clone(),
            url: first.url.clone(),
            backup_url: Some(second.url.clone()),
            thumbnail_url: None,
            scan_status: "pending".to_owned(),
            scan_detail: None,
            scanned_at: None,
            render_status: "none".to_owned(),
            render_detail: None,
            created_at,
            copies: vec![first, second],
        }
    }
}

impl StreamDigest {
    pub(crate) fn update(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        if self.head.len() < SNIFF_BYTES {
            let wanted = SNIFF_BYTES - self.head.len();
            self.head.extend_from_slice(&chunk[..wanted.min(chunk.len())]);
        }
    }

    pub(crate) fn finish(self) -> Fingerprint {
        Fingerprint {
            size: self.size,
            sha256: hex::encode(self.hasher.finalize()),
            content_type: sniff_content_type(&self.head).to_owned(),
        }
    }
}

/// The SHA-256 of `bytes`, in lowercase hex.
#[cfg(test)]
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The content type of a file from its first bytes; the client's claim is never used.
///
/// Known binary signatures win; otherwise bytes that are valid UTF-8 (a multi-byte
/// character cut at the end of the sample is allowed) count as text.
pub(crate) fn sniff_content_type(head: &[u8]) -> &'static str {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type();
    }
    if head.is_empty() {
        return "application/octet-stream";
    }
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(err) => err.error_len().is_none() && head.len() >= SNIFF_BYTES,
    };
    if text && !head.contains(&0) {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_a_one_shot_hash_whatever_the_chunking() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut digest = StreamDigest::default();
        for chunk in data.chunks(7919) {
            digest.update(chunk);
        }
        let fingerprint = digest.finish();
        assert_eq!(fingerprint.size, 100_000);
        assert_eq!(fingerprint.sha256, sha256_hex(&data));
    }

    #[test]
    fn empty_input_has_the_empty_hash() {
        let fingerprint = StreamDigest::default().finish();
        assert_eq!(
            fingerprint.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(fingerprint.content_type, "application/octet-stream");
    }

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(sniff_content_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(sniff_content_type(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(sniff_content_type("héllo".as_bytes()), "text/plain; charset=utf-8");
        assert_eq!(sniff_content_type(&[0xff, 0x00, 0x13]), "application/octet-stream");
    }
}
