//! The `_async` twins of the runtime calls, for `tokio_postgres::Client`
//! (feature `tokio-postgres`).
//!
//! Boot's check — the hot path, nothing pending — is one statement awaited
//! on the caller's task. Everything else is the synchronous runtime itself,
//! run on a blocking thread against the PostgreSQL driver, whose requests
//! the caller's task answers (see `driver/tokio_postgres.rs`): the same
//! decisions, history table, lock key and errors as the sync client, so a
//! database migrated by one is valid for the other and the two may race.

use tokio_postgres::Client;

use super::{table_of, Applied, Repair, Report, Runner};
use crate::dialect::SqlDialect;
use crate::driver::postgres::{head_filter, is_missing, text_rows, PostgresSql};
use crate::driver::tokio_postgres::{bridged, closed, Remote};
use crate::error::Result;
use crate::history::Head;
use crate::plan::MigrationStatus;
use crate::registry::{Migration, Migrations};

impl Migrations {
    /// [`run_pending`](Migrations::run_pending) for a `tokio_postgres::Client`:
    /// applies every pending migration without blocking the caller's runtime.
    ///
    /// A pooled connection passes as itself: `&mut client` works for a
    /// `deadpool_postgres::Object` and a `bb8` pooled connection alike.
    ///
    /// ```no_run
    /// # #[cfg(feature = "tokio-postgres")]
    /// # async fn boot(migrations: &migrate_core::Migrations) -> Result<(), Box<dyn std::error::Error>> {
    /// use migrate_core::tokio_postgres::{connect, NoTls};
    ///
    /// let (mut client, connection) = connect("host=localhost user=app", NoTls).await?;
    /// tokio::spawn(connection);
    /// migrations.run_pending_async(&mut client).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Runner::run_pending`].
    pub async fn run_pending_async(&self, client: &mut Client) -> Result<Report> {
        self.runner().run_pending_async(client).await
    }

    /// [`run_to`](Migrations::run_to) for a `tokio_postgres::Client`.
    ///
    /// # Errors
    ///
    /// As [`Runner::run_to`].
    pub async fn run_to_async(&self, client: &mut Client, version: u64) -> Result<Report> {
        self.runner().run_to_async(client, version).await
    }

    /// [`rollback_to`](Migrations::rollback_to) for a `tokio_postgres::Client`.
    ///
    /// # Errors
    ///
    /// As [`Runner::rollback_to`].
    pub async fn rollback_to_async(&self, client: &mut Client, version: u64) -> Result<Report> {
        self.runner().rollback_to_async(client, version).await
    }

    /// [`rollback_steps`](Migrations::rollback_steps) for a `tokio_postgres::Client`.
    ///
    /// # Errors
    ///
    /// As [`Runner::rollback_steps`].
    pub async fn rollback_steps_async(&self, client: &mut Client, steps: u64) -> Result<Report> {
        self.runner().rollback_steps_async(client, steps).await
    }

    /// [`status`](Migrations::status) for a `tokio_postgres::Client`.
    ///
    /// # Errors
    ///
    /// As [`Runner::status`].
    pub async fn status_async(&self, client: &mut Client) -> Result<Vec<MigrationStatus>> {
        self.runner().status_async(client).await
    }

    /// [`log`](Migrations::log) for a `tokio_postgres::Client`.
    ///
    /// # Errors
    ///
    /// As [`Runner::log`].
    pub async fn log_async(&self, client: &mut Client) -> Result<Vec<crate::LogEntry>> {
        self.runner().log_async(client).await
    }

