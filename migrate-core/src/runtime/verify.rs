//! Proven downs: each pending migration applied, reverted and applied
//! again, with the schema compared before and after the revert — on a
//! scratch database, before a down step is first needed in production.

use std::collections::BTreeMap;

use super::{table_of, Runner};
use crate::driver::{Database, Driver};
use crate::error::{Error, Result};
use crate::plan;
use crate::registry::Migrations;
use crate::table::TableName;
use crate::tx::Tx;

/// What [`Runner::verify_reversible`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reversibility {
    /// Versions whose down step restored the schema, in order.
    pub reversible: Vec<u64>,
    /// Versions with no down step: applied, and not reverted.
    pub irreversible: Vec<u64>,
}

/// One database object as [`SqlDialect::schema_snapshot`](crate::SqlDialect::schema_snapshot)
/// describes it: (kind, name) → definition.
type Snapshot = BTreeMap<(String, String), String>;

impl Migrations {
    /// Applies each pending migration, reverts it and applies it again,
    /// comparing the schema before it with the schema after its revert:
    /// proves the down steps on a scratch database (an in-memory SQLite, a
    /// test PostgreSQL database) before one is first needed in production.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # static MIGRATIONS: migrate_core::Migrations = migrate_core::Migrations::__new(&[], "migrate_schema_history", None);
    /// let mut scratch = migrate_core::rusqlite::Connection::open_in_memory()?;
    /// let checked = MIGRATIONS.verify_reversible(&mut scratch)?;
    /// assert!(checked.irreversible.is_empty(), "without a down: {:?}", checked.irreversible);
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "sqlite"))]
    /// # fn main() {}
    /// ```
    ///
    /// # Errors
    ///
    /// See [`Runner::verify_reversible`].
    pub fn verify_reversible<D: Database + ?Sized>(&self, db: &mut D) -> Result<Reversibility> {
        self.runner().verify_reversible(db)
    }
}

impl Runner<'_> {
    /// Applies each pending migration in order, reverts it, compares the
    /// schema with what it was before the migration — tables, columns with
    /// their types and defaults, indexes, constraints, views, triggers —
    /// then applies it again, so the next one is proven on top of it.
    /// Migrations without a down step are applied and listed as
    /// irreversible. Leaves the database fully migrated when every down
    /// step is proven. Meant for a scratch database: what is applied
    /// already is not proven.
    ///
    /// # Errors
    ///
    /// [`Error::NotReversible`] for the first down step that does not
    /// restore the schema, naming what differs (that migration is left
    /// reverted); where the database cannot describe its schema (MySQL),
    /// an error saying so; and the errors of
    /// [`run_to`](Runner::run_to) and [`rollback_steps`](Runner::rollback_steps).
    pub fn verify_reversible<D: Database + ?Sized>(&self, db: &mut D) -> Result<Reversibility> {
        let history = table_of(self.migrations)?;
        let rows = self.read_history(db)?;
        let checked = plan::check(self.migrations, &rows, self.rules)?;
        let pending = plan::pending(self.migrations, &checked, self.rules, None)?;
        // Each one is reverted as the newest applied: none may lie below
        // one applied already (a history with holes, out of order).
        let newest = checked.known.iter().chain(&checked.future).max();
        if let (Some(first), Some(&newest)) = (pending.first(), newest) {
            if first.version() < newest {
                return Err(Error::other(format!(
                    "verify_reversible proves migrations in order, each reverted as the newest \
                     applied, but migration {} (`{}`) is pending below version {newest}, which \
                     is applied; run it on a fresh scratch database (nothing was changed)",
                    first.version(),
                    first.file_name()
                )));
            }
        }
        let mut found = Reversibility::default();
        for migration in pending {
            let version = migration.version();
            if !migration.has_down() {
                self.run_to(db, version)?;
                found.irreversible.push(version);
                continue;
            }
            let before = snapshot(db, &history)?;
            self.run_to(db, version)?;
            self.rollback_steps(db, 1)?;
            let after = snapshot(db, &history)?;
            let differences = compare(&before, &after);
            if !differences.is_empty() {
                return Err(Error::NotReversible {
                    version,
                    name: migration.name().to_owned(),
                    file: migration
                        .down_file_name()
                        .unwrap_or(migration.file_name())
                        .to_owned(),
                    differences,
                });
            }
            self.run_to(db, version)?;
            found.reversible.push(version);
        }
        Ok(found)
    }
}

