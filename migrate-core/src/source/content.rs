//! What the text of a migration file says about itself: its first-line
//! directive and whether it holds anything but whitespace and comments.

/// The first-line directive of a SQL migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Directive {
    /// No directive: the migration runs in a transaction.
    None,
    /// `-- migrate:no-transaction`.
    NoTransaction,
    /// `-- migrate:foreign-keys-off`.
    ForeignKeysOff,
    /// `-- migrate:<anything else>`, to be reported.
    Unknown(String),
}

/// Reads the directive on the first line of a (normalised) SQL text.
pub(crate) fn sql_directive(text: &str) -> Directive {
    let first = text.lines().next().unwrap_or("");
    let Some(comment) = first.trim().strip_prefix("--") else {
        return Directive::None;
    };
    let Some(directive) = comment.trim_start().strip_prefix("migrate:") else {
        return Directive::None;
    };
    match directive.trim() {
        "no-transaction" => Directive::NoTransaction,
        "foreign-keys-off" => Directive::ForeignKeysOff,
        other => Directive::Unknown(other.to_owned()),
    }
}

/// `-- migrate:` directives below the first line, where they would be
/// silently ignored: each one's 1-based line and text.
pub(crate) fn misplaced_directives(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .skip(1)
        .filter_map(|(i, line)| {
            let comment = line.trim_start().strip_prefix("--")?;
            let directive = comment.trim_start().strip_prefix("migrate:")?;
            Some((i + 1, format!("-- migrate:{}", directive.trim())))
        })
        .collect()
}

/// Whether a Rust source holds nothing but whitespace and comments (SQL's
/// blankness is the lexer's: `sql::is_blank`).
pub(crate) fn rust_is_blank(text: &str) -> bool {
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return true;
        }
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.split_once('\n').map_or("", |(_, tail)| tail);
        } else if rest.starts_with("/*") {
            match skip_block_comment(rest) {
                Some(tail) => rest = tail,
                // An unterminated comment swallows the rest of the file.
                None => return true,
            }
        } else {
            return false;
        }
    }
}

/// Skips a (possibly nested) block comment at the start of `text`.
fn skip_block_comment(text: &str) -> Option<&str> {
    let mut depth = 0usize;
    let mut i = 0;
    let bytes = text.as_bytes();
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(&text[i..]);
                }
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives() {
        assert_eq!(
            sql_directive("-- migrate:no-transaction\nVACUUM;"),
            Directive::NoTransaction
        );
        assert_eq!(
            sql_directive("  --   migrate:no-transaction  \nVACUUM;"),
            Directive::NoTransaction
        );
        assert_eq!(
            sql_directive("-- migrate:no-transactions\n"),
            Directive::Unknown("no-transactions".into())
        );
        assert_eq!(sql_directive("-- creates users\n"), Directive::None);
        assert_eq!(
            sql_directive("SELECT 1;\n-- migrate:no-transaction"),
            Directive::None
        );
        assert_eq!(sql_directive(""), Directive::None);
    }

    #[test]
    fn blank_rust() {
        assert!(rust_is_blank("// todo\n/* later */\n"));
        assert!(!rust_is_blank("pub fn up() {}"));
    }
}
