//! A SQL lexer just deep enough to find statement boundaries: where each
//! top-level statement starts and ends, skipping what only looks like one.
//!
//! SQLite and PostgreSQL disagree on what hides a `;` or a keyword:
//! PostgreSQL nests `/* */` comments, has `E'...'` escape strings and
//! `$tag$ ... $tag$` dollar quotes; SQLite does not nest comments, has no
//! escape strings, reads `$name` as a parameter, and quotes identifiers
//! with `[...]` and `` `...` `` too. Each is lexed by its own [`LexicalRules`].
//! A migration file does not say which database it is for, so the
//! compile-time checks that guard atomicity ([`transaction_controls`],
//! [`sets_foreign_keys`]) lex it both ways and report what either finds
//! (unless it holds syntax only one database has): a `COMMIT` hidden from
//! one database's rules is still seen by the other's. At run time the
//! database is known, and [`transaction_control`] reads with its rules.
//!
//! Compound bodies end nothing at their inner `;`: a SQLite `CREATE TRIGGER
//! ... BEGIN ... END` and a PostgreSQL `CREATE FUNCTION|PROCEDURE ... BEGIN
//! ATOMIC ... END`. A body closes at an `END` that starts one of its
//! statements, so `CASE ... END`, `NEW.end` or a column named `begin`
//! inside it change nothing.

/// Which database's lexical rules to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LexicalRules {
    /// SQLite's: flat comments, `[x]` and `` `x` `` identifiers, `$name` parameters.
    Sqlite,
    /// PostgreSQL's: nested comments, `E'...'` strings, dollar quotes.
    Postgres,
    /// PostgreSQL's with `standard_conforming_strings = off`, where a
    /// backslash escapes in every `'...'` string.
    PostgresBackslashStrings,
}

impl LexicalRules {
    const BOTH: [LexicalRules; 2] = [LexicalRules::Sqlite, LexicalRules::Postgres];

    /// The rules of the database behind `dialect`.
    pub fn of(dialect: crate::tx::Dialect) -> Self {
        match dialect {
            crate::tx::Dialect::Sqlite => LexicalRules::Sqlite,
            crate::tx::Dialect::Postgres => LexicalRules::Postgres,
        }
    }

    fn postgres(self) -> bool {
        matches!(
            self,
            LexicalRules::Postgres | LexicalRules::PostgresBackslashStrings
        )
    }
}

/// One top-level statement of a SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The statement without its `;`, leading comments and whitespace included.
    pub text: &'a str,
    /// 1-based line on which `text` begins (its leading comments included).
    pub start_line: usize,
    /// 1-based line of the statement's first token.
    pub line: usize,
    /// Its first words (quoted identifiers unquoted), at most four.
    words: Vec<Word<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Word<'a> {
    text: &'a str,
    quoted: bool,
}

impl Statement<'_> {
    /// Whether the `n`-th word (0-based) is the unquoted keyword `keyword`.
    fn keyword_is(&self, n: usize, keyword: &str) -> bool {
        self.words
            .get(n)
            .is_some_and(|w| !w.quoted && w.text.eq_ignore_ascii_case(keyword))
    }

    /// Whether the `n`-th word names `name`, quoted or not.
    fn name_is(&self, n: usize, name: &str) -> bool {
        self.words
            .get(n)
            .is_some_and(|w| w.text.eq_ignore_ascii_case(name))
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
        if let Some(word) = SIMPLE.iter().find(|w| self.keyword_is(0, w)) {
            return Some(word);
        }
        if self.keyword_is(0, "START") && self.keyword_is(1, "TRANSACTION") {
            return Some("START TRANSACTION");
        }
        if self.keyword_is(0, "PREPARE") && self.keyword_is(1, "TRANSACTION") {
            return Some("PREPARE TRANSACTION");
        }
        None
    }

    /// Whether this is a schema change — `CREATE`, `ALTER`, `DROP`,
    /// `RENAME`, `TRUNCATE` — which a database without transactional DDL
    /// (MySQL) commits on the spot, whatever transaction is open.
    pub fn is_ddl(&self) -> bool {
        ["CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"]
            .iter()
            .any(|w| self.keyword_is(0, w))
    }

    /// Whether this is SQLite's `PRAGMA foreign_keys = ...` (a no-op inside
    /// a transaction, so a table rebuild would cascade its deletes), the
    /// name quoted or not, schema-qualified or not.
    pub fn sets_foreign_keys(&self) -> bool {
        self.keyword_is(0, "PRAGMA")
            && (self.name_is(1, "foreign_keys") || self.name_is(2, "foreign_keys"))
            && self.text.contains(['=', '('])
    }
}

