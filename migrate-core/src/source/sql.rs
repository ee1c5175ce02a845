//! A SQL lexer just deep enough to find statement boundaries: where each
//! top-level statement starts and ends, skipping what only looks like one.
//!
//! SQLite, PostgreSQL and MySQL disagree on what hides a `;` or a keyword:
//! PostgreSQL nests `/* */` comments, has `E'...'` escape strings and
//! `$tag$ ... $tag$` dollar quotes; SQLite does not nest comments, has no
//! escape strings, reads `$name` as a parameter, and quotes identifiers
//! with `[...]` and `` `...` `` too; MySQL has `#` comments, `/*! ... */`
//! comments that are code, backslash escapes and (by `sql_mode`) `"`
//! strings, and stored programs whose bodies nest blocks. Each is lexed by
//! its own [`LexicalRules`]. A migration file does not say which database
//! it is for, so the compile-time check that guards atomicity
//! ([`transaction_controls`]) lexes it every way and reports what any
//! reading finds, unless the file holds syntax that tells which databases
//! it is for (a dollar quote, a MySQL `END IF`): then only their readings
//! count. A `COMMIT` hidden from one database's rules is still seen by the
//! others'. At run time the database is known, and [`transaction_control`]
//! reads with its rules.
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
    /// MySQL's and MariaDB's: `#` and `-- ` comments, flat `/* */` comments
    /// whose `/*! ... */` form is code, `` `x` `` identifiers, and stored
    /// programs (`CREATE PROCEDURE|FUNCTION|TRIGGER|EVENT ... BEGIN ...
    /// END`) whose nested blocks end nothing at their inner `;`. Two
    /// settings of `sql_mode` change how text reads.
    Mysql {
        /// `ANSI_QUOTES`: `"x"` is an identifier, not a string.
        ansi_quotes: bool,
        /// Not `NO_BACKSLASH_ESCAPES`: a backslash escapes in strings.
        backslash_escapes: bool,
    },
}

/// The databases a piece of syntax belongs to, as bits.
const SQLITE: u8 = 1;
const POSTGRES: u8 = 2;
const MYSQL: u8 = 4;
const ANY: u8 = SQLITE | POSTGRES | MYSQL;

impl LexicalRules {
    const BOTH: [LexicalRules; 2] = [LexicalRules::Sqlite, LexicalRules::Postgres];

    /// MySQL's rules under its default `sql_mode`.
    pub const MYSQL: LexicalRules = LexicalRules::Mysql {
        ansi_quotes: false,
        backslash_escapes: true,
    };

    /// The rules of the database behind `dialect`.
    pub fn of(dialect: crate::tx::Dialect) -> Self {
        match dialect {
            crate::tx::Dialect::Sqlite => LexicalRules::Sqlite,
            crate::tx::Dialect::Postgres => LexicalRules::Postgres,
            crate::tx::Dialect::Mysql => LexicalRules::MYSQL,
        }
    }

    fn mysql(self) -> bool {
        matches!(self, LexicalRules::Mysql { .. })
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
        // MariaDB's `BEGIN NOT ATOMIC ... END` is a block, not a transaction.
        if self.keyword_is(0, "BEGIN") && self.keyword_is(1, "NOT") && self.keyword_is(2, "ATOMIC")
        {
            return None;
        }
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

    /// The command, if this statement commits the open transaction by
    /// itself on a database without transactional DDL: a schema change
    /// ([`is_ddl`](Statement::is_ddl)), and on MySQL also account and
    /// table-maintenance commands (`GRANT`, `LOCK TABLES`, `ANALYZE
    /// TABLE`, ...), which it commits implicitly too.
    pub fn commits_implicitly(&self, rules: LexicalRules) -> Option<&'static str> {
        const DDL: [&str; 5] = ["CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"];
        const MYSQL_MORE: [&str; 12] = [
            "GRANT",
            "REVOKE",
            "LOCK",
            "UNLOCK",
            "ANALYZE",
            "OPTIMIZE",
            "REPAIR",
            "CHECK",
            "FLUSH",
            "RESET",
            "INSTALL",
            "UNINSTALL",
        ];
        if let Some(word) = DDL.iter().find(|w| self.keyword_is(0, w)) {
            return Some(word);
        }
        if rules.mysql() {
            if let Some(word) = MYSQL_MORE.iter().find(|w| self.keyword_is(0, w)) {
                return Some(word);
            }
            if (self.keyword_is(0, "LOAD") || self.keyword_is(0, "CACHE"))
                && self.keyword_is(1, "INDEX")
            {
                return Some("LOAD INDEX");
            }
            if self.keyword_is(0, "SET") {
                // MariaDB's `SET STATEMENT var = value FOR <statement>`.
                if self.keyword_is(1, "STATEMENT") {
                    return self.inner_statement(" FOR ", rules);
                }
                // `SET [SESSION|@@] autocommit = 1`, alone or among others.
                if self.name_is(1, "PASSWORD") || mentions_word(self.text, "autocommit") {
                    return Some("SET");
                }
            }
            // `EXECUTE IMMEDIATE '<statement>'`: what a literal says, and
            // a computed one could say anything.
            if self.keyword_is(0, "EXECUTE") && self.keyword_is(1, "IMMEDIATE") {
                return match self.inner_literal(rules) {
                    Some(inner) => first_ddl(inner, rules).map(|(_, c)| c),
                    None => Some("EXECUTE IMMEDIATE"),
                };
            }
            // `PREPARE name FROM '<statement>'`: what its `EXECUTE` will do.
            if self.keyword_is(0, "PREPARE") && self.keyword_is(2, "FROM") {
                return match self.inner_literal(rules) {
                    Some(inner) => first_ddl(inner, rules).map(|(_, c)| c),
                    None => Some("PREPARE"),
                };
            }
        }
        None
    }

