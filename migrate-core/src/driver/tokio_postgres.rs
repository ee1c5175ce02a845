//! The async PostgreSQL client, `tokio_postgres::Client`, as a migration
//! target — without a second runtime or a second PostgreSQL driver.
//!
//! The runtime and the PostgreSQL driver (`postgres.rs`) run unchanged on
//! one of tokio's blocking threads; each request they make to the database
//! travels over a channel to the caller's task, which awaits it on the
//! client (`serve`) and sends the answer back. The caller's runtime thread
//! never blocks: it only awaits the client and the channel (a busy lock is
//! waited for on the blocking thread). Rust migrations (`fn up(tx: &mut dyn Tx)`) run on
//! the blocking thread like everything else, their `Tx` calls carried the
//! same way.
//!
//! Dropping the future halfway (a timeout around it, an aborted task)
//! drops the guard that `serve` holds while a transaction of the run is
//! open, which queues a `ROLLBACK` on the connection: nothing half-applied,
//! and the migration lock, taken inside each transaction
//! ([`LockScope::Transaction`]), goes with it. A transaction sent whole
//! (`BEGIN` to `COMMIT` in one message) is the server's to finish or roll
//! back. The blocking thread finds the channel closed and stops.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Client, Row, SimpleQueryMessage, Statement};

use super::postgres::{
    end_sql, looked_up_types, params, refs, unnamed_params, Fail, PostgresDriver, Session,
};
use super::{Database, LockScope};
use crate::error::{Error, Result};
use crate::runtime::Applied;
use crate::tx::Value;

type Outcome<T> = std::result::Result<T, tokio_postgres::Error>;
type Reply<T> = oneshot::Sender<Outcome<T>>;

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
    /// A transaction sent whole, `BEGIN` to `COMMIT`.
    Whole(String, Reply<Vec<SimpleQueryMessage>>),
    Prepare(String, Reply<Statement>),
    Execute(Statement, Vec<Value>, Reply<u64>),
    Query(Statement, Vec<Value>, Reply<Vec<Row>>),
    /// An unnamed statement: its rows, and how many it touched.
    QueryUnnamed(String, Vec<Value>, Reply<(Vec<Row>, u64)>),
    /// The statement, then COMMIT, pipelined; each one's outcome.
    ExecuteCommit(
        Statement,
        Vec<Value>,
        oneshot::Sender<(Outcome<u64>, Option<Outcome<()>>)>,
    ),
    /// A migration was applied or reverted: call the runner's callback.
    Progress(Applied),
}

/// The blocking thread's end of the channel: a [`Session`] whose every
/// call is answered by [`serve`].
pub(crate) struct Remote {
    requests: mpsc::UnboundedSender<Request>,
}

