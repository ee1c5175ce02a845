//! The async PostgreSQL client, `tokio_postgres::Client`, as a migration
//! target — without a second runtime or a second PostgreSQL driver.
//!
//! The runtime and the PostgreSQL driver (`postgres.rs`) run unchanged on
//! one of tokio's blocking threads; each request they make to the database
//! travels over a channel to the caller's task, which awaits it on the
//! client ([`serve`]) and sends the answer back. The caller's runtime thread
//! never blocks: it only awaits the client and the channel (a busy lock is
//! waited for on the blocking thread). Rust migrations (`fn up(tx: &mut dyn Tx)`) run on
//! the blocking thread like everything else, their `Tx` calls carried the
//! same way.
//!
//! Dropping the future halfway (a timeout around it, an aborted task)
//! drops the `tokio_postgres::Transaction` the task holds, which queues a
//! `ROLLBACK` on the connection: nothing half-applied, and the migration
//! lock, taken inside each transaction ([`LockScope::Transaction`]), goes
//! with it. The blocking thread finds the channel closed and stops.

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Client, IsolationLevel, Row, SimpleQueryMessage, Statement};

use super::postgres::{end_sql, params, refs, Fail, PostgresDriver, Session};
use super::{Database, LockScope};
use crate::error::{Error, Result};
use crate::runtime::Applied;
use crate::tx::Value;

type Reply<T> = oneshot::Sender<std::result::Result<T, tokio_postgres::Error>>;

/// One request from the blocking thread to the task that owns the client.
pub(crate) enum Request {
    SimpleQuery(String, Reply<Vec<SimpleQueryMessage>>),
    Batch(String, Reply<()>),
    Begin {
        read_committed: bool,
        then: String,
        reply: Reply<Vec<SimpleQueryMessage>>,
    },
    End {
        commit: bool,
        before: Option<String>,
        reply: Reply<()>,
    },
    Prepare(String, Reply<Statement>),
    Execute(Statement, Vec<Value>, Reply<u64>),
    Query(Statement, Vec<Value>, Reply<Vec<Row>>),
    /// A migration was applied or reverted: call the runner's callback.
    Progress(Applied),
}

/// The blocking thread's end of the channel: a [`Session`] whose every
/// call is answered by [`serve`].
pub(crate) struct Remote {
    requests: mpsc::UnboundedSender<Request>,
}

impl Remote {
    fn ask<T>(&self, request: impl FnOnce(Reply<T>) -> Request) -> std::result::Result<T, Fail> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(request(reply))
            .map_err(|_| Fail::Cancelled)?;
        match answer.blocking_recv() {
            Ok(result) => result.map_err(Fail::Server),
            Err(_) => Err(Fail::Cancelled),
        }
    }

    /// Asks the caller's task to call the runner's progress callback.
    pub(crate) fn progress(&self) -> impl Fn(&Applied) + Sync + Send + 'static {
        let requests = self.requests.clone();
        move |applied: &Applied| {
            let _ = requests.send(Request::Progress(applied.clone()));
        }
    }
}

impl Session for Remote {
    fn simple_query(&mut self, sql: &str) -> std::result::Result<Vec<SimpleQueryMessage>, Fail> {
        self.ask(|reply| Request::SimpleQuery(sql.to_owned(), reply))
    }

    fn batch(&mut self, sql: &str) -> std::result::Result<(), Fail> {
        self.ask(|reply| Request::Batch(sql.to_owned(), reply))
    }

    fn begin(
        &mut self,
        read_committed: bool,
        then: &str,
    ) -> std::result::Result<Vec<SimpleQueryMessage>, Fail> {
        self.ask(|reply| Request::Begin {
            read_committed,
            then: then.to_owned(),
            reply,
        })
    }

    fn end(&mut self, commit: bool, before: Option<&str>) -> std::result::Result<(), Fail> {
        self.ask(|reply| Request::End {
            commit,
            before: before.map(str::to_owned),
            reply,
        })
    }

    fn prepare(&mut self, sql: &str) -> std::result::Result<Statement, Fail> {
        self.ask(|reply| Request::Prepare(sql.to_owned(), reply))
    }

    fn execute(
        &mut self,
        statement: &Statement,
        values: &[Value],
    ) -> std::result::Result<u64, Fail> {
        self.ask(|reply| Request::Execute(statement.clone(), values.to_vec(), reply))
    }

    fn query(
        &mut self,
        statement: &Statement,
        values: &[Value],
    ) -> std::result::Result<Vec<Row>, Fail> {
        self.ask(|reply| Request::Query(statement.clone(), values.to_vec(), reply))
    }

    fn is_closed(&self) -> bool {
        self.requests.is_closed()
    }

    fn lock_scope(&self) -> LockScope {
        LockScope::Transaction
    }
}