    /// What the statement after `marker` in this one commits, if anything.
    fn inner_statement(&self, marker: &str, rules: LexicalRules) -> Option<&'static str> {
        let upper = self.text.to_ascii_uppercase();
        let at = upper.find(marker)?;
        first_ddl(&self.text[at + marker.len()..], rules).map(|(_, c)| c)
    }

    /// The text of the first string literal in this statement, as MySQL's
    /// `rules` read it (comments skipped, escapes kept).
    fn inner_literal(&self, rules: LexicalRules) -> Option<&str> {
        mysql_pieces(self.text, rules)
            .into_iter()
            .find(|(_, piece)| *piece == Piece::String)
            .and_then(|(range, _)| self.text.get(range.start + 1..range.end.saturating_sub(1)))
    }

    /// Whether this statement may return several result sets (`CALL`, or
    /// `EXECUTE` of a prepared `CALL`), so that counting results does not
    /// count statements.
    pub fn may_return_several_results(&self) -> bool {
        self.keyword_is(0, "CALL")
            || self.keyword_is(0, "EXECUTE")
            // MariaDB's `SET STATEMENT ... FOR CALL p()`.
            || (self.keyword_is(0, "SET")
                && self.keyword_is(1, "STATEMENT")
                && (mentions_word(self.text, "CALL") || mentions_word(self.text, "EXECUTE")))
    }

    /// The rules MySQL reads the statements after this one with, when it
    /// is `SET [SESSION] sql_mode = '...'` (or `DEFAULT`); `None` for any
    /// other statement, and for a value only the server can work out.
    fn sets_sql_mode(&self) -> Option<LexicalRules> {
        let names_mode = (1..4).any(|n| self.name_is(n, "sql_mode"));
        // `SET STATEMENT sql_mode = ... FOR ...` sets it for that statement only.
        if !self.keyword_is(0, "SET")
            || !names_mode
            || self.keyword_is(1, "GLOBAL")
            || self.keyword_is(1, "STATEMENT")
        {
            return None;
        }
        let value = self.text[self.text.find('=')? + 1..].trim_start();
        let mode = match value.chars().next()? {
            quote @ ('\'' | '"') => value[1..].split(quote).next()?,
            _ if value.len() >= 7 && value[..7].eq_ignore_ascii_case("DEFAULT") => "",
            _ => return None,
        };
        let has = |flag: &str| mode.split(',').any(|m| m.trim().eq_ignore_ascii_case(flag));
        Some(LexicalRules::Mysql {
            ansi_quotes: has("ANSI_QUOTES") || has("ANSI"),
            backslash_escapes: !has("NO_BACKSLASH_ESCAPES"),
        })
    }

    /// Whether this is MySQL's `XA` transaction control (`XA START`, ...).
    pub fn is_xa(&self) -> bool {
        self.keyword_is(0, "XA")
    }

    /// Whether this is the `mysql` client's `DELIMITER` command, which no
    /// server understands.
    pub fn is_client_delimiter(&self) -> bool {
        self.keyword_is(0, "DELIMITER")
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
    let readings = [
        (
            SQLITE,
            Lexer::new(sql, LexicalRules::Sqlite).run_noting_belonging(),
        ),
        (
            POSTGRES,
            Lexer::new(sql, LexicalRules::Postgres).run_noting_belonging(),
        ),
        (
            MYSQL,
            Lexer::new(sql, LexicalRules::MYSQL).run_noting_belonging(),
        ),
    ];
    // A reading that ran off the end of the text (a string or comment
    // never closed) misread it: when another reading did not, it does not
    // count. (Whatever it hid is still checked at run time, with the
    // connected database's rules.)
    let any_clean = readings.iter().any(|(_, r)| r.clean);
    let readings: Vec<&(u8, Reading<'_>)> = readings
        .iter()
        .filter(|(_, r)| r.clean || !any_clean)
        .collect();
    // The databases every piece of telling syntax belongs to.
    let belongs = readings.iter().fold(ANY, |set, (_, r)| set & r.belongs);
    let claims = |database: u8| {
        readings
            .iter()
            .any(|(d, r)| *d == database && r.belongs != ANY && r.belongs & database != 0)
    };
    let belongs = match belongs {
        // Nothing told: SQLite's and PostgreSQL's readings count. MySQL's
        // counts only when the file shows MySQL's syntax: its `--x`, `#`
        // and unquoted `begin`/`end` would otherwise misread the others'
        // files (whatever it alone would find is refused at run time, by
        // the connected database's own reading).
        ANY => SQLITE | POSTGRES,
        // Readings that disagree: a PostgreSQL dollar quote, escape string
        // or nested comment is PostgreSQL's beyond doubt (a MySQL reading
        // of a dollar-quoted body finds a stored program in it); otherwise
        // each reading that found syntax of its own counts.
        0 if claims(POSTGRES) => POSTGRES,
        0 => [SQLITE, POSTGRES, MYSQL]
            .into_iter()
            .filter(|d| claims(*d))
            .fold(0, |set, d| set | d),
        some => some,
    };
    let mut found: Vec<(usize, &'static str)> = readings
        .iter()
        .filter(|(database, _)| belongs & database != 0)
        .flat_map(|(_, r)| &r.statements)
        .filter_map(|s| s.transaction_control().map(|c| (s.line, c)))
        .collect();
    found.sort_unstable();
    found.dedup_by_key(|(line, _)| *line);
    found
}

/// The line of the first top-level `DELIMITER` under any database's rules:
/// a command of the `mysql` client that no server runs.
pub fn client_delimiter(sql: &str) -> Option<usize> {
    [
        LexicalRules::Sqlite,
        LexicalRules::Postgres,
        LexicalRules::MYSQL,
    ]
    .iter()
    .filter_map(|rules| {
        statements(sql, *rules)
            .iter()
            .find(|s| s.is_client_delimiter())
            .map(|s| s.line)
    })
    .min()
}

/// Whether `text` holds `word` as a whole word, ignoring ASCII case.
fn mentions_word(text: &str, word: &str) -> bool {
    let upper = text.to_ascii_uppercase();
    let word = word.to_ascii_uppercase();
    upper.match_indices(&word).any(|(at, _)| {
        let before = upper[..at].chars().next_back();
        let after = upper[at + word.len()..].chars().next();
        let part_of_word =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        !part_of_word(before) && !part_of_word(after)
    })
}

/// The first statement in `sql` under `rules` that commits implicitly
/// where schema changes are not transactional (see
/// [`Statement::commits_implicitly`]): its line and command.
pub fn first_ddl(sql: &str, rules: LexicalRules) -> Option<(usize, &'static str)> {
    statements(sql, rules)
        .iter()
        .find_map(|s| s.commits_implicitly(rules).map(|c| (s.line, c)))
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

/// `sql` with its `$1, $2, ...` placeholders written as `?`, for a
/// database whose placeholders are positional (MySQL), and the parameter
/// each `?` takes (0-based), in order: `$2 ... $1 ... $2` becomes `? ? ?`
/// taking parameters 1, 0, 1. Strings, quoted identifiers and comments are
/// left alone. `None` when `sql` has no such placeholder.
///
/// ```
/// use migrate_core::source::sql::{positional_placeholders, LexicalRules};
///
/// let (sql, order) = positional_placeholders(
///     "UPDATE t SET a = $2, b = '$1' /* $1 */ WHERE id = $1",
///     LexicalRules::MYSQL,
/// )
/// .unwrap();
/// assert_eq!(sql, "UPDATE t SET a = ?, b = '$1' /* $1 */ WHERE id = ?");
/// assert_eq!(order, [1, 0]);
/// ```
pub fn positional_placeholders(sql: &str, rules: LexicalRules) -> Option<(String, Vec<usize>)> {
    let mut order = Vec::new();
    let rewritten = replace_placeholders(sql, rules, |n| {
        order.push(n);
        "?".to_owned()
    })?;
    Some((rewritten, order))
}

/// `sql` with each `$1, $2, ...` placeholder (0-based `n`) replaced by
/// `replace(n)`, strings, quoted identifiers and comments left alone;
/// `None` when `sql` has no placeholder. Read with MySQL's `rules`.
pub fn replace_placeholders(
    sql: &str,
    rules: LexicalRules,
    mut replace: impl FnMut(usize) -> String,
) -> Option<String> {
    if !sql.contains('$') {
        return None;
    }
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut found = false;
    let mut copied = 0;
    for (range, piece) in mysql_pieces(sql, rules) {
        if piece != Piece::Code {
            continue;
        }
        let mut i = range.start;
        while i < range.end {
            let placeholder = bytes[i] == b'$'
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
                && !(i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'));
            if !placeholder {
                i += 1;
                continue;
            }
            let digits = sql[i + 1..range.end]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(range.end, |n| i + 1 + n);
            if let Ok(n @ 1..) = sql[i + 1..digits].parse::<usize>() {
                out.push_str(&sql[copied..i]);
                out.push_str(&replace(n - 1));
                found = true;
                copied = digits;
            }
            i = digits;
        }
    }
    if !found {
        return None;
    }
    out.push_str(&sql[copied..]);
    Some(out)
}

/// What a piece of MySQL text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    /// Code (the text of `/*! ... */` included).
    Code,
    /// A string literal, its quotes included.
    String,
    /// A quoted identifier or a comment.
    Hidden,
}

/// `sql` cut into code, strings and what else hides its text, as MySQL
/// reads it under `rules` (`sql_mode`): `#` and `-- ` comments, flat
/// `/* */` comments whose `/*!` form is code, backticks, `"` as a string or
/// (with `ANSI_QUOTES`) an identifier, backslash escapes unless
/// `NO_BACKSLASH_ESCAPES`. For the scanners that need no statements.
fn mysql_pieces(sql: &str, rules: LexicalRules) -> Vec<(std::ops::Range<usize>, Piece)> {
    let (ansi_quotes, backslash_escapes) = match rules {
        LexicalRules::Mysql {
            ansi_quotes,
            backslash_escapes,
        } => (ansi_quotes, backslash_escapes),
        _ => (true, false),
    };
    let bytes = sql.as_bytes();
    // Where a quoted run that opens at `i` ends.
    let quoted_end = |i: usize, quote: u8, escapes: bool| -> usize {
        let mut j = i + 1;
        while j < bytes.len() {
            match bytes[j] {
                b'\\' if escapes => j += 2,
                b if b == quote && bytes.get(j + 1) == Some(&quote) => j += 2,
                b if b == quote => return j + 1,
                _ => j += 1,
            }
        }
        bytes.len()
    };
    let line_end = |i: usize| sql[i..].find('\n').map_or(bytes.len(), |n| i + n);
    let mut pieces: Vec<(std::ops::Range<usize>, Piece)> = Vec::new();
    let mut push = |range: std::ops::Range<usize>, piece: Piece| match pieces.last_mut() {
        Some((last, Piece::Code)) if piece == Piece::Code && last.end == range.start => {
            last.end = range.end;
        }
        _ => pieces.push((range, piece)),
    };
    let mut i = 0;
    while i < bytes.len() {
        let (end, piece) = match bytes[i] {
            b'\'' => (quoted_end(i, b'\'', backslash_escapes), Piece::String),
            b'"' if ansi_quotes => (quoted_end(i, b'"', false), Piece::Hidden),
            b'"' => (quoted_end(i, b'"', backslash_escapes), Piece::String),
            b'`' => (quoted_end(i, b'`', false), Piece::Hidden),
            b'#' => (line_end(i), Piece::Hidden),
            // MySQL's `--` comment needs a space (or control character) after it.
            b'-' if sql[i..].starts_with("--")
                && bytes
                    .get(i + 2)
                    .is_none_or(|c| c.is_ascii_whitespace() || c.is_ascii_control()) =>
            {
                (line_end(i), Piece::Hidden)
            }
            // `/*! ... */` and `/*M! ... */` are code: only the marker hides.
            b'/' if sql[i..].starts_with("/*!") => (i + 3, Piece::Hidden),
            b'/' if sql[i..].starts_with("/*M!") => (i + 4, Piece::Hidden),
            b'/' if sql[i..].starts_with("/*") => (
                sql[i + 2..].find("*/").map_or(bytes.len(), |n| i + n + 4),
                Piece::Hidden,
            ),
            _ => (i + 1, Piece::Code),
        };
        let end = end.min(bytes.len());
        push(i..end, piece);
        i = end;
    }
    pieces
}

/// A text's statements under one database's rules, and what the reading
/// tells of the text.
struct Reading<'a> {
    statements: Vec<Statement<'a>>,
    /// The databases its telling syntax belongs to (`ANY`: nothing told).
    belongs: u8,
    /// No string, identifier, comment or body ran to the end of the text.
    clean: bool,
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
    /// A MySQL stored program (`CREATE ... PROCEDURE|FUNCTION|TRIGGER|EVENT`),
    /// whose body — when it is a compound statement — is read by
    /// [`MysqlProgram`].
    MysqlProgram(ProgramKind),
}

/// The kind of a MySQL stored program: where its body begins.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ProgramKind {
    /// `CREATE TRIGGER ... FOR EACH ROW [FOLLOWS|PRECEDES other] <body>`;
    /// SQLite's `CREATE TRIGGER ... BEGIN` reads alike.
    Trigger,
    /// `CREATE EVENT ... DO <body>`.
    Event,
    /// `CREATE PROCEDURE|FUNCTION name (...) [characteristics] <body>`.
    Routine,
}

/// A compound statement open inside a MySQL body.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    /// `BEGIN ... END`.
    Begin,
    /// `CASE ... END CASE` (a statement) or `CASE ... END` (an expression).
    Case { statement: bool },
    /// `IF`, `LOOP`, `WHILE`, `REPEAT` or `FOR` (MariaDB), closed by `END`
    /// and that word.
    Ends(&'static str),
}

/// Where a MySQL stored program's header stands: whether the next word
/// may open its body.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Header {
    /// Not there yet.
    Before,
    /// The next word begins the body (after a trigger's `ROW`, an event's `DO`).
    Body,
    /// A trigger's `FOLLOWS|PRECEDES`: the next word names the other trigger.
    OrderName,
    /// A routine's characteristics and return type: any word but a
    /// statement's first may still come before its body.
    Routine,
    /// The body is one simple statement, or already open.
    Done,
}

