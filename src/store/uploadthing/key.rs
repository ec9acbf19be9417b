//! UploadThing file keys, and how twinstore's object keys map onto them.
//!
//! # File keys
//!
//! v7 clients make their own file keys: the app id's hash encoded with sqids (minimum
//! length 12), followed by a unique seed. Both parts use the sqids default alphabet
//! shuffled with the app id's hash, so a key starts with the same 12 or more
//! characters for every file of an app and the ingest server can tell whose it is.
//! The seed here is the sqids encoding of a UUIDv7 (128 bits, as two numbers) rather
//! than the SDK's 32-bit hash of the file's name, size and time: it is as URL-safe and
//! cannot collide.
//!
//! The hash is djb2 as the `effect` library computes it (`Hash.string`): from 5381,
//! over the UTF-16 code units from the last to the first, `h = (h * 33) ^ unit` in
//! 32-bit integers, then `(h & 0xbfffffff) | ((h >>> 1) & 0x40000000)`.
//!
//! The shuffle of the alphabet is not spelled out in the reference notes (they say
//! only "shuffled by djb2(appId)"). The one here, for each position `i` a swap with
//! `((seed % (i + 1)) + i) % len` using JavaScript's truncating `%`, was checked
//! against public copies of the SDK's TypeScript `shuffle`; keys made with it were
//! never offered to the real ingest server.
//!
//! # Object keys
//!
//! twinstore chooses keys such as `files/<uuid>`; UploadThing makes its own file keys.
//! A twinstore key travels as the file's `customId`, and since a `/` cannot stand in
//! the `/f/{id}` path of a file URL, it is escaped: `~` becomes `~~` and `/` becomes
//! `~s` (`files/0190…` → `files~s0190…`). The escape is reversible, so listing maps
//! custom ids back to keys, and it leaves keys without `/` or `~` as they are. File
//! keys made by UploadThing never hold `/`, so a key without `/` in the catalog is an
//! UploadThing file key (a file that came in through the webhook) and is addressed as
//! one.

use sqids::{DEFAULT_ALPHABET, Sqids};

/// The minimum length of the app id part of a file key, as the SDK encodes it.
const APP_ID_MIN_LENGTH: u8 = 12;

/// The minimum length of the seed part, as the SDK encodes it.
const SEED_MIN_LENGTH: u8 = 36;

/// The longest file key or custom id accepted from a webhook.
const MAX_KEY_LENGTH: usize = 256;

/// The djb2 hash of `text` as UploadThing's SDK computes it (see the module docs).
pub fn djb2(text: &str) -> i32 {
    let units: Vec<u16> = text.encode_utf16().collect();
    let hash = units.iter().rev().fold(5381i32, |h, &unit| h.wrapping_mul(33) ^ i32::from(unit));
    let bits = hash as u32;
    ((bits & 0xbfff_ffff) | ((bits >> 1) & 0x4000_0000)) as i32
}

/// The sqids default alphabet shuffled with the hash of `seed` (see the module docs).
pub fn shuffled_alphabet(seed: &str) -> Vec<char> {
    let mut chars: Vec<char> = DEFAULT_ALPHABET.chars().collect();
    let seed = i64::from(djb2(seed));
    let len = chars.len() as i64;
    for i in 0..chars.len() {
        // Rust's `%` truncates toward zero like JavaScript's, so negative seeds agree.
        let j = ((seed % (i as i64 + 1)) + i as i64) % len;
        chars.swap(i, j as usize);
    }
    chars
}

fn encoder(app_id: &str, min_length: u8) -> Sqids {
    Sqids::builder()
        .alphabet(shuffled_alphabet(app_id))
        .min_length(min_length)
        .build()
        .expect("a shuffled default alphabet is a valid sqids alphabet")
}

/// The part every file key of the app starts with.
pub fn app_prefix(app_id: &str) -> String {
    let hash = i64::from(djb2(app_id)).unsigned_abs();
    encoder(app_id, APP_ID_MIN_LENGTH).encode(&[hash]).expect("one number always encodes")
}

/// A new file key for the app, unique through `seed` (a UUID's 128 bits).
pub fn generate(app_id: &str, seed: u128) -> String {
    let numbers = [(seed >> 64) as u64, seed as u64];
    let tail = encoder(app_id, SEED_MIN_LENGTH).encode(&numbers).expect("two numbers encode");
    format!("{}{tail}", app_prefix(app_id))
}

/// Whether `key` can be an UploadThing file key or an escaped custom id: not empty, not
/// too long, and only characters that are safe unescaped in a URL path and left alone
/// by the custom id escape (no `/`, `~`, `%`, `?`, `#`, `.` alone or spaces).
pub fn is_valid_file_key(key: &str) -> bool {
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    !key.is_empty()
        && key.len() <= MAX_KEY_LENGTH
        && key.chars().all(safe)
        && key != "."
        && key != ".."
}

