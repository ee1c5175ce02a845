//! A SQL lexer just deep enough to find statement boundaries: where each
//! top-level statement starts and ends, skipping what only looks like one.
//!
//! It knows quoted strings (`'...'` with `''`, `E'...'` with backslash
//! escapes), quoted identifiers (`"..."`, `` `...` ``), `--` and nested
//! `/* */` comments, PostgreSQL dollar quoting (`$tag$ ... $tag$`), and the
//! compound bodies of `CREATE TRIGGER ... BEGIN ... END` (SQLite) and
//! `BEGIN ATOMIC ... END` (PostgreSQL 14+), whose inner `;` end nothing.
//!
//! Two decisions rest on it: which statements of a transactional migration
//! would end the runtime's transaction (`BEGIN`, `COMMIT`, ...), refused at
//! compile time; and how PostgreSQL runs a no-transaction migration one
//! statement at a time, with errors placed on the file's own lines.

/// One top-level statement of a SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The statement without its `;`, leading comments and whitespace included.
    pub text: &'a str,
    /// Byte offset of `text` in the whole SQL.
    pub offset: usize,
    /// 1-based line of the statement's first word.
    pub line: usize,
    /// Its first words, upper-cased, at most three: what kind of statement it is.
    keywords: [Option<&'a str>; 3],
}

impl Statement<'_> {
    /// The `n`-th word (0-based), upper-cased comparison helper.
    fn word_is(&self, n: usize, word: &str) -> bool {
        self.keywords[n].is_some_and(|w| w.eq_ignore_ascii_case(word))
    }

    /// The transaction-control command this statement is, if it is one:
    /// `BEGIN`, `START TRANSACTION`, `COMMIT`, `END`, `ROLLBACK`, `ABORT`,
    /// `SAVEPOINT`, `RELEASE`, `PREPARE TRANSACTION`.
    pub fn transaction_control(&self) -> Option<&'static str> {
        const SIMPLE: [&str; 7] = [
            "BEGIN",
            "COMMIT",
            "END",
            "ROLLBACK",
            "ABORT",
            "SAVEPOINT",
            "RELEASE",
        ];
        if let Some(word) = SIMPLE.iter().find(|w| self.word_is(0, w)) {
            return Some(word);
        }
        if self.word_is(0, "START") && self.word_is(1, "TRANSACTION") {
            return Some("START TRANSACTION");
        }
        if self.word_is(0, "PREPARE") && self.word_is(1, "TRANSACTION") {
            return Some("PREPARE TRANSACTION");
        }
        None
    }

    /// Whether this is SQLite's `PRAGMA foreign_keys = ...` (a no-op inside
    /// a transaction, so a table rebuild would cascade its deletes).
    pub fn sets_foreign_keys(&self) -> bool {
        if !self.word_is(0, "PRAGMA") {
            return false;
        }
        let pragma = if self.word_is(1, "foreign_keys") {
            true
        } else {
            // `PRAGMA main.foreign_keys = ...`: the schema is a word of its own.
            self.word_is(2, "foreign_keys")
        };
        pragma && self.text.contains(['=', '('])
    }
}

/// The top-level statements of `sql`, in order; empty ones (only
/// whitespace, comments or `;`) are dropped.
///
/// # Example
///
/// ```
/// use migrate_core::source::sql::statements;
///
/// let sql = "CREATE TABLE t (x TEXT DEFAULT 'a;b');\n\
///            CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET x = 'y'; END;\n\
///            COMMIT;";
/// let found = statements(sql);
/// assert_eq!(found.len(), 3);
/// assert_eq!(found[2].line, 3);
/// assert_eq!(found[2].transaction_control(), Some("COMMIT"));
/// assert_eq!(found[1].transaction_control(), None);
/// ```
pub fn statements(sql: &str) -> Vec<Statement<'_>> {
    Lexer::new(sql).run()
}

/// The first top-level transaction-control statement in `sql`: its line and command.
pub fn first_transaction_control(sql: &str) -> Option<(usize, &'static str)> {
    statements(sql)
        .iter()
        .find_map(|s| s.transaction_control().map(|c| (s.line, c)))
}