/// The top-level statements of `sql` under `rules`, in order; empty ones
/// (only whitespace, comments or `;`) are dropped.
///
/// # Example
///
/// ```
/// use migrate_core::source::sql::{statements, LexicalRules};
///
/// let sql = "CREATE TABLE t (x TEXT DEFAULT 'a;b');\n\
///            CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET x = 'y'; END;\n\
///            COMMIT;";
/// let found = statements(sql, LexicalRules::Sqlite);
/// assert_eq!(found.len(), 3);
/// assert_eq!(found[2].line, 3);
/// assert_eq!(found[2].transaction_control(), Some("COMMIT"));
/// assert_eq!(found[1].transaction_control(), None);
/// ```
pub fn statements(sql: &str, rules: LexicalRules) -> Vec<Statement<'_>> {
    Lexer::new(sql, rules).run()
}

/// The first top-level transaction-control statement in `sql` for one
/// database: its line and command. The runtime checks each transactional
/// step with its database's rules before running it.
pub fn transaction_control(sql: &str, rules: LexicalRules) -> Option<(usize, &'static str)> {
    statements(sql, rules)
        .iter()
        .find_map(|s| s.transaction_control().map(|c| (s.line, c)))
}

/// Every top-level transaction-control statement in `sql` for whichever
/// database runs it, for the compile-time check. The file is read both
/// ways; when it holds syntax only one database has (PostgreSQL: a dollar
/// quote, an `E'\''` escape, a `BEGIN ATOMIC` body; SQLite: a trigger's
/// `BEGIN ... END` body, a `[bracketed]` or `` `backticked` `` identifier),
/// only that database's reading counts, so a PostgreSQL `DO $$ BEGIN ...
/// END $$` is not read as SQLite's `END`. Each line once, in order.
pub fn transaction_controls(sql: &str) -> Vec<(usize, &'static str)> {
    let (postgres, postgres_only) = Lexer::new(sql, LexicalRules::Postgres).run_noting_exclusive();
    let (sqlite, sqlite_only) = Lexer::new(sql, LexicalRules::Sqlite).run_noting_exclusive();
    let (postgres, sqlite) = match (postgres_only, sqlite_only) {
        (true, false) => (postgres, Vec::new()),
        (false, true) => (Vec::new(), sqlite),
        _ => (postgres, sqlite),
    };
    let mut found: Vec<(usize, &'static str)> = postgres
        .iter()
        .chain(&sqlite)
        .filter_map(|s| s.transaction_control().map(|c| (s.line, c)))
        .collect();
    found.sort_unstable();
    found.dedup_by_key(|(line, _)| *line);
    found
}

/// The line of the first schema change in `sql` under `rules` (see
/// [`Statement::is_ddl`]).
pub fn first_ddl(sql: &str, rules: LexicalRules) -> Option<usize> {
    statements(sql, rules)
        .iter()
        .find(|s| s.is_ddl())
        .map(|s| s.line)
}

/// The lines of `PRAGMA foreign_keys = ...` statements under either rules.
pub fn sets_foreign_keys(sql: &str) -> Vec<usize> {
    let mut lines: Vec<usize> = LexicalRules::BOTH
        .iter()
        .flat_map(|rules| statements(sql, *rules))
        .filter(Statement::sets_foreign_keys)
        .map(|s| s.line)
        .collect();
    lines.sort_unstable();
    lines.dedup();
    lines
}

/// Whether `sql` holds no statement under either database's rules (only
/// whitespace and comments).
pub fn is_blank(sql: &str) -> bool {
    LexicalRules::BOTH
        .iter()
        .all(|rules| statements(sql, *rules).is_empty())
}

/// What kind of statement may hold a compound body.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Compound {
    /// Nothing known yet, or a statement without a body.
    No,
    /// SQLite's `CREATE [TEMP] TRIGGER`: the body opens at `BEGIN`.
    Trigger,
    /// PostgreSQL's `CREATE [OR REPLACE] FUNCTION|PROCEDURE`: at `BEGIN ATOMIC`.
    Routine,
}

