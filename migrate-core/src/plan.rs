//! Planning: from the history a database recorded and the migrations a
//! binary embeds to what must happen — or why nothing may. Pure: no
//! database, no clock, so every rule is tested on plain values.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::history::{HistoryRow, RowState};
use crate::registry::{Migration, Migrations};

/// How strict the runtime is; see the `Runner` setters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Rules {
    pub strict: bool,
    pub allow_out_of_order: bool,
}

/// The state of one version, as `status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Applied, and identical to the embedded migration.
    Applied,
    /// Embedded, not applied yet.
    Pending,
    /// Recorded in the database but unknown to this binary (a newer release migrated it).
    Future,
    /// Applied, but the embedded migration differs from what was applied.
    Changed,
    /// Started outside a transaction and never finished: needs `repair`.
    Dirty,
    /// A down step started outside a transaction and never finished: needs
    /// `repair` (`Completed` if the revert was finished by hand).
    Reverting,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::Future => "future",
            State::Changed => "changed",
            State::Dirty => "dirty",
            State::Reverting => "reverting",
        })
    }
}

/// One row of [`status`](crate::Migrations::status): a version and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationStatus {
    /// The version.
    pub version: u64,
    /// The name (as embedded, or as recorded for a future version).
    pub name: String,
    /// The embedded file, unless the version is unknown to this binary.
    pub file_name: Option<&'static str>,
    /// Applied, pending, future, changed or dirty.
    pub state: State,
    /// When it was applied (UTC, ISO 8601).
    pub applied_at: Option<String>,
    /// How long it took, in milliseconds.
    pub execution_ms: Option<i64>,
}

/// What the database holds, checked against the binary.
pub(crate) struct Checked {
    /// Applied versions the binary knows.
    pub known: BTreeSet<u64>,
    /// Versions recorded but unknown to the binary.
    pub future: Vec<u64>,
    /// The highest applied version whose recorded chained checksum equals
    /// the binary's: every version up to it was applied then.
    pub chain_covers: u64,
}

/// Validates the whole history against the binary before anything is done:
/// unfinished rows, edited migrations, versions from a newer release.
pub(crate) fn check(migrations: &Migrations, rows: &[HistoryRow], rules: Rules) -> Result<Checked> {
    if let Some(row) = rows.iter().find(|r| r.state.is_unfinished()) {
        let file = match (row.state, migrations.get(row.version)) {
            (RowState::Reverting, Some(m)) => {
                m.down_file_name().unwrap_or(m.file_name()).to_owned()
            }
            _ => file_of(migrations, row),
        };
        return Err(Error::Dirty {
            version: row.version,
            name: row.name.clone(),
            file,
        });
    }
    let mut known = BTreeSet::new();
    let mut future = Vec::new();
    let mut chain_covers = 0;
    for row in rows {
        match migrations.get(row.version) {
            Some(m) => {
                if m.checksum() != row.checksum && m.name() != row.name {
                    return Err(Error::HistoryOfAnotherSet {
                        version: row.version,
                        file: m.file_name().to_owned(),
                        recorded_name: row.name.clone(),
                    });
                }
                if m.checksum() != row.checksum {
                    return Err(Error::ChecksumMismatch {
                        version: row.version,
                        name: m.name().to_owned(),
                        file: m.file_name().to_owned(),
                        applied: row.checksum.clone(),
                        embedded: m.checksum().to_owned(),
                        whitespace_only: m.loose_checksum() == row.loose_checksum,
                    });
                }
                known.insert(row.version);
                if m.chained_checksum() == row.chained_checksum {
                    chain_covers = row.version;
                }
            }
            None => future.push(row.version),
        }
    }
    if rules.strict && !future.is_empty() {
        return Err(Error::FutureVersions {
            versions: future,
            latest_known: migrations.len() as u64,
        });
    }
    Ok(Checked {
        known,
        future,
        chain_covers,
    })
}

fn file_of(migrations: &Migrations, row: &HistoryRow) -> String {
    migrations.get(row.version).map_or_else(
        || format!("version {} (not in this binary)", row.version),
        |m| m.file_name().to_owned(),
    )
}