impl Remote {
    /// Sends a request and waits for its answer. `Err(sent)` when the run
    /// was dropped: whether the request had gone out before.
    fn exchange<R>(&self, request: impl FnOnce(oneshot::Sender<R>) -> Request) -> Result<R, bool> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(request(reply)).map_err(|_| false)?;
        answer.blocking_recv().map_err(|_| true)
    }

    fn ask<T>(&self, request: impl FnOnce(Reply<T>) -> Request) -> std::result::Result<T, Fail> {
        self.exchange(request)
            .map_err(|_| Fail::Cancelled)?
            .map_err(Fail::Server)
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

    fn send_whole(&mut self, sql: &str) -> std::result::Result<Vec<SimpleQueryMessage>, Fail> {
        self.ask(|reply| Request::Whole(sql.to_owned(), reply))
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

    fn query_unnamed(
        &mut self,
        sql: &str,
        values: &[Value],
    ) -> std::result::Result<(Vec<Row>, u64), Fail> {
        self.ask(|reply| Request::QueryUnnamed(sql.to_owned(), values.to_vec(), reply))
    }

    fn is_closed(&self) -> bool {
        self.requests.is_closed()
    }

    fn execute_and_commit(
        &mut self,
        statement: &Statement,
        values: &[Value],
    ) -> Option<(
        std::result::Result<u64, Fail>,
        Option<std::result::Result<(), Fail>>,
    )> {
        let request = |reply| Request::ExecuteCommit(statement.clone(), values.to_vec(), reply);
        Some(match self.exchange(request) {
            Ok((executed, committed)) => (
                executed.map_err(Fail::Server),
                committed.map(|c| c.map_err(Fail::Server)),
            ),
            // The run was dropped: a COMMIT that went out may have happened.
            Err(sent) => (Err(Fail::Cancelled), sent.then_some(Err(Fail::Cancelled))),
        })
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
        // Cancelled before it ran (its closure, and so its end of the
        // channel, was dropped unrun): nothing was done.
        Err(e) => Err(Error::other(format!(
            "the runtime shut down before the migrations could run ({e}), so nothing was \
             done; run them again on a running runtime"
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

/// Answers requests until every sender is gone (the work is done). While
/// a transaction of the run is open, a guard rolls it back if this future
/// is dropped.
async fn serve(
    client: &Client,
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
                // Armed before BEGIN goes out: from then on, a drop rolls back.
                let guard = RollbackOnDrop::armed(client);
                let sql = format!("{}; {then}", begin_sql(read_committed));
                let _ = reply.send(client.simple_query(&sql).await);
                // Until the driver commits or rolls back (also after an
                // error: it rolls back).
                in_transaction(client, requests, progress, guard).await;
            }
            Request::Whole(sql, reply) => {
                let mut guard = RollbackOnDrop::armed(client);
                let sent = client.simple_query(&sql).await;
                let failed = sent.is_err();
                let _ = reply.send(sent);
                if failed {
                    // An error leaves the transaction open: the driver
                    // looks at its savepoints, then rolls back.
                    in_transaction(client, requests, progress, guard).await;
                } else {
                    guard.armed = false;
                }
            }
            other => answer(client, other, progress).await,
        }
    }
}

/// `BEGIN`, read committed when asked.
fn begin_sql(read_committed: bool) -> &'static str {
    if read_committed {
        "BEGIN ISOLATION LEVEL READ COMMITTED"
    } else {
        "BEGIN"
    }
}

/// Answers requests inside a transaction until the driver ends it.
async fn in_transaction(
    client: &Client,
    requests: &mut mpsc::UnboundedReceiver<Request>,
    progress: Option<&(dyn Fn(&Applied) + Sync)>,
    mut guard: RollbackOnDrop<'_>,
) {
    while let Some(request) = requests.recv().await {
        match request {
            Request::End {
                commit,
                before,
                reply,
            } => {
                // One message, so that both happen or neither.
                let ended = client
                    .batch_execute(&end_sql(commit, before.as_deref()))
                    .await;
                // Ended by that message; after an error (in `before`, which
                // skips the COMMIT) the guard rolls back what is left.
                guard.armed = ended.is_err();
                let _ = reply.send(ended);
                return;
            }
            Request::ExecuteCommit(statement, values, reply) => {
                let params = params(&values);
                let refs = refs(&params);
                let (executed, committed) = execute_then_commit(client, &statement, &refs).await;
                let sent = committed.is_some();
                guard.armed = !matches!(committed, Some(Ok(())));
                let _ = reply.send((executed, committed));
                // A COMMIT that was sent ended the transaction (or failed
                // with the connection); without one the driver rolls back.
                if sent {
                    return;
                }
            }
            other => answer(client, other, progress).await,
        }
    }
}

/// Sends `ROLLBACK` when dropped armed — a run dropped inside a
/// transaction — as `tokio_postgres::Transaction` does: the request is
/// queued on the connection by its first poll, and its answer not awaited.
struct RollbackOnDrop<'c> {
    client: &'c Client,
    armed: bool,
}

impl<'c> RollbackOnDrop<'c> {
    fn armed(client: &'c Client) -> Self {
        RollbackOnDrop {
            client,
            armed: true,
        }
    }
}

impl Drop for RollbackOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut rollback = std::pin::pin!(self.client.batch_execute("ROLLBACK"));
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            let _ = rollback.as_mut().poll(&mut cx);
        }
    }
}