struct Lexer<'a> {
    sql: &'a str,
    bytes: &'a [u8],
    rules: LexicalRules,
    i: usize,
    line: usize,
    out: Vec<Statement<'a>>,
    // The statement being read.
    start: usize,
    start_line: usize,
    first_line: usize,
    words: Vec<Word<'a>>,
    word_count: usize,
    compound: Compound,
    /// `BEGIN` seen in a routine: `ATOMIC` next opens its body.
    begin_seen: bool,
    /// Inside a compound body.
    in_body: bool,
    /// The next token starts one of the body's statements.
    body_statement_start: bool,
    /// Depth of parentheses: `;` inside them ends nothing.
    parens: usize,
    /// The previous token was `.` (so a word is a qualified name's part).
    after_dot: bool,
    /// The previous token was this word, directly before the current byte.
    previous_word: Option<&'a str>,
    /// Syntax only these rules' database has was seen.
    exclusive: bool,
    /// Where the last `E'...'` string ended: a string after it, separated
    /// by whitespace holding a newline, continues it with its escapes.
    escape_string_end: Option<usize>,
    /// A string, identifier, comment or dollar quote ran to the end of the
    /// text: these rules misread it, and their `exclusive` means nothing.
    unterminated: bool,
}

impl<'a> Lexer<'a> {
    fn new(sql: &'a str, rules: LexicalRules) -> Self {
        Lexer {
            sql,
            bytes: sql.as_bytes(),
            rules,
            i: 0,
            line: 1,
            out: Vec::new(),
            start: 0,
            start_line: 1,
            first_line: 0,
            words: Vec::new(),
            word_count: 0,
            compound: Compound::No,
            begin_seen: false,
            in_body: false,
            body_statement_start: false,
            parens: 0,
            after_dot: false,
            previous_word: None,
            exclusive: false,
            escape_string_end: None,
            unterminated: false,
        }
    }

