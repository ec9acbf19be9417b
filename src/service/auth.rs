//! API keys and signed download URLs.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::Secret;

/// Checks `Authorization: Bearer` keys and signs download URLs.
#[derive(Debug)]
pub struct Guard {
    keys: Vec<Secret>,
    public_reads: bool,
    url_secret: Secret,
}

impl Guard {
    /// A guard accepting `keys`; reads need none when `public_reads` is set. URLs are
    /// signed with `url_secret`.
    pub fn new(keys: Vec<Secret>, public_reads: bool, url_secret: Secret) -> Self {
        Self { keys, public_reads, url_secret }
    }

    /// Whether any key is configured.
    pub fn has_keys(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Whether reads need a key or a signature.
    pub fn reads_are_private(&self) -> bool {
        self.has_keys() && !self.public_reads
    }

    /// Whether a request with this `Authorization` header may write.
    pub fn may_write(&self, authorization: Option<&str>) -> bool {
        !self.has_keys() || self.key_matches(authorization)
    }

    /// Whether a request with this `Authorization` header may read.
    pub fn may_read(&self, authorization: Option<&str>) -> bool {
        !self.reads_are_private() || self.key_matches(authorization)
    }

    /// Compares the bearer key with each configured key in constant time.
    fn key_matches(&self, authorization: Option<&str>) -> bool {
        let Some(given) = authorization.and_then(|value| value.strip_prefix("Bearer ")) else {
            return false;
        };
        let given = given.trim().as_bytes();
        // Every key is compared, so the time taken does not tell which one matched.
        self.keys
            .iter()
            .fold(false, |found, key| found | bool::from(key.expose().as_bytes().ct_eq(given)))
    }

    /// The signature of a download of file `id` valid until `expires` (Unix seconds):
    /// HMAC-SHA256 over `id` and `expires`, in hex.
    pub fn sign(&self, id: &str, expires: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.url_secret.expose().as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(format!("{id}\n{expires}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `signature` signs a download of `id` until `expires`, and `now` is
    /// before then. The comparison takes constant time.
    pub fn signature_valid(&self, id: &str, expires: i64, signature: &str, now: i64) -> bool {
        if now > expires {
            return false;
        }
        let expected = self.sign(id, expires);
        bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::new(vec![Secret::new("k1"), Secret::new("k2")], false, Secret::new("s3cret"))
    }

    #[test]
    fn keys_are_bearer_tokens() {
        let guard = guard();
        assert!(guard.may_write(Some("Bearer k2")));
        assert!(!guard.may_write(Some("Bearer k3")));
        assert!(!guard.may_write(Some("k1")));
        assert!(!guard.may_write(None));
        assert!(!guard.may_read(None), "reads are private by default");
    }

    #[test]
    fn without_keys_everything_is_open() {
        let guard = Guard::new(Vec::new(), false, Secret::new("s"));
        assert!(guard.may_write(None));
        assert!(guard.may_read(None));
    }

    #[test]
    fn signatures_bind_the_id_and_the_expiry() {
        let guard = guard();
        let signature = guard.sign("file-1", 2_000);
        assert_eq!(signature.len(), 64);
        assert!(guard.signature_valid("file-1", 2_000, &signature, 1_999));
        assert!(!guard.signature_valid("file-1", 2_000, &signature, 2_001), "expired");
        assert!(!guard.signature_valid("file-2", 2_000, &signature, 1_000), "other file");
        assert!(!guard.signature_valid("file-1", 3_000, &signature, 1_000), "other expiry");
        let other = Guard::new(Vec::new(), false, Secret::new("other"));
        assert!(!other.signature_valid("file-1", 2_000, &signature, 1_000), "other secret");
    }
}