/// Answers one request on `client`.
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
            let sql = format!("{}; {then}", begin_sql(read_committed));
            let _ = reply.send(client.simple_query(&sql).await);
        }
        Request::End {
            commit,
            before,
            reply,
        } => {
            let sql = end_sql(commit, before.as_deref());
            let _ = reply.send(client.batch_execute(&sql).await);
        }
        Request::Whole(sql, reply) => {
            let _ = reply.send(client.simple_query(&sql).await);
        }
        Request::Prepare(sql, reply) => {
            let _ = reply.send(client.prepare(&sql).await);
        }
        Request::ExecuteCommit(statement, values, reply) => {
            // No transaction of ours is open: one after the other.
            let params = params(&values);
            let executed = client.execute(&statement, &refs(&params)).await;
            let committed = match executed {
                Ok(_) => Some(client.batch_execute("COMMIT").await),
                Err(_) => None,
            };
            let _ = reply.send((executed, committed));
        }
        Request::Execute(statement, values, reply) => {
            let params = params(&values);
            let _ = reply.send(client.execute(&statement, &refs(&params)).await);
        }
        Request::Query(statement, values, reply) => {
            let params = params(&values);
            let _ = reply.send(client.query(&statement, &refs(&params)).await);
        }
        Request::QueryUnnamed(sql, values, reply) => {
            let _ = reply.send(query_unnamed(client, &sql, &values).await);
        }
        Request::Progress(applied) => {
            if let Some(progress) = progress {
                progress(&applied);
            }
        }
    }
}

/// Sends `statement` and, right behind it, `COMMIT`: one round trip. The
/// server runs them in order, so a failing statement leaves the COMMIT to
/// roll back. A statement that has failed by its first poll — before it
/// was sent (a value its parameter cannot take), or answered that fast —
/// sends no COMMIT (`None`): the driver rolls back.
async fn execute_then_commit(
    client: &Client,
    statement: &Statement,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> (Outcome<u64>, Option<Outcome<()>>) {
    let mut execute = std::pin::pin!(client.execute(statement, params));
    // The first poll sends the statement, or fails before sending anything.
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(execute.as_mut().poll(cx))).await;
    match first {
        std::task::Poll::Ready(Err(e)) => return (Err(e), None),
        // Already answered (the connection task runs on another thread).
        std::task::Poll::Ready(Ok(n)) => {
            return (Ok(n), Some(client.batch_execute("COMMIT").await));
        }
        std::task::Poll::Pending => {}
    }
    let (executed, committed) = both(execute, client.batch_execute("COMMIT")).await;
    (executed, Some(committed))
}

/// Awaits two futures at once, polling `first` first, so that what it
/// sends goes before what `second` sends.
async fn both<A: std::future::Future, B: std::future::Future>(
    first: A,
    second: B,
) -> (A::Output, B::Output) {
    let (mut first, mut second) = (std::pin::pin!(first), std::pin::pin!(second));
    let (mut a, mut b) = (None, None);
    std::future::poll_fn(|cx| {
        if a.is_none() {
            if let std::task::Poll::Ready(out) = first.as_mut().poll(cx) {
                a = Some(out);
            }
        }
        if b.is_none() {
            if let std::task::Poll::Ready(out) = second.as_mut().poll(cx) {
                b = Some(out);
            }
        }
        match (a.take(), b.take()) {
            (Some(x), Some(y)) => std::task::Poll::Ready((x, y)),
            (x, y) => {
                a = x;
                b = y;
                std::task::Poll::Pending
            }
        }
    })
    .await
}

/// [`Session::query_unnamed`](super::postgres::Session::query_unnamed) on the async client.
async fn query_unnamed(client: &Client, sql: &str, values: &[Value]) -> Outcome<(Vec<Row>, u64)> {
    use futures_util::TryStreamExt as _;
    let stream = client.query_typed_raw(sql, unnamed_params(values)).await?;
    let mut stream = std::pin::pin!(stream);
    let mut rows = Vec::new();
    while let Some(row) = stream.try_next().await? {
        rows.push(row);
    }
    let touched = stream.rows_affected().unwrap_or(rows.len() as u64);
    if looked_up_types(&rows) {
        client.clear_type_cache();
        client.batch_execute("DEALLOCATE ALL").await?;
    }
    Ok((rows, touched))
}