struct Lexer<'a> {
    sql: &'a str,
    bytes: &'a [u8],
    i: usize,
    line: usize,
    out: Vec<Statement<'a>>,
    // The statement being read.
    start: usize,
    first_line: usize,
    words: [Option<&'a str>; 3],
    word_count: usize,
    /// Whether the statement may hold a compound body: `CREATE [...] TRIGGER`,
    /// `FUNCTION` or `PROCEDURE`.
    compound: bool,
    /// Depth of parentheses: `;` inside them ends nothing (`CREATE RULE ... (a; b)`).
    parens: usize,
    /// Depth of `BEGIN ... END` / `CASE ... END` inside a compound body.
    depth: usize,
    previous_word: Option<&'a str>,
}

impl<'a> Lexer<'a> {
    fn new(sql: &'a str) -> Self {
        Lexer {
            sql,
            bytes: sql.as_bytes(),
            i: 0,
            line: 1,
            out: Vec::new(),
            start: 0,
            first_line: 0,
            words: [None; 3],
            word_count: 0,
            compound: false,
            parens: 0,
            depth: 0,
            previous_word: None,
        }
    }

    fn run(mut self) -> Vec<Statement<'a>> {
        while self.i < self.bytes.len() {
            let b = self.bytes[self.i];
            match b {
                b'\n' => {
                    self.line += 1;
                    self.i += 1;
                }
                b'\'' => {
                    let escapes = self
                        .previous_word
                        .is_some_and(|w| w.eq_ignore_ascii_case("E"))
                        && self.i > 0
                        && matches!(self.bytes[self.i - 1], b'E' | b'e');
                    self.note_token();
                    self.quoted(b'\'', escapes);
                }
                b'"' | b'`' => {
                    self.note_token();
                    self.quoted(b, false);
                }
                b'-' if self.bytes.get(self.i + 1) == Some(&b'-') => {
                    let end = self.sql[self.i..]
                        .find('\n')
                        .map_or(self.bytes.len(), |n| self.i + n);
                    self.i = end;
                }
                b'/' if self.bytes.get(self.i + 1) == Some(&b'*') => self.block_comment(),
                b'$' if self.dollar_quote() => {}
                b';' => {
                    if self.depth == 0 && self.parens == 0 {
                        self.finish(self.i);
                        self.i += 1;
                        self.start = self.i;
                    } else {
                        self.i += 1;
                    }
                }
                b if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => self.word(),
                b if b.is_ascii_whitespace() => self.i += 1,
                b'(' | b')' => {
                    self.note_token();
                    self.previous_word = None;
                    if b == b'(' {
                        self.parens += 1;
                    } else {
                        self.parens = self.parens.saturating_sub(1);
                    }
                    self.i += 1;
                }
                _ => {
                    self.note_token();
                    self.previous_word = None;
                    self.i += 1;
                }
            }
        }
        self.finish(self.bytes.len());
        self.out
    }

    /// Something other than whitespace or a comment: the statement has begun.
    fn note_token(&mut self) {
        if self.first_line == 0 {
            self.first_line = self.line;
        }
    }

    fn word(&mut self) {
        self.note_token();
        let start = self.i;
        while self.i < self.bytes.len() {
            let b = self.bytes[self.i];
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80 {
                self.i += 1;
            } else {
                break;
            }
        }
        let word = &self.sql[start..self.i];
        if self.word_count < self.words.len() {
            self.words[self.word_count] = Some(word);
        }
        self.word_count += 1;
        let is = |w: &str| word.eq_ignore_ascii_case(w);
        if (2..=6).contains(&self.word_count)
            && self.words[0].is_some_and(|w| w.eq_ignore_ascii_case("CREATE"))
            && (is("TRIGGER") || is("FUNCTION") || is("PROCEDURE"))
        {
            self.compound = true;
        } else if self.compound {
            // In a trigger or routine, `BEGIN` opens its compound body (a
            // SQLite trigger's, PostgreSQL's `BEGIN ATOMIC`); `CASE` nests
            // inside one; `END` closes either.
            let opens_body = self.parens == 0 && is("BEGIN");
            if opens_body || (self.depth > 0 && is("CASE")) {
                self.depth += 1;
            } else if self.depth > 0 && is("END") {
                self.depth -= 1;
            }
        }
        self.previous_word = Some(word);
    }

    /// Skips a quoted string or identifier starting at `self.i`.
    fn quoted(&mut self, quote: u8, backslash_escapes: bool) {
        self.i += 1;
        while self.i < self.bytes.len() {
            let b = self.bytes[self.i];
            if b == b'\n' {
                self.line += 1;
            }
            if backslash_escapes && b == b'\\' {
                if self.bytes.get(self.i + 1) == Some(&b'\n') {
                    self.line += 1;
                }
                self.i += 2;
                continue;
            }
            if b == quote {
                if self.bytes.get(self.i + 1) == Some(&quote) {
                    self.i += 2;
                    continue;
                }
                self.i += 1;
                self.previous_word = None;
                return;
            }
            self.i += 1;
        }
        self.previous_word = None;
    }

    fn block_comment(&mut self) {
        let mut depth = 0usize;
        while self.i < self.bytes.len() {
            match (self.bytes[self.i], self.bytes.get(self.i + 1)) {
                (b'/', Some(b'*')) => {
                    depth += 1;
                    self.i += 2;
                }
                (b'*', Some(b'/')) => {
                    depth -= 1;
                    self.i += 2;
                    if depth == 0 {
                        return;
                    }
                }
                (b'\n', _) => {
                    self.line += 1;
                    self.i += 1;
                }
                _ => self.i += 1,
            }
        }
    }

    /// `$tag$ ... $tag$` (the tag may be empty); `$1` is a parameter, not a
    /// quote. Returns whether one was skipped.
    fn dollar_quote(&mut self) -> bool {
        let rest = &self.sql[self.i + 1..];
        if rest.starts_with(|c: char| c.is_ascii_digit()) {
            return false;
        }
        let tag_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if rest.as_bytes().get(tag_len) != Some(&b'$') {
            return false;
        }
        self.note_token();
        let tag = &self.sql[self.i..self.i + tag_len + 2];
        let body_start = self.i + tag.len();
        let end = self.sql[body_start..]
            .find(tag)
            .map_or(self.bytes.len(), |n| body_start + n + tag.len());
        self.line += self.sql[self.i..end].matches('\n').count();
        self.i = end;
        self.previous_word = None;
        true
    }

    fn finish(&mut self, end: usize) {
        if self.first_line != 0 {
            self.out.push(Statement {
                text: &self.sql[self.start..end],
                offset: self.start,
                line: self.first_line,
                keywords: self.words,
            });
        }
        self.first_line = 0;
        self.words = [None; 3];
        self.word_count = 0;
        self.compound = false;
        self.parens = 0;
        self.depth = 0;
        self.previous_word = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<String> {
        statements(sql)
            .iter()
            .map(|s| s.text.trim().to_owned())
            .collect()
    }

    #[test]
    fn splits_at_top_level_semicolons_only() {
        let sql = "-- migrate:no-transaction\n\
                   CREATE INDEX CONCURRENTLY a ON t (x);\n\
                   INSERT INTO t VALUES ('semi;colon', 'it''s; fine', E'back\\';slash');\n\
                   /* a ; comment /* nested; */ */ SELECT \"odd;name\" FROM t;\n\
                   CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; SELECT 2; $body$ LANGUAGE sql;\n\
                   DO $$ BEGIN PERFORM 1; END $$;\n\
                   SELECT $1::int;\n\
                   -- trailing comment; with a semicolon\n";
        let parts = texts(sql);
        assert_eq!(parts.len(), 6, "{parts:#?}");
        assert!(parts[0].ends_with("CREATE INDEX CONCURRENTLY a ON t (x)"));
        assert!(parts[1].starts_with("INSERT") && parts[1].ends_with("slash')"));
        assert!(parts[2].ends_with("SELECT \"odd;name\" FROM t"));
        assert!(parts[3].ends_with("$body$ LANGUAGE sql"));
        assert_eq!(parts[4], "DO $$ BEGIN PERFORM 1; END $$");
        assert_eq!(parts[5], "SELECT $1::int");
    }

    #[test]
    fn a_word_ending_in_e_does_not_start_an_escape_string() {
        // `ELSE'C:\'` is ELSE followed by the plain string 'C:\'.
        let sql =
            "SELECT CASE WHEN true THEN 'a' ELSE'C:\\' END;\nCREATE INDEX CONCURRENTLY i ON t (x);";
        let found = statements(sql);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!(found[1].line, 2);
    }

    #[test]
    fn compound_bodies_are_one_statement() {
        let sql = "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n\
                     UPDATE t SET x = CASE WHEN new.x > 0 THEN 1 ELSE 2 END;\n\
                     INSERT INTO log VALUES (new.x);\n\
                   END;\n\
                   CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql\n\
                   BEGIN ATOMIC\n  SELECT a + 1;\n  SELECT a + 2;\nEND;\n\
                   CREATE TABLE after_them (x int);";
        let parts = texts(sql);
        assert_eq!(parts.len(), 3, "{parts:#?}");
        assert!(parts[0].ends_with("END"));
        assert!(parts[1].starts_with("CREATE FUNCTION") && parts[1].ends_with("END"));
        assert_eq!(statements(sql)[2].line, 10);
    }

    #[test]
    fn finds_transaction_control_at_top_level_only() {
        for (sql, expected) in [
            (
                "BEGIN;\nCREATE TABLE t (x int);\nCOMMIT;",
                Some((1, "BEGIN")),
            ),
            ("CREATE TABLE t (x int);\n  commit ;", Some((2, "COMMIT"))),
            ("begin transaction;", Some((1, "BEGIN"))),
            ("BEGIN IMMEDIATE;", Some((1, "BEGIN"))),
            ("start transaction;", Some((1, "START TRANSACTION"))),
            ("SELECT 1;\nEND;", Some((2, "END"))),
            ("SAVEPOINT a;", Some((1, "SAVEPOINT"))),
            ("RELEASE SAVEPOINT a;", Some((1, "RELEASE"))),
            ("ROLLBACK TO SAVEPOINT a;", Some((1, "ROLLBACK"))),
            ("ABORT;", Some((1, "ABORT"))),
            ("PREPARE TRANSACTION 'x';", Some((1, "PREPARE TRANSACTION"))),
            ("/* BEGIN; */ -- COMMIT;\nSELECT 'COMMIT;';", None),
            ("SELECT \"begin\" FROM t;", None),
            ("DO $$ BEGIN PERFORM 1; COMMIT; END $$;", None),
            (
                "CREATE FUNCTION f() RETURNS void AS 'BEGIN; COMMIT;' LANGUAGE sql;",
                None,
            ),
            (
                "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END;",
                None,
            ),
            (
                "CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC SELECT 1; END;",
                None,
            ),
            ("START something_else;", None),
            ("PREPARE q AS SELECT 1;", None),
        ] {
            assert_eq!(first_transaction_control(sql), expected, "{sql}");
        }
    }

    #[test]
    fn begin_is_a_body_only_in_triggers_and_routines() {
        let sql = "CREATE TABLE t (begin int, \"end\" int);\nCOMMIT;";
        assert_eq!(first_transaction_control(sql), Some((2, "COMMIT")));
        let rule = "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2));\nSELECT 1;";
        assert_eq!(texts(rule).len(), 2);
    }

    #[test]
    fn finds_foreign_key_pragmas() {
        let sets = |sql| statements(sql).iter().any(Statement::sets_foreign_keys);
        assert!(sets("PRAGMA foreign_keys = OFF;"));
        assert!(sets("pragma FOREIGN_KEYS=0;"));
        assert!(sets("PRAGMA main.foreign_keys = OFF;"));
        assert!(sets("PRAGMA foreign_keys(0);"));
        assert!(!sets("PRAGMA foreign_keys;"));
        assert!(!sets("PRAGMA defer_foreign_keys = ON;"));
        assert!(!sets("PRAGMA foreign_key_check;"));
        assert!(!sets("SELECT 'PRAGMA foreign_keys = OFF';"));
    }

    #[test]
    fn lines_count_newlines_inside_strings_and_comments() {
        let sql = "SELECT 'a\nb';\n/* x\ny */\nSELECT $$\n$$;\nSELECT 3;";
        let lines: Vec<usize> = statements(sql).iter().map(|s| s.line).collect();
        assert_eq!(lines, [1, 5, 7]);
    }
}