    /// [`plan`](Migrations::plan) for a `tokio_postgres::Client`.
    ///
    /// # Errors
    ///
    /// As [`Runner::plan`].
    pub async fn plan_async(&self, client: &mut Client) -> Result<Vec<&'static Migration>> {
        self.runner().plan_async(client).await
    }

    /// [`plan_rollback`](Migrations::plan_rollback) for a `tokio_postgres::Client`.
    ///
    /// # Errors
    ///
    /// As [`Runner::plan_rollback`].
    pub async fn plan_rollback_async(
        &self,
        client: &mut Client,
        version: u64,
    ) -> Result<Vec<&'static Migration>> {
        self.runner().plan_rollback_async(client, version).await
    }

    /// [`baseline`](Migrations::baseline) for a `tokio_postgres::Client`.
    ///
    /// # Errors
    ///
    /// As [`Runner::baseline`].
    pub async fn baseline_async(&self, client: &mut Client, version: u64) -> Result<Report> {
        self.runner().baseline_async(client, version).await
    }

    /// [`repair`](Migrations::repair) for a `tokio_postgres::Client`.
    ///
    /// # Errors
    ///
    /// As [`Runner::repair`].
    pub async fn repair_async(
        &self,
        client: &mut Client,
        version: u64,
        how: Repair,
    ) -> Result<Report> {
        self.runner().repair_async(client, version, how).await
    }
}

