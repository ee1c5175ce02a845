//! What the commands print: the status table (coloured only on a
//! terminal, and never with NO_COLOR), the plan, one-line summaries.

use std::io::IsTerminal;
use std::time::Duration;

use migrate_core::{Migration, MigrationStatus, Migrations, Report, Reversibility, State};

use crate::args::Format;

fn colour_enabled() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn paint(state: State, text: &str, colour: bool) -> String {
    if !colour {
        return text.to_owned();
    }
    let code = match state {
        State::Applied => "32",
        State::Pending => "33",
        State::Future => "36",
        _ => "31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

pub fn status(rows: &[MigrationStatus]) {
    let colour = colour_enabled();
    let name_width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    println!(
        "{:>7}  {:<name_width$}  {:<9}  {:<24}  {:>8}",
        "VERSION", "NAME", "STATE", "APPLIED AT", "DURATION"
    );
    for row in rows {
        // Wide enough for the longest state, `reverting`.
        let state = format!("{:<9}", row.state.to_string());
        println!(
            "{:>7}  {:<name_width$}  {}  {:<24}  {:>8}",
            row.version,
            row.name,
            paint(row.state, &state, colour),
            row.applied_at.as_deref().unwrap_or("-"),
            row.execution_ms
                .map_or("-".to_owned(), |ms| format!("{ms} ms")),
        );
    }
    let count = |s: State| rows.iter().filter(|r| r.state == s).count();
    println!(
        "{} applied, {} pending{}{}{}",
        count(State::Applied),
        count(State::Pending),
        match count(State::Future) {
            0 => String::new(),
            n => format!(", {n} future"),
        },
        match count(State::Changed) {
            0 => String::new(),
            n => format!(", {n} changed"),
        },
        match count(State::Dirty) + count(State::Reverting) {
            0 => String::new(),
            n => format!(", {n} dirty"),
        },
    );
}

/// `s` as a JSON string.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_or_null(value: Option<String>) -> String {
    value.unwrap_or_else(|| "null".to_owned())
}

/// `status --format json`: `{"migrations": [{"version", "name", "file",
/// "state", "applied_at", "execution_ms"}, ...]}`, one line.
pub fn status_json(rows: &[MigrationStatus]) {
    let items: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{{\"version\":{},\"name\":{},\"file\":{},\"state\":{},\"applied_at\":{},\"execution_ms\":{}}}",
                r.version,
                json_string(&r.name),
                json_or_null(r.file_name.map(json_string)),
                json_string(&r.state.to_string()),
                json_or_null(r.applied_at.as_deref().map(json_string)),
                json_or_null(r.execution_ms.map(|ms| ms.to_string())),
            )
        })
        .collect();
    println!("{{\"migrations\":[{}]}}", items.join(","));
}

/// `log`: one line per operation, oldest first.
pub fn log(entries: &[migrate_core::LogEntry]) {
    if entries.is_empty() {
        println!("the audit log is empty (nothing applied, reverted, baselined or repaired yet)");
        return;
    }
    let name_width = entries
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:>7}  {:<name_width$}  {:<9}  {:<7}  {:<24}  {:>8}  BY",
        "VERSION", "NAME", "OPERATION", "OUTCOME", "STARTED AT", "DURATION"
    );
    for e in entries {
        let by = [
            e.db_user.clone(),
            e.app_name
                .as_ref()
                .map(|n| format!("{n} {}", e.app_version.as_deref().unwrap_or(""))),
            e.host.as_ref().map(|h| format!("on {h}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        println!(
            "{:>7}  {:<name_width$}  {:<9}  {:<7}  {:<24}  {:>8}  {}",
            e.version,
            e.name,
            e.operation.as_str(),
            e.outcome.as_str(),
            e.started_at,
            format!("{} ms", e.execution_ms),
            by,
        );
        if let Some(error) = &e.error {
            println!("         {error}");
        }
    }
}

/// `log --format json`: `{"log": [{"id", "version", "name", "operation",
/// "outcome", "error", "started_at", "finished_at", "execution_ms",
/// "db_user", "app_name", "app_version", "host"}, ...]}`, one line.
pub fn log_json(entries: &[migrate_core::LogEntry]) {
    let text = |v: &Option<String>| json_or_null(v.as_deref().map(json_string));
    let items: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{{\"id\":{},\"version\":{},\"name\":{},\"operation\":{},\"outcome\":{},\
                 \"error\":{},\"started_at\":{},\"finished_at\":{},\"execution_ms\":{},\
                 \"db_user\":{},\"app_name\":{},\"app_version\":{},\"host\":{}}}",
                e.id,
                e.version,
                json_string(&e.name),
                json_string(e.operation.as_str()),
                json_string(e.outcome.as_str()),
                text(&e.error),
                json_string(&e.started_at),
                json_string(&e.finished_at),
                e.execution_ms,
                text(&e.db_user),
                text(&e.app_name),
                text(&e.app_version),
                text(&e.host),
            )
        })
        .collect();
    println!("{{\"log\":[{}]}}", items.join(","));
}