    fn run(self) -> Vec<Statement<'a>> {
        self.run_noting_exclusive().0
    }

    /// The statements, and whether syntax only these rules' database has
    /// was among them.
    fn run_noting_exclusive(mut self) -> (Vec<Statement<'a>>, bool) {
        while self.i < self.bytes.len() {
            let b = self.bytes[self.i];
            match b {
                b'\n' => {
                    self.line += 1;
                    self.i += 1;
                    self.previous_word = None;
                }
                b if b.is_ascii_whitespace() => {
                    self.i += 1;
                    self.previous_word = None;
                }
                b'-' if self.bytes.get(self.i + 1) == Some(&b'-') => {
                    // PostgreSQL ends a line comment at a lone `\r` too;
                    // SQLite only at `\n`.
                    let end: &[char] = if self.rules.postgres() {
                        &['\n', '\r']
                    } else {
                        &['\n']
                    };
                    self.i = self.sql[self.i..]
                        .find(end)
                        .map_or(self.bytes.len(), |n| self.i + n);
                    self.previous_word = None;
                }
                b'/' if self.bytes.get(self.i + 1) == Some(&b'*') => self.block_comment(),
                b'\'' => {
                    let escapes = self.rules == LexicalRules::PostgresBackslashStrings
                        || (self.rules == LexicalRules::Postgres
                            && (self
                                .previous_word
                                .is_some_and(|w| w.eq_ignore_ascii_case("E"))
                                || self.continues_escape_string()));
                    self.token();
                    let start = self.i;
                    self.quoted(b'\'', b'\'', escapes);
                    if escapes {
                        self.escape_string_end = Some(self.i);
                        if self.sql[start..self.i].contains('\\') {
                            self.exclusive = true;
                        }
                    }
                }
                b'"' => self.quoted_identifier(b'"', b'"'),
                b'`' | b'[' if self.rules == LexicalRules::Sqlite => {
                    // Backticks are SQLite's alone; brackets are PostgreSQL's
                    // array subscripts too, so they prove nothing.
                    if b == b'`' {
                        self.exclusive = true;
                    }
                    let close = if b == b'[' { b']' } else { b'`' };
                    self.quoted_identifier(b, close);
                }
                b'$' if self.rules.postgres() && self.dollar_quote() => {}
                b'$' | b'@' | b':' | b'#'
                    if self.rules == LexicalRules::Sqlite
                        && self.bytes.get(self.i + 1).is_some_and(|c| {
                            c.is_ascii_alphanumeric() || *c == b'_' || *c >= 0x80
                        }) =>
                {
                    self.sqlite_variable();
                }
                b';' => {
                    if self.in_body {
                        self.body_statement_start = true;
                        self.i += 1;
                    } else if self.parens == 0 {
                        self.finish(self.i);
                        self.i += 1;
                        self.start = self.i;
                        self.start_line = self.line;
                    } else {
                        self.i += 1;
                    }
                    self.after_dot = false;
                    self.previous_word = None;
                }
                b'(' | b')' => {
                    self.token();
                    if b == b'(' {
                        self.parens += 1;
                    } else {
                        self.parens = self.parens.saturating_sub(1);
                    }
                    self.i += 1;
                }
                b if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => {
                    let start = self.i;
                    self.skip_word_chars();
                    let word = &self.sql[start..self.i];
                    self.word(word, false);
                    self.previous_word = Some(word);
                }
                b'.' => {
                    self.token();
                    self.i += 1;
                    self.after_dot = true;
                }
                _ => {
                    self.token();
                    self.i += 1;
                }
            }
        }
        let clean = !self.unterminated && self.parens == 0 && !self.in_body;
        self.finish(self.bytes.len());
        (self.out, self.exclusive && clean)
    }

    /// Whether the string starting here continues an `E'...'` string:
    /// PostgreSQL joins string constants separated by whitespace holding a
    /// newline, and the continuation keeps the first part's escapes.
    fn continues_escape_string(&self) -> bool {
        self.escape_string_end.is_some_and(|end| {
            let gap = &self.sql[end..self.i];
            gap.contains('\n') && gap.chars().all(char::is_whitespace)
        })
    }

    /// SQLite's `$name`, `@name`, `:name`, `#name` parameters, with the
    /// Tcl forms `$a::b` and `$a(anything)` that SQLite reads as one token.
    fn sqlite_variable(&mut self) {
        self.token();
        self.i += 1;
        loop {
            self.skip_word_chars();
            if self.sql[self.i..].starts_with("::") {
                self.i += 2;
                continue;
            }
            break;
        }
        if self.bytes.get(self.i) == Some(&b'(') {
            while self.i < self.bytes.len() {
                let c = self.bytes[self.i];
                self.i += 1;
                if c == b')' || c.is_ascii_whitespace() {
                    break;
                }
            }
        }
    }

    fn skip_word_chars(&mut self) {
        while self.i < self.bytes.len() {
            let b = self.bytes[self.i];
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80 {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    /// A token other than a word: the statement has begun, and the body's
    /// statement (if any) with it.
    fn token(&mut self) {
        if self.first_line == 0 {
            self.first_line = self.line;
        }
        self.body_statement_start = false;
        self.after_dot = false;
        self.begin_seen = false;
        self.previous_word = None;
    }

    fn word(&mut self, text: &'a str, quoted: bool) {
        if self.first_line == 0 {
            self.first_line = self.line;
        }
        let keyword = |k: &str| !quoted && text.eq_ignore_ascii_case(k);
        if self.words.len() < 4 {
            self.words.push(Word { text, quoted });
        }
        self.word_count += 1;
        let after_dot = std::mem::take(&mut self.after_dot);
        if self.in_body {
            if self.body_statement_start && !after_dot && keyword("END") {
                self.in_body = false;
                // A closed body: syntax only this database has.
                self.exclusive = true;
            }
            self.body_statement_start = false;
            return;
        }
        if self.word_count <= 4 && self.compound == Compound::No {
            self.compound = self.compound_kind();
        }
        let opens = match self.compound {
            Compound::No => false,
            Compound::Trigger => self.parens == 0 && !after_dot && keyword("BEGIN"),
            Compound::Routine => self.begin_seen && keyword("ATOMIC"),
        };
        self.begin_seen = self.compound == Compound::Routine
            && self.parens == 0
            && !after_dot
            && keyword("BEGIN");
        if opens {
            self.in_body = true;
            self.body_statement_start = true;
        }
    }

    /// What the statement's first words make it: a trigger or a routine.
    fn compound_kind(&self) -> Compound {
        let is = |n: usize, k: &str| {
            self.words
                .get(n)
                .is_some_and(|w| !w.quoted && w.text.eq_ignore_ascii_case(k))
        };
        if !is(0, "CREATE") {
            return Compound::No;
        }
        // Each database's own form only: a PostgreSQL trigger has no body,
        // so `OF begin` there opens nothing.
        let routine = |n: usize| is(n, "FUNCTION") || is(n, "PROCEDURE");
        let trigger =
            is(1, "TRIGGER") || ((is(1, "TEMP") || is(1, "TEMPORARY")) && is(2, "TRIGGER"));
        match self.rules {
            LexicalRules::Sqlite if trigger => Compound::Trigger,
            _ if self.rules.postgres()
                && (routine(1) || (is(1, "OR") && is(2, "REPLACE") && routine(3))) =>
            {
                Compound::Routine
            }
            _ => Compound::No,
        }
    }

    /// Skips a quoted string starting at `self.i`.
    fn quoted(&mut self, open: u8, close: u8, backslash_escapes: bool) {
        debug_assert_eq!(self.bytes[self.i], open);
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
            if b == close {
                if open == close && self.bytes.get(self.i + 1) == Some(&close) {
                    self.i += 2;
                    continue;
                }
                self.i += 1;
                return;
            }
            self.i += 1;
        }
        self.unterminated = true;
    }

    /// A quoted identifier: a word, for the statement's first words.
    fn quoted_identifier(&mut self, open: u8, close: u8) {
        let after_dot = self.after_dot;
        let start = self.i + 1;
        self.quoted(open, close, false);
        let end = self.i.saturating_sub(1).max(start);
        let text = &self.sql[start..end];
        self.after_dot = after_dot;
        self.word(text, true);
        self.previous_word = None;
    }

    fn block_comment(&mut self) {
        let nests = self.rules.postgres();
        let mut depth = 0usize;
        while self.i < self.bytes.len() {
            match (self.bytes[self.i], self.bytes.get(self.i + 1)) {
                (b'/', Some(b'*')) if nests || depth == 0 => {
                    depth += 1;
                    if depth == 2 {
                        // A nested comment: PostgreSQL's alone.
                        self.exclusive = true;
                    }
                    self.i += 2;
                }
                (b'*', Some(b'/')) => {
                    depth -= 1;
                    self.i += 2;
                    if depth == 0 {
                        self.previous_word = None;
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
        self.unterminated = true;
        self.previous_word = None;
    }

    /// `$tag$ ... $tag$` (the tag may be empty; letters may be non-ASCII);
    /// `$1` is a parameter, not a quote. Returns whether one was skipped.
    fn dollar_quote(&mut self) -> bool {
        let rest = &self.sql[self.i + 1..];
        if rest.starts_with(|c: char| c.is_ascii_digit()) {
            return false;
        }
        // Letters, digits, `_` and any non-ASCII character, as PostgreSQL reads them.
        let tag_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii()))
            .unwrap_or(rest.len());
        if rest.as_bytes().get(tag_len) != Some(&b'$') {
            return false;
        }
        self.token();
        let tag = &self.sql[self.i..self.i + tag_len + 2];
        let body_start = self.i + tag.len();
        let end = match self.sql[body_start..].find(tag) {
            Some(n) => {
                self.exclusive = true;
                body_start + n + tag.len()
            }
            None => {
                self.unterminated = true;
                self.bytes.len()
            }
        };
        self.line += self.sql[self.i..end].matches('\n').count();
        self.i = end;
        true
    }

    fn finish(&mut self, end: usize) {
        if self.first_line != 0 {
            self.out.push(Statement {
                text: &self.sql[self.start..end],
                start_line: self.start_line,
                line: self.first_line,
                words: std::mem::take(&mut self.words),
            });
        }
        self.first_line = 0;
        self.words.clear();
        self.word_count = 0;
        self.compound = Compound::No;
        self.begin_seen = false;
        self.in_body = false;
        self.body_statement_start = false;
        self.parens = 0;
        self.after_dot = false;
        self.previous_word = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first of [`transaction_controls`]: what the compile-time check reports first.
    fn first_transaction_control(sql: &str) -> Option<(usize, &'static str)> {
        transaction_controls(sql).into_iter().next()
    }

    fn texts(sql: &str, rules: LexicalRules) -> Vec<String> {
        statements(sql, rules)
            .iter()
            .map(|s| s.text.trim().to_owned())
            .collect()
    }

    #[test]
    fn splits_postgres_at_top_level_semicolons_only() {
        let sql = "-- migrate:no-transaction\n\
                   CREATE INDEX CONCURRENTLY a ON t (x);\n\
                   INSERT INTO t VALUES ('semi;colon', 'it''s; fine', E'back\\';slash');\n\
                   /* a ; comment /* nested; */ */ SELECT \"odd;name\" FROM t;\n\
                   CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; SELECT 2; $body$ LANGUAGE sql;\n\
                   DO $$ BEGIN PERFORM 1; END $$;\n\
                   SELECT $1::int;\n\
                   -- trailing comment; with a semicolon\n";
        let parts = texts(sql, LexicalRules::Postgres);
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
        let found = statements(sql, LexicalRules::Postgres);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!(found[1].line, 2);
    }

    #[test]
    fn compound_bodies_are_one_statement() {
        let trigger = "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n\
                         UPDATE t SET x = CASE WHEN new.x > 0 THEN 1 ELSE 2 END;\n\
                         INSERT INTO log VALUES (new.\"end\", NEW.end, NEW.begin);\n\
                       END;\n\
                       CREATE TABLE after_it (x int);";
        let parts = texts(trigger, LexicalRules::Sqlite);
        assert_eq!(parts.len(), 2, "{parts:#?}");
        assert!(parts[0].ends_with("END"));
        let routine = "CREATE OR REPLACE FUNCTION f(a int) RETURNS int LANGUAGE sql\n\
                       BEGIN ATOMIC\n  SELECT begin FROM shifts;\n  SELECT a + 2;\nEND;\n\
                       CREATE TABLE after_it (x int);";
        let parts = texts(routine, LexicalRules::Postgres);
        assert_eq!(parts.len(), 2, "{parts:#?}");
        assert!(parts[0].starts_with("CREATE OR REPLACE FUNCTION") && parts[0].ends_with("END"));
        assert_eq!(statements(routine, LexicalRules::Postgres)[1].line, 6);
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
                "CREATE TRIGGER tr AFTER UPDATE OF begin ON t BEGIN SELECT NEW.end; END;",
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

    /// Each hid a `COMMIT` or `ROLLBACK` from one database's rules while
    /// the other database runs it.
    #[test]
    fn transaction_control_hidden_from_one_database_is_found() {
        for sql in [
            // SQLite comments do not nest: `/*` inside one opens nothing.
            "CREATE TABLE u (p TEXT);\n/* paths like /srv/uploads/* */ COMMIT;",
            // A SQLite bracket identifier holding a quote.
            "CREATE TABLE [customer's notes] (x int);\nCOMMIT;",
            // A trigger body reading a column named begin, then a real COMMIT.
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE b SET x = NEW.begin; END;\nCOMMIT;",
            // PostgreSQL: a function named begin.
            "CREATE FUNCTION begin() RETURNS int LANGUAGE sql AS 'SELECT 1';\nCOMMIT;",
            // A BEGIN ATOMIC body reading a column named begin.
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT begin FROM s; END;\nCOMMIT;",
            // A dollar quote with a non-ASCII tag.
            "COMMENT ON TABLE t IS $é$ the customer's table $é$;\nROLLBACK;",
            // SQLite has no E'' strings and no dollar quotes.
            "SELECT e'\\' FROM (SELECT 1 AS e);\nCOMMIT;",
            "SELECT $a$;\nCOMMIT;",
            // A table named trigger is no trigger.
            "CREATE TABLE trigger AS SELECT 1 AS begin;\nCOMMIT;",
            // SQLite's Tcl-style variables are one token, parentheses and all.
            "INSERT INTO l SELECT 1 WHERE $a((() IS NULL;\nCOMMIT;",
            "INSERT INTO l SELECT 1 WHERE $a(') IS NULL;\nCOMMIT;",
            // A PostgreSQL dollar tag of any non-ASCII character.
            "COMMENT ON TABLE l IS $€$the company's ledger$€$;\nCOMMIT;",
            // A PostgreSQL trigger has no body: `OF begin` opens nothing.
            "CREATE TRIGGER t BEFORE UPDATE OF begin ON s FOR EACH ROW EXECUTE FUNCTION f();\nCOMMIT;",
        ] {
            let found = first_transaction_control(sql);
            assert!(
                matches!(found, Some((2, "COMMIT" | "ROLLBACK"))),
                "missed in {sql:?}: {found:?}"
            );
        }
    }

    #[test]
    fn a_lone_carriage_return_ends_a_line_comment_for_postgres_only() {
        let sql = "INSERT INTO t VALUES (2); -- paid\rCOMMIT;";
        assert_eq!(
            transaction_control(sql, LexicalRules::Postgres),
            Some((1, "COMMIT"))
        );
        let sql = "INSERT INTO l VALUES (1);\n-- note\r'\nCOMMIT;\n-- '\n";
        assert_eq!(
            transaction_control(sql, LexicalRules::Sqlite),
            Some((3, "COMMIT"))
        );
    }

    #[test]
    fn an_escape_string_continued_on_the_next_line_keeps_its_escapes() {
        let sql = "COMMENT ON TABLE a IS E'Accounts.'\n'\\' ; ' ; ROLLBACK; --';";
        assert_eq!(
            transaction_control(sql, LexicalRules::Postgres),
            Some((2, "ROLLBACK"))
        );
        assert!(first_transaction_control(sql).is_some());
        // The same continuation, valid, is not refused.
        let sql = "COMMENT ON TABLE a IS E'Tags.\\n'\n'Each post\\'s tags; begin here';";
        assert_eq!(first_transaction_control(sql), None);
    }

    #[test]
    fn postgres_arrays_and_nested_comments_are_not_read_as_sqlite() {
        let sql = "CREATE TABLE p (tags text[]);\n\
                   CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$\n\
                   BEGIN\n  IF NEW.tags[1] IS NULL THEN\n    RETURN NULL;\n  END IF;\n  RETURN NEW;\nEND;\n$$;";
        assert_eq!(first_transaction_control(sql), None);
        let sql = "/* outer /* inner */ END; */\nCREATE TABLE t (x int);";
        assert_eq!(first_transaction_control(sql), None);
    }

    #[test]
    fn syntax_only_one_database_has_is_read_its_way_only() {
        // Valid PostgreSQL; SQLite's reading would see a `begin` statement.
        let sql = "COMMENT ON COLUMN a.x IS E'The user\\'s name';\n\
                   COMMENT ON COLUMN a.y IS 'Set at signup; begin date';";
        assert_eq!(first_transaction_control(sql), None);
        // Valid SQLite; PostgreSQL's reading would see one.
        let sql = "CREATE TABLE [customer's notes] (x TEXT);\n\
                   INSERT INTO [customer's notes] VALUES ('Welcome; begin here');";
        assert_eq!(first_transaction_control(sql), None);
        let trigger = "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END;";
        assert_eq!(first_transaction_control(trigger), None);
    }

    #[test]
    fn finds_foreign_key_pragmas_however_the_name_is_written() {
        let sets = |sql: &str| !sets_foreign_keys(sql).is_empty();
        assert!(sets("PRAGMA foreign_keys = OFF;"));
        assert!(sets("pragma FOREIGN_KEYS=0;"));
        assert!(sets("PRAGMA main.foreign_keys = OFF;"));
        assert!(sets("PRAGMA foreign_keys(0);"));
        assert!(sets("PRAGMA \"foreign_keys\" = OFF;"));
        assert!(sets("PRAGMA [foreign_keys] = OFF;"));
        assert!(sets("PRAGMA main.`foreign_keys` = OFF;"));
        assert!(!sets("PRAGMA foreign_keys;"));
        assert!(!sets("PRAGMA defer_foreign_keys = ON;"));
        assert!(!sets("PRAGMA foreign_key_check;"));
        assert!(!sets("SELECT 'PRAGMA foreign_keys = OFF';"));
    }

    #[test]
    fn blank_means_blank_for_both_databases() {
        assert!(is_blank(""));
        assert!(is_blank(" \n\t\n"));
        assert!(is_blank("-- nothing yet\n-- still nothing"));
        assert!(is_blank("/* unterminated"));
        assert!(!is_blank("-- comment\nSELECT 1;"));
        assert!(!is_blank("/* c */ CREATE TABLE t (id INTEGER);"));
        assert!(is_blank(" \n-- nothing\n/* a comment */\n;"));
        // Nested comments are blank for PostgreSQL only: SQLite would run ` comment */`.
        assert!(!is_blank("/* a /* nested */ comment */"));
        // A `/*` inside a SQLite comment opens nothing: the table is real.
        assert!(!is_blank(
            "/* matches /srv/* */ CREATE TABLE t (x INTEGER);"
        ));
    }

    #[test]
    fn each_database_is_checked_by_its_own_rules_at_run_time() {
        // A SQLite file whose comment holds `/*`: PostgreSQL would see no COMMIT.
        let sql = "/* /srv/* */ COMMIT;";
        assert_eq!(
            transaction_control(sql, LexicalRules::Sqlite),
            Some((1, "COMMIT"))
        );
        assert_eq!(transaction_control(sql, LexicalRules::Postgres), None);
        // PostgreSQL's DO block is not SQLite's END.
        let sql = "DO $$ BEGIN PERFORM 1; END $$;";
        assert_eq!(transaction_control(sql, LexicalRules::Postgres), None);
        assert_eq!(first_transaction_control(sql), None);
    }

    #[test]
    fn a_reading_that_runs_off_the_end_claims_nothing() {
        // Valid SQLite ($a$x$a$ is a parameter). PostgreSQL's reading sees a
        // dollar quote, but its nested comment then runs to the end of the
        // file: that reading is wrong, so SQLite's counts too.
        let sql = "SELECT $a$x$a$;\n/* /srv/* */ COMMIT;";
        assert_eq!(first_transaction_control(sql), Some((2, "COMMIT")));
        assert_eq!(
            transaction_control(sql, LexicalRules::Sqlite),
            Some((2, "COMMIT"))
        );
        assert_eq!(transaction_control(sql, LexicalRules::Postgres), None);
    }

    #[test]
    fn lines_count_newlines_inside_strings_and_comments() {
        let sql = "SELECT 'a\nb';\n/* x\ny */\nSELECT $$\n$$;\nSELECT 3;";
        let lines: Vec<usize> = statements(sql, LexicalRules::Postgres)
            .iter()
            .map(|s| s.line)
            .collect();
        assert_eq!(lines, [1, 5, 7]);
    }

    #[test]
    fn begin_is_a_body_only_in_triggers_and_routines() {
        let sql = "CREATE TABLE t (begin int, \"end\" int);\nCOMMIT;";
        assert_eq!(first_transaction_control(sql), Some((2, "COMMIT")));
        let rule = "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2));\nSELECT 1;";
        assert_eq!(texts(rule, LexicalRules::Postgres).len(), 2);
    }
}
