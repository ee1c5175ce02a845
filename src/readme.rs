//! The README's Rust code, compiled as doc tests: each block below shows
//! exactly a block of the README (a test in `tests/it/readme.rs` compares
//! them), with the lines a reader does not need hidden.

/// The quick start.
///
/// ```no_run
/// use migrate::rusqlite::Connection;
///
/// static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let mut conn = Connection::open("app.db")?;
///     let report = MIGRATIONS.run_pending(&mut conn)?;   // one indexed read when nothing is pending
///     println!("schema version {}", report.version);
///     Ok(())
/// }
/// ```
pub struct QuickStart;

/// Two sets, two histories.
///
/// ```
/// static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");
/// static BILLING: migrate::Migrations =
///     migrate::embed_migrations!("examples/plugins/billing", table = "billing_schema_history");
/// # assert_ne!(MIGRATIONS.table(), BILLING.table());
/// ```
pub struct TwoSets;

/// The registry.
///
/// ```
/// # static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");
/// for m in &MIGRATIONS {
///     println!("{} {} {} down={}", m.version(), m.file_name(), m.kind(), m.has_down());
/// }
/// let latest = MIGRATIONS.latest();          // also: len(), is_empty(), get(version), iter()
/// # assert!(latest.is_some());
/// ```
pub struct Registry;

/// The commands inside the application's own binary.
///
/// ```no_run
/// static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");
///
/// fn main() -> std::process::ExitCode {
///     // `myapp migrate status --database sqlite://app.db`
///     if std::env::args().nth(1).as_deref() == Some("migrate") {
///         return migrate::cli::run(&MIGRATIONS, std::env::args_os().skip(1));
///     }
///     // ... the application
///     std::process::ExitCode::SUCCESS
/// }
/// ```
pub struct EmbeddedCli;

/// The build script.
///
/// ```
/// fn main() {
///     println!("cargo:rerun-if-changed=migrations");
/// }
/// ```
pub struct BuildScript;

/// The runtime calls.
///
/// ```no_run
/// # static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let mut conn = migrate::rusqlite::Connection::open("app.db")?;
/// MIGRATIONS.run_pending(&mut conn)?;        // apply everything pending
/// MIGRATIONS.run_to(&mut conn, 5)?;          // ... up to and including version 5
/// MIGRATIONS.rollback_to(&mut conn, 2)?;     // revert versions > 2, newest first
/// MIGRATIONS.rollback_steps(&mut conn, 1)?;   // revert the newest applied migration
/// MIGRATIONS.status(&mut conn)?;             // applied / pending / future / changed / dirty per version
/// MIGRATIONS.plan(&mut conn)?;               // what run_pending would apply
/// MIGRATIONS.baseline(&mut conn, 7)?;        // adopt an existing database at version 7
/// MIGRATIONS.baseline_from_user_version(&mut conn)?; // adopt a rusqlite_migration database
/// MIGRATIONS.repair(&mut conn, 4, migrate::Repair::Completed)?; // after fixing a dirty migration by hand
/// MIGRATIONS.runner().grouped(true).strict(true).run_pending(&mut conn)?; // options
/// # Ok(())
/// # }
/// ```
pub struct Runtime;

/// The async client.
///
/// ```no_run
/// # static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");
/// # async fn boot(url: String) -> Result<(), Box<dyn std::error::Error>> {
/// use migrate::tokio_postgres::{connect, NoTls};
///
/// let (mut client, connection) = connect(&url, NoTls).await?;
/// tokio::spawn(connection);
/// MIGRATIONS.run_pending_async(&mut client).await?;
/// MIGRATIONS.runner().grouped(true).run_pending_async(&mut client).await?;
/// // also run_to_async, rollback_to_async, status_async, plan_async,
/// // plan_to_async, plan_rollback_async, baseline_async, repair_async
/// # Ok(())
/// # }
/// # fn main() {}
/// ```
pub struct Async;

/// Proven downs, in a test of the reader's suite.
///
/// ```
/// # static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut scratch = migrate::rusqlite::Connection::open_in_memory()?;
/// let proved = MIGRATIONS.verify_reversible(&mut scratch)?;
/// assert!(proved.irreversible.is_empty(), "no down step: {:?}", proved.irreversible);
/// # Ok(())
/// # }
/// ```
pub struct ProvenDowns;

/// The audit log.
///
/// ```
/// # static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let mut conn = migrate::rusqlite::Connection::open_in_memory()?;
/// # MIGRATIONS.run_pending(&mut conn)?;
/// for entry in MIGRATIONS.log(&mut conn)? {
///     println!("{} {} {:?} {:?} by {:?}", entry.started_at, entry.version, entry.operation, entry.outcome, entry.app_name);
/// }
/// # assert_eq!(MIGRATIONS.log(&mut conn)?.len(), MIGRATIONS.len());
/// # Ok(())
/// # }
/// ```
pub struct AuditLog;

/// Running at scale: a pooler in transaction mode, DDL under traffic.
///
/// ```no_run
/// # static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let mut client = migrate::postgres::Client::connect("postgres://app@pgbouncer:6432/app", migrate::postgres::NoTls)?;
/// use std::time::Duration;
/// use migrate::LockStrategy;
///
/// MIGRATIONS
///     .runner()
///     .lock_strategy(LockStrategy::TransactionPooler) // PgBouncer in transaction mode
///     .ddl_lock_timeout(Duration::from_secs(2))       // an ALTER waits at most 2 s for its table
///     .ddl_lock_retries(5)                            // then is rolled back and tried again
///     .run_pending(&mut client)?;
/// # Ok(())
/// # }
/// ```
pub struct AtScale;