/// `plan --format json`: `{"pending": [{"version", "name", "file",
/// "transactional", "sql"}, ...]}` (`sql` is null for a Rust migration).
pub fn plan_json(pending: &[&Migration]) {
    let items: Vec<String> = pending
        .iter()
        .map(|m| {
            format!(
                "{{\"version\":{},\"name\":{},\"file\":{},\"transactional\":{},\"sql\":{}}}",
                m.version(),
                json_string(m.name()),
                json_string(m.file_name()),
                m.transactional(),
                json_or_null(m.up_sql().map(json_string)),
            )
        })
        .collect();
    println!("{{\"pending\":[{}]}}", items.join(","));
}

/// `list`: the migrations, without a database. JSON: `{"migrations":
/// [{"version", "name", "file", "kind", "transactional", "down_file"}]}`.
pub fn list(migrations: &Migrations, format: Format) {
    match format {
        Format::Text => {
            for m in migrations {
                let mut notes = Vec::new();
                if !m.transactional() {
                    notes.push("outside a transaction".to_owned());
                }
                if let Some(down) = m.down_file_name() {
                    notes.push(format!("down: {down}"));
                }
                println!(
                    "{:>7}  {:<4}  {}{}",
                    m.version(),
                    m.kind().as_str(),
                    m.file_name(),
                    if notes.is_empty() {
                        String::new()
                    } else {
                        format!("  ({})", notes.join(", "))
                    }
                );
            }
            println!("{} migration(s)", migrations.len());
        }
        Format::Json => {
            let items: Vec<String> = migrations
                .iter()
                .map(|m| {
                    format!(
                        "{{\"version\":{},\"name\":{},\"file\":{},\"kind\":{},\"transactional\":{},\"down_file\":{}}}",
                        m.version(),
                        json_string(m.name()),
                        json_string(m.file_name()),
                        json_string(m.kind().as_str()),
                        m.transactional(),
                        json_or_null(m.down_file_name().map(json_string)),
                    )
                })
                .collect();
            println!("{{\"migrations\":[{}]}}", items.join(","));
        }
    }
}

/// Why the database is not exactly at these migrations, if it is not.
pub fn not_current(rows: &[MigrationStatus]) -> Option<String> {
    let versions = |state: State| -> Vec<String> {
        rows.iter()
            .filter(|r| r.state == state)
            .map(|r| r.version.to_string())
            .collect()
    };
    let reasons: Vec<String> = [
        (State::Pending, "pending"),
        (State::Changed, "changed"),
        (State::Dirty, "dirty"),
        (State::Reverting, "dirty (reverting)"),
        (State::Future, "unknown to these migrations"),
    ]
    .iter()
    .filter_map(|(state, word)| {
        let v = versions(*state);
        (!v.is_empty()).then(|| format!("{word}: {}", v.join(", ")))
    })
    .collect();
    (!reasons.is_empty()).then(|| format!("not current; {}", reasons.join("; ")))
}

pub fn plan(pending: &[&Migration]) {
    if pending.is_empty() {
        println!("-- nothing to apply");
        return;
    }
    for m in pending {
        match m.up_sql() {
            Some(sql) => {
                let tx = if m.transactional() {
                    ""
                } else {
                    " (outside a transaction)"
                };
                println!(
                    "-- {} {}{tx}\n{}",
                    m.version(),
                    m.file_name(),
                    sql.trim_end()
                );
            }
            None => println!(
                "-- {} {} (Rust migration: runs compiled code)",
                m.version(),
                m.file_name()
            ),
        }
        println!();
    }
}

fn span(versions: impl Iterator<Item = u64> + Clone) -> String {
    let (first, last) = (versions.clone().next(), versions.last());
    match (first, last) {
        (Some(a), Some(b)) if a == b => format!("{a}"),
        (Some(a), Some(b)) => format!("{a} to {b}"),
        _ => String::new(),
    }
}

/// What `verify` proved.
pub fn verified(found: &Reversibility, elapsed: Duration) {
    let ms = elapsed.as_millis();
    if found.reversible.is_empty() && found.irreversible.is_empty() {
        println!("nothing pending to verify: run it on a scratch database");
        return;
    }
    if !found.reversible.is_empty() {
        println!(
            "proved {} down step(s) ({}) in {ms} ms: each reverted to the schema before it",
            found.reversible.len(),
            span(found.reversible.iter().copied())
        );
    }
    if !found.irreversible.is_empty() {
        println!(
            "without a down step (applied, not reverted): {}",
            found
                .irreversible
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

pub fn summary(report: &Report, total: usize, elapsed: Duration) {
    let ms = elapsed.as_millis();
    if !report.applied.is_empty() {
        println!(
            "applied {} migration(s) ({}) in {ms} ms; at version {} of {total}",
            report.applied.len(),
            span(report.applied.iter().map(|a| a.version)),
            report.version
        );
    } else if !report.reverted.is_empty() {
        println!(
            "reverted {} migration(s) ({}) in {ms} ms; at version {} of {total}",
            report.reverted.len(),
            span(report.reverted.iter().map(|a| a.version)),
            report.version
        );
    } else {
        println!("nothing to do; at version {} of {total}", report.version);
    }
    if !report.future_versions.is_empty() {
        println!(
            "note: the database also has version(s) {:?} that these migrations do not include",
            report.future_versions
        );
    }
}
