//! Rust migrations are compiled into the crate and stored as fn pointers;
//! `down` is optional.
use migrate::{Dialect, MigrationKind, Result, Tx, Value};

static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/rust");

/// Records what a migration asks of the database.
#[derive(Default)]
struct Recorder(Vec<String>);

impl Tx for Recorder {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        self.0.push(format!("{sql} {params:?}"));
        Ok(1)
    }
    fn batch(&mut self, sql: &str) -> Result<()> {
        self.0.push(sql.to_owned());
        Ok(())
    }
    fn query(&mut self, _: &str, _: &[Value]) -> Result<Vec<Vec<Value>>> {
        Ok(Vec::new())
    }
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
}

fn main() {
    let seed = MIGRATIONS.get(2).unwrap();
    assert_eq!(seed.kind(), MigrationKind::Rust);
    assert_eq!(seed.file_name(), "0002_seed_settings.rs");
    assert!(seed.up_sql().is_none());
    assert!(seed.has_down());
    assert!(seed.transactional());

    let mut tx = Recorder::default();
    seed.up().run(&mut tx).unwrap();
    seed.down().unwrap().run(&mut tx).unwrap();
    assert_eq!(
        tx.0,
        [
            r#"INSERT INTO settings (key, value) VALUES ($1, $2) [Text("theme"), Text("dark")]"#,
            r#"DELETE FROM settings WHERE key = $1 [Text("theme")]"#,
        ]
    );

    let no_down = MIGRATIONS.get(3).unwrap();
    assert!(!no_down.has_down());
    no_down.up().run(&mut tx).unwrap();
    assert_eq!(tx.0.last().unwrap(), "CREATE TABLE audit (id INTEGER)");
}
