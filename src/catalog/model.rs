//! The records the catalog holds.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::Serialize;

/// The state of one copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CopyState {
    /// Not written yet, or written and not confirmed: a later attempt will write it.
    Pending,
    /// Written and confirmed, with the checksum of the original.
    Stored,
    /// Given up on.
    Failed,
    /// Removed from its store on purpose.
    Deleted,
}

impl CopyState {
    /// The name stored in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            CopyState::Pending => "pending",
            CopyState::Stored => "stored",
            CopyState::Failed => "failed",
            CopyState::Deleted => "deleted",
        }
    }

    /// Parses a name stored in the catalog.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(CopyState::Pending),
            "stored" => Some(CopyState::Stored),
            "failed" => Some(CopyState::Failed),
            "deleted" => Some(CopyState::Deleted),
            _ => None,
        }
    }
}

/// What a user uploaded, with its copies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileRecord {
    /// The file's id (a UUIDv7: ids sort by creation time).
    pub id: String,
    /// The display name, sanitized. Never used as an object key.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the original bytes, lowercase hex.
    pub sha256: String,
    /// The content type sniffed from the bytes.
    pub content_type: String,
    /// The primary copy's URL.
    pub url: String,
    /// The backup copy's URL.
    pub backup_url: Option<String>,
    /// The 300 px thumbnail's URL, for images that have one.
    pub thumbnail_url: Option<String>,
    /// The virus scan's state: `pending`, `clean`, `infected`, `skipped` (too large
    /// for the scanner: never shown as clean) or `error` (to be retried).
    pub scan_status: String,
    /// The signature found, or why the file was skipped or could not be scanned.
    pub scan_detail: Option<String>,
    /// When the file was last scanned.
    pub scanned_at: Option<DateTime<Utc>>,
    /// Whether image renditions were made: `none` (not an image, or renditions are
    /// off), `pending`, `done`, `skipped` (over a limit, or a format not rendered) or
    /// `failed` (a broken image).
    pub render_status: String,
    /// Why renditions were skipped or failed.
    pub render_detail: Option<String>,
    /// When the file was stored.
    pub created_at: DateTime<Utc>,
    /// Every copy of the original, one per store.
    pub copies: Vec<CopyRecord>,
}

impl FileRecord {
    /// The copy in `store`, if there is one.
    pub fn copy_in(&self, store: &str) -> Option<&CopyRecord> {
        self.copies.iter().find(|copy| copy.store == store)
    }
}

/// One file's bytes in one store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CopyRecord {
    /// The store's name.
    pub store: String,
    /// The object key inside the store.
    pub key: String,
    /// The object's canonical URL.
    pub url: String,
    /// Whether the copy is there.
    pub state: CopyState,
    /// SHA-256 of the bytes the copy was seen to hold.
    pub checksum: Option<String>,
    /// The store's entity tag for the object.
    pub etag: Option<String>,
    /// Why the last attempt to write it failed.
    pub last_error: Option<String>,
    /// How many times writing it was attempted.
    pub attempts: u32,
    /// When the copy's bytes were last checked against the checksum.
    pub verified_at: Option<DateTime<Utc>>,
}

/// The current time at the precision the catalog keeps (microseconds), so that a
/// record compares equal to itself after a round trip through the database.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Formats a time the way the catalog stores it: fixed-width RFC 3339 in UTC, which
/// sorts correctly as text.
pub(crate) fn to_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses a time stored by [`to_text`].
pub(crate) fn from_text(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|time| time.with_timezone(&Utc))
}