impl Runner<'_> {
    /// [`run_pending`](Runner::run_pending) for a `tokio_postgres::Client`.
    ///
    /// Boot with nothing pending is one statement, awaited here. Otherwise
    /// the run happens on one of tokio's blocking threads while this future
    /// answers its requests on `client`; the caller's runtime thread never
    /// blocks (a busy lock is waited for on that thread, outside any
    /// transaction, so the runtime needs no timer for it). Rust
    /// migrations run on that blocking thread, unchanged.
    ///
    /// The migration lock is taken inside each migration's transaction, so
    /// dropping this future halfway (a `tokio::time::timeout` around it, an
    /// aborted task) leaves no lock behind and nothing half-applied: a SQL
    /// migration already sent went to the server whole, with its history
    /// row and `COMMIT`, so the server finishes it or rolls it back;
    /// anything else under way is rolled back as the future is dropped. A
    /// later call — on this client or another — finishes the job. A
    /// `-- migrate:no-transaction` migration dropped halfway is left
    /// unfinished, as after a crash (see [`Runner::repair`]), and the
    /// lock with that connection until the next run on it.
    ///
    /// # Errors
    ///
    /// As [`Runner::run_pending`], and an error naming a closed connection.
    pub async fn run_pending_async(&self, client: &mut Client) -> Result<Report> {
        crate::stale::warn_if_stale(self.migrations);
        if let Some(report) = self.current_async(client).await? {
            return Ok(report);
        }
        self.detached(client, |runner, remote| runner.apply(remote, None, false))
            .await
    }

    /// [`run_to`](Runner::run_to) for a `tokio_postgres::Client`.
    ///
    /// # Errors
    ///
    /// As [`Runner::run_to`].
    pub async fn run_to_async(&self, client: &mut Client, version: u64) -> Result<Report> {
        self.detached(client, move |runner, remote| runner.run_to(remote, version))
            .await
    }

    /// [`rollback_to`](Runner::rollback_to) for a `tokio_postgres::Client`.
    ///
    /// # Errors
    ///
    /// As [`Runner::rollback_to`].
    pub async fn rollback_to_async(&self, client: &mut Client, version: u64) -> Result<Report> {
        self.detached(client, move |runner, remote| {
            runner.rollback_to(remote, version)
        })
        .await
    }

    /// [`rollback_steps`](Runner::rollback_steps) for a `tokio_postgres::Client`.
    ///
    /// # Errors
    ///
    /// As [`Runner::rollback_steps`].
    pub async fn rollback_steps_async(&self, client: &mut Client, steps: u64) -> Result<Report> {
        self.detached(client, move |runner, remote| {
            runner.rollback_steps(remote, steps)
        })
        .await
    }

    /// [`status`](Runner::status) for a `tokio_postgres::Client`.
    ///
    /// # Errors
    ///
    /// As [`Runner::status`].
    pub async fn status_async(&self, client: &mut Client) -> Result<Vec<MigrationStatus>> {
        self.detached(client, |runner, remote| runner.status(remote))
            .await
    }

    /// [`log`](Runner::log) for a `tokio_postgres::Client`.
    ///
    /// # Errors
    ///
    /// As [`Runner::log`].
    pub async fn log_async(&self, client: &mut Client) -> Result<Vec<crate::LogEntry>> {
        self.detached(client, |runner, remote| runner.log(remote))
            .await
    }

    /// [`plan`](Runner::plan) for a `tokio_postgres::Client`.
    ///
    /// # Errors
    ///
    /// As [`Runner::plan`].
    pub async fn plan_async(&self, client: &mut Client) -> Result<Vec<&'static Migration>> {
        self.detached(client, |runner, remote| runner.plan(remote))
            .await
    }

    /// [`plan_to`](Runner::plan_to) for a `tokio_postgres::Client`.
    ///
    /// # Errors
    ///
    /// As [`Runner::plan_to`].
    pub async fn plan_to_async(
        &self,
        client: &mut Client,
        version: u64,
    ) -> Result<Vec<&'static Migration>> {
        self.detached(client, move |runner, remote| {
            runner.plan_to(remote, version)
        })
        .await
    }

    /// [`plan_rollback`](Runner::plan_rollback) for a `tokio_postgres::Client`.
    ///
    /// # Errors
    ///
    /// As [`Runner::plan_rollback`].
    pub async fn plan_rollback_async(
        &self,
        client: &mut Client,
        version: u64,
    ) -> Result<Vec<&'static Migration>> {
        self.detached(client, move |runner, remote| {
            runner.plan_rollback(remote, version)
        })
        .await
    }

    /// [`baseline`](Runner::baseline) for a `tokio_postgres::Client`.
    ///
    /// # Errors
    ///
    /// As [`Runner::baseline`].
    pub async fn baseline_async(&self, client: &mut Client, version: u64) -> Result<Report> {
        self.detached(client, move |runner, remote| {
            runner.baseline(remote, version)
        })
        .await
    }

    /// [`repair`](Runner::repair) for a `tokio_postgres::Client`.
    ///
    /// # Errors
    ///
    /// As [`Runner::repair`].
    pub async fn repair_async(
        &self,
        client: &mut Client,
        version: u64,
        how: Repair,
    ) -> Result<Report> {
        self.detached(client, move |runner, remote| {
            runner.repair(remote, version, how)
        })
        .await
    }

    /// Boot's check on the async client: `Some` when the database is current.
    async fn current_async(&self, client: &Client) -> Result<Option<Report>> {
        if client.is_closed() {
            return Err(closed());
        }
        let table = table_of(self.migrations)?;
        let latest = self.migrations.len() as u64;
        let quoted = PostgresSql.quote_table(&table);
        let statement = Head::statement(&quoted, head_filter(&quoted), latest);
        let head = match client.simple_query(&statement).await {
            Ok(messages) => Head::parse(&text_rows(&messages), &table, latest).ok(),
            Err(e) if is_missing(e.code()) => Some(Head::default()),
            Err(e) => {
                log::debug!("boot's check failed ({e}); taking the slow path");
                None
            }
        };
        Ok(self.current_from(head))
    }

    /// Runs `work` with this runner's options on a blocking thread, against
    /// `client` (see `driver/tokio_postgres.rs`). Progress is reported on
    /// the caller's task.
    async fn detached<T: Send + 'static>(
        &self,
        client: &mut Client,
        work: impl FnOnce(&Runner<'_>, &mut Remote) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let migrations = *self.migrations;
        let (rules, grouped, lock_timeout, lock_strategy, ddl_lock) = (
            self.rules,
            self.grouped,
            self.lock_timeout,
            self.lock_strategy,
            self.ddl_lock,
        );
        let application = self
            .application
            .map(|(name, version)| (name.to_owned(), version.to_owned()));
        let forward = self.progress.is_some();
        bridged(client, self.progress, move |remote| {
            let tick = remote.progress();
            let runner = Runner {
                migrations: &migrations,
                rules,
                grouped,
                lock_timeout,
                lock_strategy,
                ddl_lock,
                application: application
                    .as_ref()
                    .map(|(name, version)| (name.as_str(), version.as_str())),
                progress: forward.then_some(&tick as &(dyn Fn(&Applied) + Sync)),
            };
            work(&runner, remote)
        })
        .await
    }
}
