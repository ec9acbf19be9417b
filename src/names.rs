//! Display names and object keys.
//!
//! A user-supplied name is only ever a label: it is cleaned for display and never used
//! to build an object key, so a name like `../../etc/passwd` cannot reach outside the
//! store's prefix or collide with another file.

/// The longest display name kept, in bytes. Longer names are cut at a character
/// boundary; 255 is the usual file-name limit of file systems and browsers.
const MAX_NAME_BYTES: usize = 255;

/// The name given to a file whose name is empty once cleaned.
const FALLBACK_NAME: &str = "file";

/// Cleans a user-supplied file name for display.
///
/// Keeps only the last path component (after `/` or `\`), drops control characters,
/// trims spaces and dots at either end (so `..` and hidden-file names do not survive),
/// and limits the length. A name with nothing left becomes `file`.
pub fn sanitize_display_name(raw: &str) -> String {
    let last_component = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let printable: String = last_component.chars().filter(|c| !c.is_control()).collect();
    let trimmed = printable.trim_matches(|c: char| c.is_whitespace() || c == '.');

    let mut name = String::with_capacity(trimmed.len().min(MAX_NAME_BYTES));
    for c in trimmed.chars() {
        if name.len() + c.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        name.push(c);
    }
    if name.is_empty() { FALLBACK_NAME.to_owned() } else { name }
}

/// The object key of a file's original bytes: derived from its id alone.
pub fn original_key(file_id: &str) -> String {
    format!("files/{file_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components_are_dropped() {
        assert_eq!(sanitize_display_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_display_name("C:\\Users\\me\\report.pdf"), "report.pdf");
        assert_eq!(sanitize_display_name("a/b/c.txt"), "c.txt");
    }

    #[test]
    fn dot_names_and_empty_names_fall_back() {
        assert_eq!(sanitize_display_name(".."), "file");
        assert_eq!(sanitize_display_name("dir/"), "file");
        assert_eq!(sanitize_display_name("   "), "file");
        assert_eq!(sanitize_display_name(""), "file");
    }

    #[test]
    fn control_characters_are_removed() {
        assert_eq!(sanitize_display_name("evil\r\nname\u{0}.txt"), "evilname.txt");
        assert_eq!(sanitize_display_name("bell\u{7}.png"), "bell.png");
    }

    #[test]
    fn unicode_is_kept_and_length_is_bounded() {
        assert_eq!(sanitize_display_name("résumé 2026.pdf"), "résumé 2026.pdf");
        let long = "é".repeat(300);
        let cleaned = sanitize_display_name(&long);
        assert!(cleaned.len() <= MAX_NAME_BYTES);
        assert!(cleaned.chars().all(|c| c == 'é'));
    }

    #[test]
    fn keys_come_from_the_id_only() {
        assert_eq!(original_key("0193a7c4"), "files/0193a7c4");
    }
}