/// What the lexer knows of the MySQL stored program being read.
struct MysqlProgram {
    header: Header,
    /// The compound statements open in the body, outermost first.
    blocks: Vec<Block>,
    /// An `END` was read; the next word says what it ends.
    pending_end: bool,
    /// The next word starts one of the body's statements.
    statement_start: bool,
    /// The body statement being read began with `DECLARE` (a handler's
    /// body may follow its condition).
    declaring: bool,
    /// The word just read may be a label (`name:`).
    maybe_label: bool,
    /// The `DECLARE` being read is a handler's: its body may follow.
    handler: bool,
    /// The previous word of the header (`RETURNS`, `CHARACTER`, ...).
    previous: Option<&'static str>,
    /// The body holds what only MySQL's stored programs have
    /// (`DECLARE`, `END IF`, a nested block), even in a trigger.
    program_syntax: bool,
}

impl MysqlProgram {
    const fn new() -> Self {
        MysqlProgram {
            header: Header::Before,
            blocks: Vec::new(),
            pending_end: false,
            statement_start: false,
            declaring: false,
            maybe_label: false,
            handler: false,
            previous: None,
            program_syntax: false,
        }
    }
}

/// Words that begin a statement: a routine whose body is one statement
/// begins it with one of these, so a later `begin` is a name, not a block.
const STATEMENT_WORDS: [&str; 36] = [
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "REPLACE",
    "SET",
    "RETURN",
    "CALL",
    "DO",
    "CREATE",
    "ALTER",
    "DROP",
    "TRUNCATE",
    "RENAME",
    "GRANT",
    "REVOKE",
    "LOCK",
    "UNLOCK",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "START",
    "COMMIT",
    "ROLLBACK",
    "SIGNAL",
    "RESIGNAL",
    "LEAVE",
    "ITERATE",
    "OPEN",
    "FETCH",
    "CLOSE",
    "DECLARE",
    "WITH",
    "VALUES",
    "SHOW",
    "LOAD",
];

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
    /// The databases all telling syntax seen so far belongs to (`ANY`
    /// when none was seen).
    belongs: u8,
    /// The MySQL stored program being read, if any.
    program: MysqlProgram,
    /// Inside MySQL's `/*! ... */`, whose text is code.
    executable_comment: bool,
    /// Where the last `E'...'` string ended: a string after it, separated
    /// by whitespace holding a newline, continues it with its escapes.
    escape_string_end: Option<usize>,
    /// A string, identifier, comment or dollar quote ran to the end of the
    /// text: these rules misread it, and what they saw means nothing.
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
            belongs: ANY,
            program: MysqlProgram::new(),
            executable_comment: false,
            escape_string_end: None,
            unterminated: false,
        }
    }

    fn run(self) -> Vec<Statement<'a>> {
        self.run_noting_belonging().statements
    }

    /// Notes syntax that belongs to `databases` only.
    fn belongs_to(&mut self, databases: u8) {
        self.belongs &= databases;
    }

    /// The statements, and the databases whose syntax they hold (`ANY`
    /// when nothing told, or these rules misread the text).
    fn run_noting_belonging(mut self) -> Reading<'a> {
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
                b'-' if self.bytes.get(self.i + 1) == Some(&b'-')
                    && (!self.rules.mysql()
                        || self
                            .bytes
                            .get(self.i + 2)
                            .is_none_or(|c| c.is_ascii_whitespace() || c.is_ascii_control())) =>
                {
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
                b'#' if self.rules.mysql() => {
                    self.i = self.sql[self.i..]
                        .find('\n')
                        .map_or(self.bytes.len(), |n| self.i + n);
                    self.previous_word = None;
                }
                b'/' if self.rules.mysql() && self.executable_comment_opens() => {}
                b'*' if self.executable_comment && self.bytes.get(self.i + 1) == Some(&b'/') => {
                    self.executable_comment = false;
                    self.i += 2;
                    self.previous_word = None;
                }
                b'/' if self.bytes.get(self.i + 1) == Some(&b'*') => self.block_comment(),
                b'\'' | b'"'
                    if matches!(self.rules, LexicalRules::Mysql { ansi_quotes, .. }
                        if b == b'\'' || !ansi_quotes) =>
                {
                    let LexicalRules::Mysql {
                        backslash_escapes, ..
                    } = self.rules
                    else {
                        unreachable!()
                    };
                    self.token();
                    self.quoted(b, b, backslash_escapes);
                }
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
                            self.belongs_to(POSTGRES);
                        }
                    }
                }
                b'"' => self.quoted_identifier(b'"', b'"'),
                b'`' if self.rules.mysql() => {
                    self.belongs_to(SQLITE | MYSQL);
                    self.quoted_identifier(b, b);
                }
                b'`' | b'[' if self.rules == LexicalRules::Sqlite => {
                    // Backticks are SQLite's and MySQL's; brackets are
                    // PostgreSQL's array subscripts too, so they tell nothing.
                    if b == b'`' {
                        self.belongs_to(SQLITE | MYSQL);
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
                    self.resolve_end(None);
                    if self.in_body {
                        self.body_statement_start = true;
                        self.program.statement_start = true;
                        self.program.declaring = false;
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
                        // A routine's parameters end: its characteristics follow.
                        if self.parens == 0
                            && self.compound == Compound::MysqlProgram(ProgramKind::Routine)
                            && self.program.header == Header::Before
                        {
                            self.program.header = Header::Routine;
                        }
                    }
                    self.i += 1;
                }
                b':' if self.rules.mysql() => {
                    self.mysql_colon();
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
        self.resolve_end(None);
        let clean = !self.unterminated && self.parens == 0 && !self.in_body;
        self.finish(self.bytes.len());
        Reading {
            statements: self.out,
            belongs: if clean { self.belongs } else { ANY },
            clean,
        }
    }

    /// MySQL's `/*! ... */` and `/*M! ... */` (MariaDB's), with an
    /// optional version number: the text inside is code (a `mysqldump`
    /// file's `/*!50003 CREATE*/`). Returns whether one opened here.
    fn executable_comment_opens(&mut self) -> bool {
        let rest = &self.bytes[self.i..];
        let marker = if rest.starts_with(b"/*!") {
            3
        } else if rest.starts_with(b"/*M!") {
            4
        } else {
            return false;
        };
        self.i += marker;
        while self.bytes.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.executable_comment = true;
        self.previous_word = None;
        true
    }

    /// After a MySQL body's `END`, the next word (`None`: another token,
    /// a `;` or the end of the text) says what it closes: `END IF`, `END
    /// LOOP`, `END WHILE`, `END REPEAT`, `END FOR` and `END CASE` their
    /// statement, a bare `END` a `BEGIN` block or a `CASE` expression. The
    /// body closes with its last block. Returns whether the word was
    /// consumed as part of the `END`.
    fn resolve_end(&mut self, next: Option<&str>) -> bool {
        if !std::mem::take(&mut self.program.pending_end) {
            return false;
        }
        let named = ["IF", "LOOP", "WHILE", "REPEAT", "FOR", "CASE"]
            .into_iter()
            .find(|k| next.is_some_and(|w| w.eq_ignore_ascii_case(k)));
        let top = self.program.blocks.last().copied();
        let (closes, consumed) = match (top, named) {
            // `END CASE`, or a CASE expression's `END` before other words
            // (`... END FOR UPDATE`).
            (Some(Block::Case { .. }), named) => (true, named == Some("CASE")),
            (Some(Block::Ends(open)), Some(kind)) => (kind == open, true),
            (Some(Block::Begin), None) => (true, false),
            // `END IF` where its `IF` was not seen opening: nothing closes.
            (_, named) => (false, named.is_some()),
        };
        if named.is_some() {
            self.program.program_syntax = true;
        }
        if closes {
            self.program.blocks.pop();
            if self.program.blocks.is_empty() {
                self.in_body = false;
                let databases = match self.compound {
                    Compound::MysqlProgram(ProgramKind::Trigger)
                        if !self.program.program_syntax =>
                    {
                        SQLITE | MYSQL
                    }
                    _ => MYSQL,
                };
                self.belongs_to(databases);
            }
        }
        // The body's next statement starts after the `;` that follows.
        consumed
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
        self.resolve_end(None);
        if self.first_line == 0 {
            self.first_line = self.line;
        }
        self.program.statement_start = false;
        self.program.maybe_label = false;
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
        if self.rules.mysql() {
            self.mysql_word(text, quoted, after_dot);
            return;
        }
        if self.in_body {
            if self.body_statement_start && !after_dot && keyword("END") {
                self.in_body = false;
                // A closed body: syntax only this database has (a SQLite
                // trigger's reads as MySQL's too).
                self.belongs_to(if self.compound == Compound::Trigger {
                    SQLITE | MYSQL
                } else {
                    POSTGRES
                });
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
            Compound::MysqlProgram(_) => false,
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

    /// A word under MySQL's rules: a stored program's body, when it is a
    /// compound statement (`BEGIN`, `IF`, `CASE`, `LOOP`, `WHILE`,
    /// `REPEAT`, `FOR`, perhaps labelled), opens where the program's header
    /// ends, and closes with the last block open in it.
    fn mysql_word(&mut self, text: &'a str, quoted: bool, after_dot: bool) {
        let keyword = |k: &str| !quoted && !after_dot && text.eq_ignore_ascii_case(k);
        let was_start = std::mem::take(&mut self.program.statement_start);
        self.program.maybe_label = false;
        if !quoted && self.resolve_end(Some(text)) {
            return;
        }
        if self.in_body {
            if std::mem::take(&mut self.begin_seen) && keyword("ATOMIC") {
                // PostgreSQL's `BEGIN ATOMIC` body: MySQL has none.
                self.belongs_to(POSTGRES);
            }
            if was_start {
                self.program.declaring = keyword("DECLARE");
                self.program.handler = false;
            }
            if self.program.declaring && keyword("HANDLER") {
                self.program.handler = true;
            }
            // Inside parentheses `end` and `begin` are names (neither is
            // reserved in MySQL): `INSERT INTO t (begin, end)`.
            if self.parens > 0 {
                return;
            }
            // A handler's body follows its condition: `DECLARE ... HANDLER
            // FOR SQLEXCEPTION BEGIN ... END`.
            let opens = was_start || (self.program.handler && keyword("BEGIN"));
            // `END` closes a CASE whatever follows (`CASE ... END, x`);
            // elsewhere `end =`, `end,` name a column.
            let in_case = matches!(self.program.blocks.last(), Some(Block::Case { .. }));
            if keyword("END") && (in_case || !self.names_a_column()) {
                self.program.pending_end = true;
            } else if keyword("DECLARE") {
                self.program.program_syntax = true;
            } else if keyword("CASE") {
                self.program.blocks.push(Block::Case {
                    statement: was_start,
                });
                if was_start {
                    self.program.program_syntax = true;
                }
            } else if opens && self.opens_block(text, quoted, after_dot) {
                self.program.program_syntax = true;
            } else if keyword("THEN") || keyword("ELSE") || keyword("DO") {
                // A statement follows, unless inside a CASE expression.
                self.program.statement_start = !matches!(
                    self.program.blocks.last(),
                    Some(Block::Case { statement: false })
                );
            } else if was_start && !quoted {
                self.program.maybe_label = true;
            }
            return;
        }
        // MariaDB's anonymous block, `BEGIN NOT ATOMIC ... END`.
        if self.compound == Compound::No
            && self.word_count == 3
            && keyword("ATOMIC")
            && self
                .words
                .first()
                .is_some_and(|w| !w.quoted && w.text.eq_ignore_ascii_case("BEGIN"))
            && self
                .words
                .get(1)
                .is_some_and(|w| !w.quoted && w.text.eq_ignore_ascii_case("NOT"))
        {
            self.compound = Compound::MysqlProgram(ProgramKind::Routine);
            self.open_body(Block::Begin);
            self.program.program_syntax = true;
            return;
        }
        if self.compound == Compound::No && self.word_count <= 8 && self.parens == 0 {
            self.compound = self.mysql_program(text, quoted);
            return;
        }
        let Compound::MysqlProgram(kind) = self.compound else {
            return;
        };
        if self.parens != 0 || after_dot {
            return;
        }
        let previous = std::mem::take(&mut self.program.previous);
        match self.program.header {
            Header::Before => match kind {
                ProgramKind::Trigger if keyword("ROW") => self.program.header = Header::Body,
                // SQLite's trigger names no `FOR EACH ROW` before its body.
                ProgramKind::Trigger if keyword("BEGIN") => {
                    self.open_body(Block::Begin);
                }
                ProgramKind::Event if keyword("DO") => self.program.header = Header::Body,
                _ => {}
            },
            Header::OrderName => self.program.header = Header::Body,
            Header::Body | Header::Routine => {
                if kind == ProgramKind::Trigger && (keyword("FOLLOWS") || keyword("PRECEDES")) {
                    self.program.header = Header::OrderName;
                } else if kind == ProgramKind::Trigger && keyword("WHEN") {
                    // SQLite's `FOR EACH ROW WHEN ... BEGIN`: MySQL has no
                    // WHEN there. Its body opens at `BEGIN`.
                    self.belongs_to(SQLITE);
                    self.program.header = Header::Before;
                } else if !quoted && self.label_follows() {
                    // `label: BEGIN`: the body follows the label.
                    self.program.maybe_label = true;
                } else if self.opens_block(text, quoted, after_dot) {
                    self.in_body = true;
                    self.program.header = Header::Done;
                    self.begin_seen = keyword("BEGIN");
                } else if self.program.header == Header::Body
                    || (STATEMENT_WORDS.iter().any(|w| keyword(w))
                        // `RETURNS SET(...)`, `CHARACTER SET utf8mb4`: a type.
                        && !(keyword("SET")
                            && matches!(previous, Some("RETURNS" | "CHARACTER" | "CHARSET"))))
                {
                    // A one-statement body: it ends at the next `;`.
                    self.program.header = Header::Done;
                } else if !quoted {
                    // A characteristic or a return type.
                    self.program.previous = ["RETURNS", "CHARACTER", "CHARSET"]
                        .into_iter()
                        .find(|k| keyword(k));
                }
            }
            Header::Done => {}
        }
    }

    /// Whether the word just read is followed by `=`, `,` or `)` — a name
    /// (`SET end = 4`), not the keyword.
    fn names_a_column(&self) -> bool {
        let rest = self.sql[self.i..].trim_start();
        rest.starts_with('=') && !rest.starts_with("=>")
            || rest.starts_with(',')
            || rest.starts_with(')')
    }

    /// Whether a `:` follows the word just read (a label).
    fn label_follows(&self) -> bool {
        let rest = self.sql[self.i..].trim_start();
        rest.starts_with(':') && !rest.starts_with(":=")
    }

    /// Opens the body of a stored program with `block`.
    fn open_body(&mut self, block: Block) {
        self.in_body = true;
        self.program.header = Header::Done;
        self.program.blocks = vec![block];
        self.program.statement_start = block == Block::Begin;
        self.begin_seen = block == Block::Begin;
    }

    /// If `text` opens a compound statement where a statement starts,
    /// pushes it and returns true.
    fn opens_block(&mut self, text: &str, quoted: bool, after_dot: bool) -> bool {
        if quoted || after_dot {
            return false;
        }
        let block = match text.to_ascii_uppercase().as_str() {
            "BEGIN" => Block::Begin,
            "CASE" => Block::Case { statement: true },
            "IF" => Block::Ends("IF"),
            "LOOP" => Block::Ends("LOOP"),
            "WHILE" => Block::Ends("WHILE"),
            "REPEAT" => Block::Ends("REPEAT"),
            "FOR" => Block::Ends("FOR"),
            _ => return false,
        };
        self.program.blocks.push(block);
        // A block's first statement starts right after `BEGIN`, `LOOP` and
        // `REPEAT`; after `IF`, `WHILE`, `FOR` and `CASE` comes a condition.
        self.program.statement_start =
            matches!(block, Block::Begin | Block::Ends("LOOP" | "REPEAT"));
        self.program.declaring = false;
        true
    }

    /// A `:` under MySQL's rules: after a label at a statement's start, the
    /// labelled statement starts.
    fn mysql_colon(&mut self) {
        let label = std::mem::take(&mut self.program.maybe_label);
        self.token();
        if label {
            if self.in_body {
                self.program.statement_start = true;
            } else if self.program.header == Header::Done || self.program.header == Header::Routine
            {
                // `label: BEGIN` as a routine's body.
                self.program.header = Header::Routine;
            } else {
                self.program.header = Header::Body;
            }
        }
    }

    /// Whether the statement read so far, ending with `word`, is `CREATE
    /// [OR REPLACE] [DEFINER = user@host] [AGGREGATE]
    /// PROCEDURE|FUNCTION|TRIGGER|EVENT`.
    fn mysql_program(&self, word: &str, quoted: bool) -> Compound {
        // `CREATE ...`, or `ALTER EVENT ... DO <body>`.
        let creates = self.words.first().is_some_and(|w| {
            !w.quoted
                && (w.text.eq_ignore_ascii_case("CREATE") || w.text.eq_ignore_ascii_case("ALTER"))
        });
        if !creates || quoted {
            return Compound::No;
        }
        match word.to_ascii_uppercase().as_str() {
            "TRIGGER" => Compound::MysqlProgram(ProgramKind::Trigger),
            "EVENT" => Compound::MysqlProgram(ProgramKind::Event),
            "PROCEDURE" | "FUNCTION" => Compound::MysqlProgram(ProgramKind::Routine),
            _ => Compound::No,
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
                        self.belongs_to(POSTGRES);
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
                self.belongs_to(POSTGRES);
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
            let statement = Statement {
                text: &self.sql[self.start..end],
                start_line: self.start_line,
                line: self.first_line,
                words: std::mem::take(&mut self.words),
            };
            // A file may set the session's `sql_mode` for the statements
            // after it: read those as MySQL will.
            if self.rules.mysql() {
                if let Some(rules) = statement.sets_sql_mode() {
                    self.rules = rules;
                }
            }
            self.out.push(statement);
        }
        self.first_line = 0;
        self.words.clear();
        self.word_count = 0;
        self.compound = Compound::No;
        self.begin_seen = false;
        self.in_body = false;
        self.program = MysqlProgram::new();
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
    fn splits_mysql_with_its_comments_quotes_and_stored_programs() {
        let sql = "# a comment; with a semicolon\n\
                   CREATE TABLE `odd;name` (x TEXT DEFAULT 'it\\'s; \"fine\"', y TEXT DEFAULT \"a;b\");\n\
                   SELECT 1--1;\n\
                   -- a real comment; here\n\
                   /*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN\n\
                     IF NEW.x IS NULL THEN SET NEW.x = 'end'; END IF;\n\
                     SET NEW.y = CASE WHEN NEW.x = 'a' THEN 'b' ELSE 'c' END;\n\
                     lbl: BEGIN SELECT 1; END lbl;\n\
                   END */;\n\
                   CREATE PROCEDURE p() BEGIN\n\
                     DECLARE done INT DEFAULT 0;\n\
                     CASE done WHEN 0 THEN SELECT 1; ELSE BEGIN SELECT 2; END; END CASE;\n\
                     WHILE done < 3 DO SET done = done + 1; END WHILE;\n\
                     START TRANSACTION; COMMIT;\n\
                   END;\n\
                   CREATE TABLE e (`event` INT, begin_at INT);\n\
                   INSERT INTO e VALUES (1, 2)";
        let found = statements(sql, LexicalRules::MYSQL);
        let parts: Vec<&str> = found.iter().map(|s| s.text.trim()).collect();
        assert_eq!(parts.len(), 6, "{parts:#?}");
        assert!(parts[0].ends_with("DEFAULT \"a;b\")"), "{}", parts[0]);
        assert_eq!(found[0].line, 2);
        assert_eq!(parts[1], "SELECT 1--1");
        assert!(parts[2].starts_with("-- a real comment") && parts[2].ends_with("END */"));
        assert_eq!(found[2].line, 5);
        assert!(found[2].is_ddl(), "an executable comment's text is code");
        assert!(parts[3].starts_with("CREATE PROCEDURE") && parts[3].ends_with("END"));
        assert_eq!(found[4].line, 16);
        assert_eq!(parts[5], "INSERT INTO e VALUES (1, 2)");
        // COMMIT inside a procedure body is the procedure's, not the file's.
        assert_eq!(transaction_control(sql, LexicalRules::MYSQL), None);
        assert!(
            transaction_controls(sql).is_empty(),
            "{:?}",
            transaction_controls(sql)
        );
    }

    #[test]
    fn a_mysql_trigger_with_blocks_is_read_as_mysql_only() {
        // SQLite's reading would close the body at `END IF` and find `END`.
        let sql = "CREATE TRIGGER t AFTER INSERT ON items FOR EACH ROW\n\
                   BEGIN\n\
                     IF NEW.id > 0 THEN INSERT INTO audit VALUES (NEW.id); END IF;\n\
                     b: BEGIN DECLARE x INT; END b;\n\
                   END;";
        assert!(
            transaction_controls(sql).is_empty(),
            "{:?}",
            transaction_controls(sql)
        );
        // A body both databases read alike still counts for both.
        let sqlite =
            "CREATE TRIGGER t AFTER INSERT ON items BEGIN UPDATE items SET n = 1; END;\nCOMMIT;";
        assert_eq!(transaction_controls(sqlite), vec![(2, "COMMIT")]);
    }

    /// MariaDB's `FOR ... END FOR` loop, a handler's `BEGIN ... END`, a
    /// labelled `LOOP`, `REPEAT ... UNTIL ... END REPEAT`, and `CASE`
    /// statements and expressions nest in a body without closing it.
    #[test]
    fn mysql_bodies_nest_every_compound_statement() {
        let sql = "CREATE PROCEDURE p()\nBEGIN\n\
                     DECLARE done INT DEFAULT 0;\n\
                     DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1;\n\
                     DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;\n\
                     FOR i IN 1..3 DO INSERT INTO t VALUES (i); END FOR;\n\
                     spin: LOOP SET done = done + 1; IF done > 5 THEN LEAVE spin; END IF; END LOOP spin;\n\
                     REPEAT SET done = done - 1; UNTIL done = 0 END REPEAT;\n\
                     CASE WHEN done = 0 THEN SELECT IF(done = 0, 'a', 'b'); ELSE BEGIN END; END CASE;\n\
                     SELECT * FROM t WHERE CASE WHEN i > 1 THEN IF(i > 2, 1, 0) ELSE 0 END FOR UPDATE;\n\
                   END;\n\
                   INSERT INTO t VALUES (100)";
        let found = texts(sql, LexicalRules::MYSQL);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].ends_with("END"), "{}", found[0]);
        assert!(
            transaction_controls(sql).is_empty(),
            "{:?}",
            transaction_controls(sql)
        );
    }

    /// A body that is one compound statement without `BEGIN`, or one simple
    /// statement naming a column `begin` (not reserved in MySQL).
    #[test]
    fn mysql_bodies_without_begin() {
        for (sql, count) in [
            ("CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW IF NEW.a < 0 THEN SET NEW.a = 0; END IF;\nSELECT 1", 2),
            ("CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW FOLLOWS other BEGIN SET NEW.a = 0; END;\nSELECT 1", 2),
            ("CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW UPDATE y SET begin = 1;\nSELECT 1; SELECT 2", 3),
            ("CREATE EVENT purge ON SCHEDULE EVERY 1 DAY DO DELETE FROM sessions WHERE begin < NOW();\n\
              ALTER TABLE missing ADD COLUMN x INT;\nCREATE TABLE z (id INT);", 3),
            ("CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN DELETE FROM s; DELETE FROM t; END;\nSELECT 1", 2),
            ("CREATE PROCEDURE p() DELETE FROM s WHERE begin < NOW();\nSELECT 1", 2),
            ("CREATE FUNCTION f(x INT) RETURNS VARCHAR(10) CHARSET utf8mb4 DETERMINISTIC\n\
              COMMENT 'a; b' BEGIN RETURN 'x'; END;\nSELECT 1", 2),
            ("CREATE FUNCTION f() RETURNS INT NO SQL RETURN 1;\nSELECT begin FROM t", 2),
            ("CREATE PROCEDURE p() outer_block: BEGIN SELECT 1; END outer_block;\nSELECT 1", 2),
        ] {
            let found = texts(sql, LexicalRules::MYSQL);
            assert_eq!(found.len(), count, "{sql}\n{found:#?}");
        }
    }

    /// A backslash ends a string on SQLite and PostgreSQL; MySQL's reading,
    /// which runs off the end of the file, does not count.
    #[test]
    fn a_reading_that_runs_off_the_end_does_not_count() {
        let sql = "SELECT count(*) FROM t WHERE name LIKE '%\\_%' ESCAPE '\\';\n\
                   CREATE FUNCTION f() RETURNS int AS 'BEGIN RETURN 1; END;' LANGUAGE plpgsql;";
        assert_eq!(transaction_control(sql, LexicalRules::Postgres), None);
        assert!(
            transaction_controls(sql).is_empty(),
            "{:?}",
            transaction_controls(sql)
        );
        let sql = "INSERT INTO paths VALUES ('C:\\');\nINSERT INTO notes VALUES ('begin; end');";
        assert!(
            transaction_controls(sql).is_empty(),
            "{:?}",
            transaction_controls(sql)
        );
    }

    #[test]
    fn placeholders_after_a_double_minus_without_a_space() {
        // `--$1` is minus minus `$1` to MySQL, as its lexer reads it.
        let found = positional_placeholders(
            "UPDATE t SET n = n--$1 WHERE id = $2 -- $3",
            LexicalRules::MYSQL,
        );
        assert_eq!(
            found,
            Some((
                "UPDATE t SET n = n--? WHERE id = ? -- $3".to_owned(),
                vec![0, 1]
            ))
        );
        // `/*! ... */` is code.
        let found = positional_placeholders("SELECT /*!50000 $1 */ + $2", LexicalRules::MYSQL);
        assert_eq!(
            found,
            Some(("SELECT /*!50000 ? */ + ?".to_owned(), vec![0, 1]))
        );
    }

    #[test]
    fn set_statement_sets_sql_mode_for_its_statement_only() {
        let sql = "SET STATEMENT sql_mode = 'NO_BACKSLASH_ESCAPES' FOR SELECT 1;\n\
                   CREATE TABLE t (a VARCHAR(20));\n\
                   UPDATE t SET a = 'it\\'s; here';";
        assert_eq!(texts(sql, LexicalRules::MYSQL).len(), 3);
        let call = statements(
            "SET STATEMENT max_statement_time = 100 FOR CALL p()",
            LexicalRules::MYSQL,
        );
        assert!(call[0].may_return_several_results());
    }

    #[test]
    fn a_file_that_sets_sql_mode_is_read_with_it_after_that() {
        let sql = "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES';\n\
                   INSERT INTO paths VALUES (1, 'C:\\');\n\
                   CREATE TABLE more_paths (id INT);\n\
                   SET @@session.sql_mode = DEFAULT;\n\
                   SELECT 'it\\'s; one';";
        let found = texts(sql, LexicalRules::MYSQL);
        assert_eq!(found.len(), 5, "{found:#?}");
        assert_eq!(first_ddl(sql, LexicalRules::MYSQL), Some((3, "CREATE")));
    }

    /// Valid files of each database that a MySQL reading must not turn
    /// into transaction control.
    #[test]
    fn other_databases_files_are_not_misread_as_mysql() {
        for sql in [
            // SQLite's `FOR EACH ROW WHEN ... BEGIN`.
            "CREATE TRIGGER tr AFTER UPDATE OF x ON t FOR EACH ROW WHEN NEW.x > 0 BEGIN\n\
             UPDATE t SET y = 1 WHERE rowid = NEW.rowid;\nUPDATE t SET y = 2;\nEND;",
            // PL/pgSQL beside a DO block, and with a DECLARE section.
            "CREATE FUNCTION a() RETURNS int AS $$ BEGIN RETURN 1; END; $$ LANGUAGE plpgsql;\n\
             DO $$ BEGIN PERFORM a(); END $$;",
            "CREATE FUNCTION b() RETURNS int AS $$\nDECLARE\n  x int := 2;\nBEGIN\n  RETURN x;\nEND;\n$$ LANGUAGE plpgsql;",
            // `--` comments without a space (Liquibase's `--rollback`).
            "CREATE TABLE users (id INT);\n--rollback DROP TABLE users;",
            "--Begin: the users table\nCREATE TABLE users (id INT);",
        ] {
            assert!(transaction_controls(sql).is_empty(), "{sql}\n{:?}", transaction_controls(sql));
        }
        // A COMMIT any of them would run is still found.
        assert_eq!(
            transaction_controls("CREATE TABLE users (id INT);\n--rollback\nCOMMIT;"),
            vec![(3, "COMMIT")]
        );
    }

    /// Valid MySQL and MariaDB stored programs, each one statement.
    #[test]
    fn mysql_stored_programs_in_their_many_shapes() {
        for sql in [
            "CREATE FUNCTION f_cs(x INT) RETURNS VARCHAR(20) CHARACTER SET utf8mb4 DETERMINISTIC\n\
             BEGIN\n  DECLARE s VARCHAR(20);\n  SET s = CONCAT('v', x);\n  RETURN s;\nEND",
            "CREATE FUNCTION f_set() RETURNS SET('a','b') DETERMINISTIC BEGIN DECLARE s INT DEFAULT 1; RETURN 'a'; END",
            "CREATE PROCEDURE p_end()\nBEGIN\n  INSERT INTO periods (id, start, end) VALUES (1, 2, 3);\n\
             UPDATE periods SET end = 4 WHERE id = 1;\n  SELECT CASE WHEN id > 1 THEN 1 END, id FROM periods;\nEND",
            "CREATE TRIGGER trg_l BEFORE INSERT ON periods FOR EACH ROW lbl: BEGIN\n\
             IF NEW.id < 0 THEN LEAVE lbl; END IF;\n  SET NEW.start = 0;\nEND",
            "CREATE EVENT ev ON SCHEDULE EVERY 1 DAY DO lbl: BEGIN\n  DELETE FROM p WHERE id = 99;\n  DELETE FROM p WHERE id = 98;\nEND",
            "ALTER EVENT ev DO BEGIN DELETE FROM p WHERE id = 98; DELETE FROM p WHERE id = 97; END",
            "BEGIN NOT ATOMIC DECLARE x INT DEFAULT 1; INSERT INTO p VALUES (x, x, x); END",
            "CREATE PROCEDURE p()\nBEGIN\n  DECLARE c CURSOR FOR SELECT begin FROM periods;\n  OPEN c;\n  CLOSE c;\nEND",
        ] {
            let found = texts(&format!("{sql};\nCREATE TABLE after_it (id INT);"), LexicalRules::MYSQL);
            assert_eq!(found.len(), 2, "{sql}\n{found:#?}");
            assert!(transaction_controls(sql).is_empty(), "{sql}\n{:?}", transaction_controls(sql));
        }
    }

    #[test]
    fn mysql_sql_mode_changes_what_quotes_mean() {
        let ansi = LexicalRules::Mysql {
            ansi_quotes: true,
            backslash_escapes: false,
        };
        // `"` quotes a string with escapes, or an identifier without.
        let sql = "SELECT \"a\\\";b\"; SELECT 2";
        assert_eq!(texts(sql, LexicalRules::MYSQL).len(), 2);
        assert_eq!(texts(sql, ansi)[0], "SELECT \"a\\\"");
        // A backslash escapes the quote, or ends the string before it.
        let sql = "SELECT 'x\\'; SELECT 2; SELECT 'y'";
        assert_eq!(texts(sql, LexicalRules::MYSQL).len(), 1);
        assert_eq!(texts(sql, ansi).len(), 3);
    }

    #[test]
    fn mysql_statements_that_commit_implicitly_are_named() {
        let rules = LexicalRules::MYSQL;
        let first = |sql: &str| first_ddl(sql, rules);
        assert_eq!(
            first("INSERT INTO t VALUES (1);\nGRANT SELECT ON t TO u"),
            Some((2, "GRANT"))
        );
        assert_eq!(first("LOCK TABLES t WRITE"), Some((1, "LOCK")));
        for set in [
            "SET autocommit = 1",
            "SET SESSION autocommit=1",
            "SET @@autocommit = 1",
        ] {
            assert_eq!(first(set), Some((1, "SET")), "{set}");
        }
        assert_eq!(first("SET @x = 1"), None);
        assert_eq!(first("SET @x = 1, autocommit = 0"), Some((1, "SET")));
        assert_eq!(
            first("SET STATEMENT max_statement_time = 60 FOR CREATE TABLE audit (id INT)"),
            Some((1, "CREATE"))
        );
        assert_eq!(
            first("SET STATEMENT max_statement_time = 60 FOR SELECT 1"),
            None
        );
        assert_eq!(first("EXECUTE IMMEDIATE 'DROP TABLE t'"), Some((1, "DROP")));
        assert_eq!(first("EXECUTE IMMEDIATE 'SELECT 1'"), None);
        assert_eq!(
            first("EXECUTE IMMEDIATE @sql"),
            Some((1, "EXECUTE IMMEDIATE"))
        );
        assert_eq!(
            first("EXECUTE IMMEDIATE /* don't */ 'CREATE TABLE x (a INT)'"),
            Some((1, "CREATE"))
        );
        assert_eq!(
            first("INSERT INTO t VALUES (1);\nPREPARE add_price FROM 'ALTER TABLE items ADD COLUMN p INT'"),
            Some((2, "ALTER"))
        );
        assert_eq!(first("PREPARE q FROM 'SELECT * FROM t WHERE id = ?'"), None);
        assert_eq!(
            first("EXECUTE IMMEDIATE # it's a comment\n'DROP TABLE t'"),
            Some((1, "DROP"))
        );
        assert_eq!(first("UPDATE t SET x = 'CREATE TABLE'"), None);
        assert_eq!(
            first_ddl("LOCK TABLE t IN SHARE MODE", LexicalRules::Postgres),
            None
        );
        let delimiter = statements("DELIMITER $$\nSELECT 1$$", rules);
        assert!(delimiter[0].is_client_delimiter());
    }

    #[test]
    fn a_postgres_do_block_is_not_read_as_mysql() {
        // MySQL's reading splits the block; PostgreSQL's dollar quote says
        // the file is PostgreSQL's.
        let sql = "DO $$ BEGIN PERFORM 1; END $$;";
        assert!(transaction_controls(sql).is_empty());
        // A plain COMMIT is found whichever database reads it.
        assert_eq!(
            transaction_controls("SELECT 1;\nCOMMIT;"),
            vec![(2, "COMMIT")]
        );
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
