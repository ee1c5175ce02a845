//! Checksums: how the binary and the database agree that a migration is the
//! one that was applied.
//!
//! Everything here is an explicit algorithm over bytes (SHA-256, lowercase
//! hex), never `Hash`/`DefaultHasher`, whose output may change between Rust
//! releases. The macro computes these values at compile time; the runtime
//! only compares strings.
//!
//! - [`normalise`] drops a leading byte-order mark and turns `\r\n` and lone
//!   `\r` into `\n`, so a CRLF checkout does not look like an edit.
//! - [`checksum`] hashes the normalised text of one migration.
//! - [`chain`] folds a migration's checksum into the chained checksum of the
//!   versions before it: the value stored for version N covers versions
//!   1..=N, so the runtime validates a whole history by comparing one row.
//! - [`loose_checksum`] hashes the text with all whitespace removed, so a
//!   mismatch can say whether only whitespace differs.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

/// The text with a leading byte-order mark dropped and line endings turned into `\n`.
///
/// # Example
///
/// ```
/// use migrate_core::checksum::normalise;
///
/// assert_eq!(normalise("\u{feff}a\r\nb\rc\n"), "a\nb\nc\n");
/// ```
pub fn normalise(text: &str) -> Cow<'_, str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !text.contains('\r') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// SHA-256 (lowercase hex) of the [normalised](normalise) text.
///
/// # Example
///
/// ```
/// use migrate_core::checksum::checksum;
///
/// assert_eq!(checksum("CREATE TABLE t (id INTEGER);\r\n"), checksum("CREATE TABLE t (id INTEGER);\n"));
/// assert_eq!(checksum("").len(), 64);
/// ```
pub fn checksum(text: &str) -> String {
    hex(&Sha256::digest(normalise(text).as_bytes()))
}

/// SHA-256 (lowercase hex) of the text with every whitespace character
/// removed: equal loose checksums with different [`checksum`]s mean only
/// whitespace was edited.
pub fn loose_checksum(text: &str) -> String {
    let mut hasher = Sha256::new();
    let mut buf = [0u8; 4];
    for c in normalise(text).chars().filter(|c| !c.is_whitespace()) {
        hasher.update(c.encode_utf8(&mut buf).as_bytes());
    }
    hex(&hasher.finalize())
}

/// The chained checksum of `version`: SHA-256 over the previous version's
/// chained checksum (empty for the first), the version and its checksum.
///
/// # Example
///
/// ```
/// use migrate_core::checksum::{chain, checksum};
///
/// let one = chain("", 1, &checksum("CREATE TABLE a (id INTEGER);"));
/// let two = chain(&one, 2, &checksum("CREATE TABLE b (id INTEGER);"));
/// let edited_one = chain("", 1, &checksum("CREATE TABLE a (id TEXT);"));
/// assert_ne!(two, chain(&edited_one, 2, &checksum("CREATE TABLE b (id INTEGER);")));
/// ```
pub fn chain(previous: &str, version: u64, checksum: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"migrate chain v1\n");
    hasher.update(previous.as_bytes());
    hasher.update(b"\n");
    hasher.update(version.to_string().as_bytes());
    hasher.update(b" ");
    hasher.update(checksum.as_bytes());
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 0xf) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sha256_vector() {
        // FIPS 180-2 test vector: the algorithm must never silently change.
        assert_eq!(
            checksum("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn line_endings_and_bom_do_not_change_the_checksum() {
        let lf = "CREATE TABLE t (\n  id INTEGER\n);\n";
        assert_eq!(checksum(lf), checksum(&lf.replace('\n', "\r\n")));
        assert_eq!(checksum(lf), checksum(&lf.replace('\n', "\r")));
        assert_eq!(checksum(lf), checksum(&format!("\u{feff}{lf}")));
        assert_ne!(checksum(lf), checksum(&lf.replace("id", "Id")));
        // Only a leading mark is dropped; one inside the text is content.
        assert_ne!(checksum(lf), checksum(&format!("{lf}\u{feff}")));
    }

    #[test]
    fn loose_checksum_ignores_only_whitespace() {
        let a = "CREATE TABLE t (id INTEGER);";
        let b = "CREATE TABLE t (\n\tid   INTEGER\n);\n";
        assert_ne!(checksum(a), checksum(b));
        assert_eq!(loose_checksum(a), loose_checksum(b));
        assert_ne!(
            loose_checksum(a),
            loose_checksum("CREATE TABLE t (id TEXT);")
        );
    }

    #[test]
    fn chain_depends_on_order_version_and_every_checksum() {
        let (a, b) = (checksum("a"), checksum("b"));
        let ab = chain(&chain("", 1, &a), 2, &b);
        assert_ne!(ab, chain(&chain("", 1, &b), 2, &a));
        assert_ne!(ab, chain(&chain("", 1, &a), 3, &b));
        assert_eq!(ab, chain(&chain("", 1, &a), 2, &b));
    }
}