/// The custom id (and `/f/` path segment) that stands for twinstore's `key`.
pub fn to_custom_id(key: &str) -> String {
    let mut id = String::with_capacity(key.len() + 8);
    for c in key.chars() {
        match c {
            '~' => id.push_str("~~"),
            '/' => id.push_str("~s"),
            c => id.push(c),
        }
    }
    id
}

/// The twinstore key that `custom_id` stands for, or `None` when it is not an escape
/// made by [`to_custom_id`].
pub fn from_custom_id(custom_id: &str) -> Option<String> {
    let mut key = String::with_capacity(custom_id.len());
    let mut chars = custom_id.chars();
    while let Some(c) = chars.next() {
        match c {
            '~' => match chars.next()? {
                '~' => key.push('~'),
                's' => key.push('/'),
                _ => return None,
            },
            c => key.push(c),
        }
    }
    Some(key)
}

/// Whether twinstore's `key` names an UploadThing file key (one that came in through
/// the webhook) rather than a custom id that twinstore chose.
pub fn is_file_key(key: &str) -> bool {
    !key.contains('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors: "a" by hand (5381 * 33 = 177573 = 0x2B5A5; ^ 0x61 = 0x2B5C4 = 177604;
    // bit 30 is clear and 177604 >>> 1 has no bit 30, so the mix leaves it). The others
    // come from a ten-line Python transcription of the documented steps (32-bit wrap
    // with `& 0xffffffff`, UTF-16 units with `encode('utf-16-le')`), written apart from
    // this code.
    #[test]
    fn djb2_matches_the_documented_algorithm() {
        assert_eq!(djb2(""), 5381);
        assert_eq!(djb2("a"), 177_604);
        assert_eq!(djb2("app1"), 1_012_205_429);
        assert_eq!(djb2("kzvrxwc1b9"), -1_018_465_482);
        // Non-ASCII: hashed by UTF-16 unit (é is one unit, 0xE9), as JavaScript does.
        assert_eq!(djb2("héllo"), 181_375_403);
    }

    // From the same Python transcription, with JavaScript's truncating `%`.
    #[test]
    fn the_alphabet_is_shuffled_by_the_app_id() {
        let app1: String = shuffled_alphabet("app1").into_iter().collect();
        assert_eq!(app1, "9cYbikNmqvodLyCuXIhgFjTtZA7zQ6pBDewl8n5frOWK1M3PUE4Vx0GRHJsS2a");
        let negative: String = shuffled_alphabet("kzvrxwc1b9").into_iter().collect();
        assert_eq!(negative, "gTobm1a0hR6iqjulc7fOG3d9tyxkz4UBS8nPeNDHpA2QKwrJIMLXWVvFYZs5CE");
    }

    #[test]
    fn keys_start_with_the_app_prefix_and_are_unique() {
        let prefix = app_prefix("kzvrxwc1b9");
        assert!(prefix.len() >= 12, "{prefix}");
        // The prefix decodes back to the app id's hash with the app's alphabet.
        let hash = i64::from(djb2("kzvrxwc1b9")).unsigned_abs();
        assert_eq!(encoder("kzvrxwc1b9", 12).decode(&prefix), vec![hash]);

        let one = generate("kzvrxwc1b9", uuid::Uuid::now_v7().as_u128());
        let two = generate("kzvrxwc1b9", uuid::Uuid::now_v7().as_u128());
        assert_ne!(one, two);
        for key in [&one, &two] {
            assert!(key.starts_with(&prefix), "{key}");
            assert!(key.len() >= prefix.len() + 36, "{key}");
            assert!(key.chars().all(|c| c.is_ascii_alphanumeric()), "{key}");
            assert!(is_valid_file_key(key) && is_file_key(key));
        }
        assert_ne!(app_prefix("other-app"), prefix);
    }

    #[test]
    fn custom_ids_escape_slashes_reversibly() {
        for key in ["files/0190-ab", "renditions/f1/thumb-150.webp", "a~s/b~~", "plain", ""] {
            let id = to_custom_id(key);
            assert!(!id.contains('/'), "{id}");
            assert_eq!(from_custom_id(&id).as_deref(), Some(key));
        }
        assert_eq!(to_custom_id("files/x"), "files~sx");
        assert_eq!(to_custom_id("abc"), "abc", "file keys are left alone");
        assert_eq!(from_custom_id("bad~x"), None);
        assert_eq!(from_custom_id("trailing~"), None);
    }

    #[test]
    fn webhook_keys_must_be_url_safe() {
        assert!(is_valid_file_key("kzvrxwc1b9abcDEF123"));
        for bad in ["", "a/b", "a%2Fb", "..", "a b", "a?b", "a#b", "a~b", &"k".repeat(300)] {
            assert!(!is_valid_file_key(bad), "{bad}");
        }
    }
}
