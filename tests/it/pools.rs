//! The connection pools users already hold, each with the one expression
//! the README shows: async PostgreSQL pools (deadpool, bb8) pass their
//! object to the `_async` calls as `&mut object`; sync pools (r2d2) pass
//! `&mut *pooled`; async SQLite handles (tokio-rusqlite, deadpool-sqlite)
//! call the sync API inside their closure, on their own thread.

use migrate::tokio_postgres::NoTls;
use migrate::DEFAULT_TABLE;

use crate::postgres::{connect, fresh_database, versions};
use crate::sets::V2;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_deadpool_postgres_object() {
    let Some(url) = fresh_database() else { return };
    runtime().block_on(async {
        let config: migrate::tokio_postgres::Config = url.parse().unwrap();
        let manager = deadpool_postgres::Manager::new(config, NoTls);
        let pool = deadpool_postgres::Pool::builder(manager).build().unwrap();
        let mut object = pool.get().await.unwrap();
        let report = V2.run_pending_async(&mut object).await.unwrap();
        assert_eq!(report.applied.len(), 5);
        // Back in the pool and out again: the same connection, current.
        drop(object);
        let mut object = pool.get().await.unwrap();
        assert!(V2
            .run_pending_async(&mut object)
            .await
            .unwrap()
            .applied
            .is_empty());
    });
    assert_eq!(versions(&mut connect(&url), DEFAULT_TABLE), [1, 2, 3, 4, 5]);
}

#[test]
fn a_bb8_pooled_tokio_postgres_client() {
    let Some(url) = fresh_database() else { return };
    runtime().block_on(async {
        let manager =
            bb8_postgres::PostgresConnectionManager::new_from_stringlike(&url, NoTls).unwrap();
        let pool = bb8::Pool::builder().build(manager).await.unwrap();
        let mut conn = pool.get().await.unwrap();
        let report = V2.run_pending_async(&mut conn).await.unwrap();
        assert_eq!(report.applied.len(), 5);
    });
    assert_eq!(versions(&mut connect(&url), DEFAULT_TABLE), [1, 2, 3, 4, 5]);
}

#[test]
fn an_r2d2_postgres_connection() {
    let Some(url) = fresh_database() else { return };
    let manager = r2d2_postgres::PostgresConnectionManager::new(url.parse().unwrap(), NoTls);
    let pool = r2d2::Pool::builder().max_size(2).build(manager).unwrap();
    let mut pooled = pool.get().unwrap();
    assert_eq!(V2.run_pending(&mut *pooled).unwrap().applied.len(), 5);
    assert_eq!(versions(&mut pooled, DEFAULT_TABLE), [1, 2, 3, 4, 5]);
}

#[test]
fn an_r2d2_sqlite_connection() {
    let dir = tempfile::tempdir().unwrap();
    let manager = r2d2_sqlite::SqliteConnectionManager::file(dir.path().join("app.db"));
    let pool = r2d2::Pool::builder().max_size(2).build(manager).unwrap();
    let mut pooled = pool.get().unwrap();
    assert_eq!(V2.run_pending(&mut *pooled).unwrap().applied.len(), 5);
    let other = pool.get().unwrap();
    let count: i64 = other
        .query_row("SELECT count(*) FROM migrate_schema_history", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(count, 5);
}

#[test]
fn a_tokio_rusqlite_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    runtime().block_on(async {
        let conn = tokio_rusqlite::Connection::open(&path).await.unwrap();
        let report = conn.call(|conn| V2.run_pending(conn)).await.unwrap();
        assert_eq!(report.applied.len(), 5);
        // A migration error comes back as itself.
        let other = tokio_rusqlite::Connection::open(path.with_extension("other"))
            .await
            .unwrap();
        let failing = other
            .call(|conn| crate::sets::FAILING.run_pending(conn))
            .await;
        assert!(
            matches!(
                failing,
                Err(tokio_rusqlite::Error::Error(migrate::Error::Failed { .. }))
            ),
            "{failing:?}"
        );
    });
}

#[test]
fn a_deadpool_sqlite_object() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let pool = deadpool_sqlite::Config::new(dir.path().join("app.db"))
            .create_pool(deadpool_sqlite::Runtime::Tokio1)
            .unwrap();
        let object = pool.get().await.unwrap();
        let report = object
            .interact(|conn| V2.run_pending(conn))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.applied.len(), 5);
    });
}