/// The schema as the driver's dialect describes it, without the history
/// table's and its audit log's own objects (where the history lives in the schema described),
/// each definition with its spacing and identifier quotes evened out: a
/// database may quote a name it rewrites (SQLite, renaming a table).
fn snapshot<D: Database + ?Sized>(db: &mut D, history: &TableName<'_>) -> Result<Snapshot> {
    let mut driver = db.driver();
    let ours = match history.schema {
        None => true,
        Some(schema) => driver.default_schema().ok().flatten().as_deref() == Some(schema),
    };
    let query = driver.sql_dialect().schema_snapshot().ok_or_else(|| {
        Error::other(format!(
            "verify_reversible cannot describe a {} schema; prove the down steps on SQLite or \
             PostgreSQL",
            driver.dialect()
        ))
    })?;
    let rows = driver.query_text(query)?;
    // The history table and its audit log (`<table>_log`).
    let log = format!("{}_log", history.table);
    let tables = [history.table, log.as_str()];
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let mut row = row.into_iter().map(Option::unwrap_or_default);
            let (kind, name, definition) = (row.next()?, row.next()?, row.next()?);
            // The table itself by its name; what belongs to it by `table.`;
            // the log's identity sequence (PostgreSQL) by `<log>_`.
            let history_own = ours
                && (tables.iter().any(|table| {
                    if kind.starts_with("table") {
                        name == *table
                    } else {
                        name.strip_prefix(table)
                            .is_some_and(|rest| rest.starts_with('.'))
                    }
                }) || (kind == "sequence" && name.starts_with(&format!("{log}_"))));
            (!history_own).then(|| ((kind, name), evened(&definition)))
        })
        .collect())
}

/// `definition` with identifier quotes dropped and white space collapsed,
/// none around parentheses and commas.
fn evened(definition: &str) -> String {
    let unquoted: String = definition
        .chars()
        .filter(|c| !matches!(c, '"' | '`' | '[' | ']'))
        .collect();
    let words: Vec<&str> = unquoted.split_whitespace().collect();
    let mut out = words.join(" ");
    for tight in ["(", ")", ","] {
        out = out
            .replace(&format!(" {tight}"), tight)
            .replace(&format!("{tight} "), tight);
    }
    out
}

/// What differs between two snapshots, one line per object.
fn compare(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut lines = Vec::new();
    for ((kind, name), definition) in before {
        match after.get(&(kind.clone(), name.clone())) {
            None => lines.push(format!("- {kind} {name} is gone ({definition})")),
            Some(now) if now != definition => {
                lines.push(format!("~ {kind} {name} was `{definition}`, is `{now}`"))
            }
            Some(_) => {}
        }
    }
    for ((kind, name), definition) in after {
        if !before.contains_key(&(kind.clone(), name.clone())) {
            lines.push(format!("+ {kind} {name} was left behind ({definition})"));
        }
    }
    lines
        .into_iter()
        .map(|line| line.replace(" ()", ""))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(objects: &[(&str, &str, &str)]) -> Snapshot {
        objects
            .iter()
            .map(|(k, n, d)| (((*k).to_owned(), (*n).to_owned()), (*d).to_owned()))
            .collect()
    }

    #[test]
    fn differences_say_what_the_revert_lost_left_or_changed() {
        let before = snap(&[
            ("table", "users", ""),
            ("column", "users.email", "text not null"),
            ("index", "users.users_email", "(email)"),
        ]);
        let after = snap(&[
            ("table", "users", ""),
            ("column", "users.email", "text"),
            ("column", "users.nickname", "text"),
        ]);
        assert_eq!(
            compare(&before, &after),
            [
                "~ column users.email was `text not null`, is `text`",
                "- index users.users_email is gone ((email))",
                "+ column users.nickname was left behind (text)",
            ]
        );
        assert!(compare(&before, &before).is_empty());
    }
}