impl Database for Remote {
    type Driver<'c> = PostgresDriver<'c>;

    fn driver(&mut self) -> PostgresDriver<'_> {
        PostgresDriver::new(self)
    }
}

/// Runs `work` on a blocking thread against `client`, serving its requests
/// on the caller's task until it is done. `progress` is called here, on
/// the caller's task, for each [`Request::Progress`].
pub(crate) async fn bridged<T: Send + 'static>(
    client: &mut Client,
    progress: Option<&(dyn Fn(&Applied) + Sync)>,
    work: impl FnOnce(&mut Remote) -> Result<T> + Send + 'static,
) -> Result<T> {
    if client.is_closed() {
        return Err(closed());
    }
    let (sender, mut requests) = mpsc::unbounded_channel();
    let worker = tokio::task::spawn_blocking(move || {
        let mut remote = Remote { requests: sender };
        work(&mut remote)
    });
    serve(client, &mut requests, progress).await;
    match worker.await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Error::other(format!(
            "the migration thread was stopped ({e}): the runtime is shutting down"
        ))),
    }
}

/// The error for a client whose connection is gone.
pub(crate) fn closed() -> Error {
    Error::other(
        "the PostgreSQL connection is closed (the server ended it, or its connection task \
         stopped); connect again, or take a fresh connection from the pool",
    )
}

/// Answers requests until every sender is gone (the work is done). Inside
/// a transaction the requests go to a `tokio_postgres::Transaction`, so
/// that dropping this future rolls it back.
async fn serve(
    client: &mut Client,
    requests: &mut mpsc::UnboundedReceiver<Request>,
    progress: Option<&(dyn Fn(&Applied) + Sync)>,
) {
    while let Some(request) = requests.recv().await {
        match request {
            Request::Begin {
                read_committed,
                then,
                reply,
            } => {
                let mut builder = client.build_transaction();
                if read_committed {
                    builder = builder.isolation_level(IsolationLevel::ReadCommitted);
                }
                let transaction = match builder.start().await {
                    Ok(transaction) => transaction,
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        continue;
                    }
                };
                let _ = reply.send(transaction.simple_query(&then).await);
                // Until the driver commits or rolls back; dropped (rolled
                // back) if this future is.
                while let Some(request) = requests.recv().await {
                    match request {
                        Request::End {
                            commit,
                            before: Some(before),
                            reply,
                        } => {
                            // One message, so both happen or neither: the
                            // transaction object only sends a plain COMMIT.
                            let sql = end_sql(commit, Some(&before));
                            let ended = transaction.client().batch_execute(&sql).await;
                            if ended.is_ok() {
                                // Committed by that message: nothing left for
                                // its drop to roll back. (On an error its
                                // drop ends what the error left open.)
                                std::mem::forget(transaction);
                            }
                            let _ = reply.send(ended);
                            break;
                        }
                        Request::End {
                            commit,
                            before: None,
                            reply,
                        } => {
                            let ended = if commit {
                                transaction.commit().await
                            } else {
                                transaction.rollback().await
                            };
                            let _ = reply.send(ended);
                            break;
                        }
                        other => answer(transaction.client(), other, progress).await,
                    }
                }
            }
            other => answer(client, other, progress).await,
        }
    }
}

/// Answers one request on `client` (or on the transaction's client).
async fn answer(client: &Client, request: Request, progress: Option<&(dyn Fn(&Applied) + Sync)>) {
    match request {
        Request::SimpleQuery(sql, reply) => {
            let _ = reply.send(client.simple_query(&sql).await);
        }
        Request::Batch(sql, reply) => {
            let _ = reply.send(client.batch_execute(&sql).await);
        }
        Request::Begin {
            read_committed,
            then,
            reply,
        } => {
            // A transaction is open already: the server says so.
            let begin = if read_committed {
                "BEGIN ISOLATION LEVEL READ COMMITTED"
            } else {
                "BEGIN"
            };
            let _ = reply.send(client.simple_query(&format!("{begin}; {then}")).await);
        }
        Request::End {
            commit,
            before,
            reply,
        } => {
            let sql = end_sql(commit, before.as_deref());
            let _ = reply.send(client.batch_execute(&sql).await);
        }
        Request::Prepare(sql, reply) => {
            let _ = reply.send(client.prepare(&sql).await);
        }
        Request::Execute(statement, values, reply) => {
            let params = params(&values);
            let _ = reply.send(client.execute(&statement, &refs(&params)).await);
        }
        Request::Query(statement, values, reply) => {
            let params = params(&values);
            let _ = reply.send(client.query(&statement, &refs(&params)).await);
        }
        Request::Progress(applied) => {
            if let Some(progress) = progress {
                progress(&applied);
            }
        }
    }
}