/// Checks that `version` is one of the binary's (0 means "none").
pub(crate) fn known_version(migrations: &Migrations, version: u64) -> Result<()> {
    if version > migrations.len() as u64 {
        return Err(Error::UnknownVersion {
            version,
            latest_known: migrations.len() as u64,
        });
    }
    Ok(())
}

/// The migrations to apply, in order, up to `target` (all when `None`).
pub(crate) fn pending(
    migrations: &Migrations,
    checked: &Checked,
    rules: Rules,
    target: Option<u64>,
) -> Result<Vec<&'static Migration>> {
    if let Some(target) = target {
        known_version(migrations, target)?;
    }
    let highest_applied = checked
        .known
        .iter()
        .chain(&checked.future)
        .max()
        .copied()
        .unwrap_or(0);
    let limit = target.unwrap_or(u64::MAX);
    let pending: Vec<&'static Migration> = migrations
        .iter()
        .filter(|m| !checked.known.contains(&m.version()) && m.version() <= limit)
        .collect();
    // A version below a row whose chain covers it was applied: its row is
    // gone, and no option makes applying it twice right.
    if let Some(lost) = pending.iter().find(|m| m.version() < checked.chain_covers) {
        return Err(Error::MissingHistoryRow {
            version: lost.version(),
            file: lost.file_name().to_owned(),
            covered_by: checked.chain_covers,
        });
    }
    if !rules.allow_out_of_order {
        if let Some(late) = pending.iter().find(|m| m.version() < highest_applied) {
            return Err(Error::OutOfOrder {
                version: late.version(),
                file: late.file_name().to_owned(),
                highest_applied,
            });
        }
    }
    Ok(pending)
}

/// The applied migrations to revert to get down to `target`, newest first;
/// every one must have a down step, or nothing is reverted.
pub(crate) fn to_revert(
    migrations: &Migrations,
    checked: &Checked,
    target: u64,
) -> Result<Vec<&'static Migration>> {
    known_version(migrations, target)?;
    let above: Vec<u64> = checked
        .future
        .iter()
        .copied()
        .filter(|v| *v > target)
        .collect();
    if !above.is_empty() {
        return Err(Error::FutureVersions {
            versions: above,
            latest_known: migrations.len() as u64,
        });
    }
    let revert: Vec<&'static Migration> = checked
        .known
        .iter()
        .rev()
        .filter(|v| **v > target)
        .filter_map(|v| migrations.get(*v))
        .collect();
    if let Some(m) = revert.iter().find(|m| !m.has_down()) {
        return Err(Error::Irreversible {
            version: m.version(),
            name: m.name().to_owned(),
            file: m.file_name().to_owned(),
        });
    }
    Ok(revert)
}

/// The version to roll back to so that the `steps` newest applied
/// migrations are reverted. Versions the binary does not know are newer
/// than any it knows: they would come first, and cannot be reverted here.
pub(crate) fn steps_back(migrations: &Migrations, checked: &Checked, steps: u64) -> Result<u64> {
    if !checked.future.is_empty() && steps > 0 {
        return Err(Error::FutureVersions {
            versions: checked.future.clone(),
            latest_known: migrations.len() as u64,
        });
    }
    let applied: Vec<u64> = checked.known.iter().copied().collect();
    let keep = usize::try_from(steps)
        .ok()
        .and_then(|steps| applied.len().checked_sub(steps))
        .ok_or(Error::TooFewApplied {
            steps,
            applied: applied.len(),
        })?;
    Ok(keep.checked_sub(1).map_or(0, |last| applied[last]))
}

