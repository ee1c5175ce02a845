//! Drivers: how the runtime talks to a database. A driver knows only *how*
//! (run SQL, open and close a transaction, take the migration lock); the
//! runtime decides *what* (validate, plan, apply, record).
//!
//! Adding a database means implementing [`Driver`] for a handle and
//! [`Database`] for the connection type users hold.

#[cfg(feature = "sqlite")]
pub mod sqlite;

use std::time::Duration;

use crate::error::{Error, Result};
use crate::history::TableName;
use crate::tx::Tx;

/// A connection the runtime can migrate: `rusqlite::Connection` (feature
/// `sqlite`), `postgres::Client` (feature `postgres`).
pub trait Database {
    /// The driver borrowing this connection for one runtime call.
    type Driver<'c>: Driver
    where
        Self: 'c;

    /// Borrows the connection as a driver.
    fn driver(&mut self) -> Self::Driver<'_>;
}

/// What the runtime needs from a database, beyond the [`Tx`] calls
/// migrations use.
pub trait Driver: Tx {
    /// Opens a write transaction (SQLite: `BEGIN IMMEDIATE`).
    ///
    /// # Errors
    ///
    /// The database's error.
    fn begin(&mut self) -> Result<()>;

    /// Commits the open transaction.
    ///
    /// # Errors
    ///
    /// The database's error.
    fn commit(&mut self) -> Result<()>;

    /// Rolls back the open transaction.
    ///
    /// # Errors
    ///
    /// The database's error.
    fn rollback(&mut self) -> Result<()>;

    /// Takes the migration lock of `table`, waiting at most `timeout`. Held
    /// until [`unlock`](Driver::unlock) or until the process dies, so a
    /// crashed migrator never blocks the next one.
    ///
    /// # Errors
    ///
    /// [`Error::LockTimeout`] naming the holder when the database knows it.
    fn lock(&mut self, table: &TableName<'_>, timeout: Duration) -> Result<()>;

    /// Releases the migration lock.
    ///
    /// # Errors
    ///
    /// The database's error.
    fn unlock(&mut self) -> Result<()>;

    /// Whether `error` says the history table does not exist yet.
    fn is_missing_table(&self, error: &Error) -> bool;
}