/// One status row per known version, then one per future version.
pub(crate) fn status(migrations: &Migrations, rows: &[HistoryRow]) -> Vec<MigrationStatus> {
    let by_version: BTreeMap<u64, &HistoryRow> = rows.iter().map(|r| (r.version, r)).collect();
    let mut out: Vec<MigrationStatus> = migrations
        .iter()
        .map(|m| {
            let row = by_version.get(&m.version());
            let state = match row {
                None => State::Pending,
                Some(r) if r.state == RowState::Reverting => State::Reverting,
                Some(r) if r.state.is_unfinished() => State::Dirty,
                Some(r) if r.checksum != m.checksum() => State::Changed,
                Some(_) => State::Applied,
            };
            MigrationStatus {
                version: m.version(),
                name: m.name().to_owned(),
                file_name: Some(m.file_name()),
                state,
                applied_at: row.map(|r| r.applied_at.clone()),
                execution_ms: row.map(|r| r.execution_ms),
            }
        })
        .collect();
    out.extend(
        rows.iter()
            .filter(|r| migrations.get(r.version).is_none())
            .map(|r| MigrationStatus {
                version: r.version,
                name: r.name.clone(),
                file_name: None,
                state: if r.state == RowState::Reverting {
                    State::Reverting
                } else if r.state.is_unfinished() {
                    State::Dirty
                } else {
                    State::Future
                },
                applied_at: Some(r.applied_at.clone()),
                execution_ms: Some(r.execution_ms),
            }),
    );
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::registry::Checksums;

    #[test]
    fn steps_back_counts_the_newest_applied_versions() {
        let checked = |known: &[u64], future: &[u64]| Checked {
            known: known.iter().copied().collect(),
            future: future.to_vec(),
            chain_covers: 0,
        };
        let back =
            |known: &[u64], future: &[u64], steps| steps_back(&SET, &checked(known, future), steps);
        assert_eq!(back(&[1, 2, 3], &[], 1).unwrap(), 2);
        assert_eq!(back(&[1, 2, 3], &[], 3).unwrap(), 0);
        assert_eq!(back(&[1, 2, 3], &[], 0).unwrap(), 3);
        // Applied out of order: counted by version, not by hole.
        assert_eq!(back(&[1, 3], &[], 1).unwrap(), 1);
        assert!(matches!(
            back(&[1, 2], &[], 3),
            Err(Error::TooFewApplied {
                steps: 3,
                applied: 2
            })
        ));
        assert!(matches!(
            back(&[1], &[], u64::MAX),
            Err(Error::TooFewApplied { .. })
        ));
        // A newer release's versions are the newest: not ours to revert.
        assert!(matches!(
            back(&[1, 2, 3], &[4], 1),
            Err(Error::FutureVersions { .. })
        ));
        assert_eq!(back(&[], &[], 0).unwrap(), 0);
    }

    const fn sql(
        version: u64,
        name: &'static str,
        file: &'static str,
        sums: [&'static str; 3],
    ) -> Migration {
        Migration::__new(
            version,
            name,
            file,
            Migration::__sql("SELECT 1;", crate::SqlMode::Transaction),
            Checksums {
                exact: sums[0],
                loose: sums[1],
                chained: sums[2],
            },
        )
    }

    static LIST: [Migration; 3] = [
        sql(1, "a", "0001_a.sql", ["c1", "l1", "h1"]).__with_down(
            Some("0001_a.down.sql"),
            Migration::__sql("SELECT 0;", crate::SqlMode::Transaction),
        ),
        sql(2, "b", "0002_b.sql", ["c2", "l2", "h2"]),
        sql(3, "c", "0003_c.sql", ["c3", "l3", "h3"]).__with_down(
            Some("0003_c.down.sql"),
            Migration::__sql("SELECT 0;", crate::SqlMode::Transaction),
        ),
    ];
    pub(crate) static SET: Migrations = Migrations::__new(&LIST, "history", None);

    pub(crate) fn row(version: u64, checksum: &str, state: RowState) -> HistoryRow {
        HistoryRow {
            version,
            // The names SET embeds, so only checksums differ.
            name: ["a", "b", "c"]
                .get(version as usize - 1)
                .map_or_else(|| format!("m{version}"), |n| (*n).to_owned()),
            kind: "sql".into(),
            checksum: checksum.into(),
            loose_checksum: checksum.replace('c', "l"),
            chained_checksum: format!("h{version}"),
            state,
            applied_at: "2026-01-01T00:00:00.000Z".into(),
            execution_ms: 1,
        }
    }

    fn applied(versions: &[u64]) -> Vec<HistoryRow> {
        versions
            .iter()
            .map(|v| row(*v, &format!("c{v}"), RowState::Applied))
            .collect()
    }

    fn versions(list: &[&Migration]) -> Vec<u64> {
        list.iter().map(|m| m.version()).collect()
    }

    const LENIENT: Rules = Rules {
        strict: false,
        allow_out_of_order: false,
    };

    #[test]
    fn pending_in_order_up_to_a_target() {
        let rows = applied(&[1]);
        let checked = check(&SET, &rows, LENIENT).unwrap();
        assert_eq!(
            versions(&pending(&SET, &checked, LENIENT, None).unwrap()),
            [2, 3]
        );
        assert_eq!(
            versions(&pending(&SET, &checked, LENIENT, Some(2)).unwrap()),
            [2]
        );
        assert!(matches!(
            pending(&SET, &checked, LENIENT, Some(4)),
            Err(Error::UnknownVersion {
                version: 4,
                latest_known: 3
            })
        ));
    }

    #[test]
    fn unfinished_rows_stop_everything() {
        let mut rows = applied(&[1]);
        rows.push(row(2, "c2", RowState::InProgress));
        assert!(matches!(
            check(&SET, &rows, LENIENT),
            Err(Error::Dirty { version: 2, ref file, .. }) if file == "0002_b.sql"
        ));
    }

    #[test]
    fn edits_are_named_with_the_whitespace_hint() {
        let mut rows = applied(&[1, 2]);
        rows[1].checksum = "other".into();
        rows[1].loose_checksum = "l2".into();
        assert!(matches!(
            check(&SET, &rows, LENIENT),
            Err(Error::ChecksumMismatch {
                version: 2,
                whitespace_only: true,
                ..
            })
        ));
        rows[1].loose_checksum = "other".into();
        assert!(matches!(
            check(&SET, &rows, LENIENT),
            Err(Error::ChecksumMismatch {
                whitespace_only: false,
                ..
            })
        ));
    }

    #[test]
    fn future_versions_are_collected_or_refused() {
        let rows = applied(&[1, 2, 3, 4, 5]);
        assert_eq!(check(&SET, &rows, LENIENT).unwrap().future, [4, 5]);
        let strict = Rules {
            strict: true,
            ..LENIENT
        };
        assert!(matches!(
            check(&SET, &rows, strict),
            Err(Error::FutureVersions { .. })
        ));
    }

    #[test]
    fn a_hole_the_chain_covers_is_a_deleted_row_whatever_the_rules() {
        // Row 3's chain is the binary's: version 2 was applied before it.
        let rows = applied(&[1, 3]);
        let checked = check(&SET, &rows, LENIENT).unwrap();
        let allow = Rules {
            allow_out_of_order: true,
            ..LENIENT
        };
        for rules in [LENIENT, allow] {
            assert!(matches!(
                pending(&SET, &checked, rules, None),
                Err(Error::MissingHistoryRow {
                    version: 2,
                    covered_by: 3,
                    ..
                })
            ));
        }
    }

    #[test]
    fn holes_are_out_of_order_unless_allowed() {
        let mut rows = applied(&[1, 3]);
        // Recorded by a binary whose chain differs: version 2 came later.
        rows[1].chained_checksum = "other".into();
        let checked = check(&SET, &rows, LENIENT).unwrap();
        assert!(matches!(
            pending(&SET, &checked, LENIENT, None),
            Err(Error::OutOfOrder {
                version: 2,
                highest_applied: 3,
                ..
            })
        ));
        let allow = Rules {
            allow_out_of_order: true,
            ..LENIENT
        };
        assert_eq!(
            versions(&pending(&SET, &checked, allow, None).unwrap()),
            [2]
        );
    }

    #[test]
    fn reverting_needs_every_down_step_first() {
        let rows = applied(&[1, 2, 3]);
        let checked = check(&SET, &rows, LENIENT).unwrap();
        assert_eq!(versions(&to_revert(&SET, &checked, 2).unwrap()), [3]);
        assert!(matches!(
            to_revert(&SET, &checked, 0),
            Err(Error::Irreversible { version: 2, .. })
        ));
        let rows = applied(&[1, 2, 3, 4]);
        let checked = check(&SET, &rows, LENIENT).unwrap();
        assert!(matches!(
            to_revert(&SET, &checked, 2),
            Err(Error::FutureVersions { .. })
        ));
    }

    #[test]
    fn status_names_every_state() {
        let mut rows = applied(&[1, 2, 4]);
        rows[1].checksum = "edited".into();
        rows.push(row(3, "c3", RowState::InProgress));
        let states: Vec<State> = status(&SET, &rows).iter().map(|s| s.state).collect();
        assert_eq!(
            states,
            [State::Applied, State::Changed, State::Dirty, State::Future]
        );
    }
}
