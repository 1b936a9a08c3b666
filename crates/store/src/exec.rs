//! One SQL text, two ways to run it (issue #11 item 4): the group writes of issuance run
//! either through a sqlx transaction (PostgreSQL, and SQLite where no writer of its own
//! is open) or synchronously on SQLite's own writer connection ([`LiteWriter`]).
//!
//! Why a second way on SQLite: sqlx runs every SQLite statement on its connection's
//! thread and hands each statement, and each row it returns, across threads; a group
//! write of a dozen statements paid that hand-off a dozen times, each waiting for the
//! other thread to be scheduled on a machine busy signing
//! (docs/performance-issuance-earlier.md). Here the whole group runs on one blocking thread,
//! statement after statement, with prepared statements kept between groups.
//!
//! The group code is written once, generic over [`Exec`]; its statements use `$N`
//! parameters, which both ways bind by number.

use crate::{Result, StoreError};
use sqlx::{Any, Row as _, Transaction};
use std::future::Future;
use std::sync::{Arc, Mutex};

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
    /// NULL where an integer could stand.
    NullInt,
    /// NULL where text could stand.
    NullText,
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Text(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Text(v.to_owned())
    }
}
impl From<Vec<u8>> for Val {
    fn from(v: Vec<u8>) -> Val {
        Val::Blob(v)
    }
}
impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Val {
        v.map_or(Val::NullInt, Val::Int)
    }
}

/// A row a statement returned.
pub enum Row {
    /// Through sqlx.
    Any(sqlx::any::AnyRow),
    /// Through the SQLite writer: the values, in column order.
    Vals(Vec<Val>),
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Row::Any(r) => write!(f, "Row::Any({} columns)", r.columns.len()),
            Row::Vals(v) => f.debug_tuple("Row::Vals").field(v).finish(),
        }
    }
}

impl Row {
    fn val(&self, i: usize) -> Result<&Val> {
        match self {
            Row::Vals(v) => v
                .get(i)
                .ok_or_else(|| StoreError::corrupt(format!("column {i} missing"))),
            Row::Any(_) => Err(StoreError::corrupt("not a SQLite writer row")),
        }
    }

    /// Column `i` as an integer.
    pub fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?
            .ok_or_else(|| StoreError::corrupt(format!("column {i} is NULL")))
    }

    /// Column `i` as an integer or NULL.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self {
            Row::Any(r) => Ok(r.try_get(i)?),
            Row::Vals(_) => match self.val(i)? {
                Val::Int(v) => Ok(Some(*v)),
                Val::NullInt | Val::NullText => Ok(None),
                other => Err(StoreError::corrupt(format!("column {i}: {other:?}"))),
            },
        }
    }

    /// Column `i` as text.
    pub fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?
            .ok_or_else(|| StoreError::corrupt(format!("column {i} is NULL")))
    }

    /// Column `i` as text or NULL.
    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self {
            Row::Any(r) => Ok(r.try_get(i)?),
            Row::Vals(_) => match self.val(i)? {
                Val::Text(v) => Ok(Some(v.clone())),
                Val::NullInt | Val::NullText => Ok(None),
                other => Err(StoreError::corrupt(format!("column {i}: {other:?}"))),
            },
        }
    }
}

/// Runs statements inside an open transaction.
pub trait Exec: Send {
    /// Runs `sql` with `args` (bound to `$1`, `$2`, …); returns the rows it changed.
    fn run(&mut self, sql: &str, args: Vec<Val>) -> impl Future<Output = Result<u64>> + Send;
    /// Runs `sql` with `args`; returns its rows.
    fn rows(&mut self, sql: &str, args: Vec<Val>) -> impl Future<Output = Result<Vec<Row>>> + Send;
}

fn bind_any<'q>(
    mut q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    args: Vec<Val>,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for a in args {
        q = match a {
            Val::Int(v) => q.bind(v),
            Val::Text(v) => q.bind(v),
            Val::Blob(v) => q.bind(v),
            Val::NullInt => q.bind(None::<i64>),
            Val::NullText => q.bind(None::<String>),
        };
    }
    q
}

impl Exec for Transaction<'_, Any> {
    async fn run(&mut self, sql: &str, args: Vec<Val>) -> Result<u64> {
        Ok(bind_any(sqlx::query(sql), args)
            .execute(&mut **self)
            .await?
            .rows_affected())
    }

    async fn rows(&mut self, sql: &str, args: Vec<Val>) -> Result<Vec<Row>> {
        Ok(bind_any(sqlx::query(sql), args)
            .fetch_all(&mut **self)
            .await?
            .into_iter()
            .map(Row::Any)
            .collect())
    }
}

/// A write transaction's work, run by [`crate::Store::write`] on whichever executor the
/// backend has.
pub trait Work: Send + 'static {
    /// What it returns after the commit.
    type Out: Send + 'static;
    /// Everything but BEGIN and COMMIT.
    fn run<E: Exec>(self, tx: &mut E) -> impl Future<Output = Result<Self::Out>> + Send;
}

impl crate::Store {
    /// Runs `work` in one write transaction. SQLite with a writer of its own: on a
    /// blocking thread, while holding sqlx's writer connection (nobody else writes
    /// meanwhile, so neither waits on SQLite's lock), kept for a group write that
    /// follows at once ([`GATE_LINGER`], [`GATE_MAX_HOLD`]); else in a sqlx transaction.
    pub async fn write<W: Work>(&self, work: W) -> Result<W::Out> {
        if let Some(lite) = &self.lite {
            let gate = match lite.take_gate() {
                Some(gate) => gate,
                None => Gate {
                    _conn: self.pool.acquire().await?,
                    since: std::time::Instant::now(),
                },
            };
            let writer = lite.clone();
            let (out, gate) = tokio::task::spawn_blocking(move || {
                let out = writer.transaction(|tx| complete_now(work.run(tx)));
                (out, gate)
            })
            .await
            .map_err(|e| StoreError::corrupt(format!("SQLite writer thread: {e}")))?;
            lite.park_gate(gate);
            return out;
        }
        let mut tx = self.begin().await?;
        let out = work.run(&mut tx).await?;
        tx.commit().await?;
        Ok(out)
    }
}

/// SQLite's writer held for a run of group writes on one blocking thread (issue #11
/// item 4): [`crate::Store::writer_session`] takes the gate (sqlx's writer connection)
/// once, then [`WriterSession::write`] runs one transaction after another on the
/// caller's thread — no hand-off to a blocking thread and back per group, which cost
/// about a seventh of a group's time. [`WriterSession::end`] gives the gate back (or
/// keeps it a moment for the next run, as [`crate::Store::write`] does).
#[derive(Debug)]
pub struct WriterSession {
    writer: LiteWriter,
    gate: Gate,
}

impl WriterSession {
    /// Runs `work` in one `BEGIN IMMEDIATE … COMMIT` transaction on this thread (a
    /// blocking one: never an async worker).
    pub fn write<W: Work>(&self, work: W) -> Result<W::Out> {
        self.writer.transaction(|tx| complete_now(work.run(tx)))
    }

    /// Whether the gate has been held long enough that a write waiting for sqlx's pool
    /// (a page's) should go first ([`GATE_MAX_HOLD`]).
    pub fn should_yield(&self) -> bool {
        self.gate.since.elapsed() >= GATE_MAX_HOLD
    }

    /// Ends the run (on an async worker): the gate is kept for a write that follows at
    /// once, or goes back to the pool.
    pub fn end(self) {
        self.writer.park_gate(self.gate);
    }
}

impl crate::Store {
    /// SQLite's writer for a run of group writes on a blocking thread, or `None` where
    /// there is no writer of its own (PostgreSQL: use [`crate::Store::write`]).
    pub async fn writer_session(&self) -> Result<Option<WriterSession>> {
        let Some(lite) = &self.lite else {
            return Ok(None);
        };
        let gate = match lite.take_gate() {
            Some(gate) => gate,
            None => Gate {
                _conn: self.pool.acquire().await?,
                since: std::time::Instant::now(),
            },
        };
        Ok(Some(WriterSession {
            writer: lite.clone(),
            gate,
        }))
    }
}

/// SQLite's writer connection of its own (issue #11 item 4), beside sqlx's pool: the
/// group writes of issuance run on it synchronously. It writes only while holding
/// sqlx's single writer connection (the caller's guard, [`crate::Store`]), so the two
/// never wait on SQLite's lock for each other.
#[derive(Debug, Clone)]
pub(crate) struct LiteWriter {
    conn: Arc<Mutex<rusqlite::Connection>>,
    /// sqlx's writer connection, kept between group writes that follow each other.
    parked: Arc<Mutex<Parked>>,
}

/// sqlx's writer connection held as the gate of a group write.
#[derive(Debug)]
struct Gate {
    /// Held for as long as the gate is (given back to the pool when dropped).
    _conn: sqlx::pool::PoolConnection<Any>,
    /// When it was taken from the pool.
    since: std::time::Instant,
}

/// The gate kept after a group write, for the next one.
#[derive(Debug, Default)]
struct Parked {
    gate: Option<Gate>,
    /// Counts the parkings: a linger timer releases only the gate of its own.
    round: u64,
}

/// How long the gate waits for the next group write before it goes back to the pool.
/// Giving sqlx's connection back costs a round trip to its thread (sqlx pings a
/// connection when it is returned), about a tenth of a group write under load; group
/// writes under load follow each other well within this.
const GATE_LINGER: std::time::Duration = std::time::Duration::from_millis(1);

/// The longest the group writes keep the gate from the pool in one go: then it goes
/// back, and a page's write waiting for the connection (the pool serves its waiters in
/// order) writes before the next group.
const GATE_MAX_HOLD: std::time::Duration = std::time::Duration::from_millis(20);

/// Prepared statements kept between groups: a group's multi-row statements differ by
/// their row count, so each size is its own statement.
const STATEMENT_CACHE: usize = 512;

impl LiteWriter {
    /// Opens `path` with the settings of sqlx's writer (WAL, full sync, foreign keys).
    pub(crate) fn open(path: &str) -> Result<LiteWriter> {
        let conn = rusqlite::Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA busy_timeout = 5000; PRAGMA temp_store = MEMORY;",
        )?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(LiteWriter {
            conn: Arc::new(Mutex::new(conn)),
            parked: Arc::default(),
        })
    }

    /// The gate a previous group write kept, if it is still kept.
    fn take_gate(&self) -> Option<Gate> {
        let mut parked = self.parked.lock().unwrap_or_else(|p| p.into_inner());
        parked.gate.take()
    }

    /// Keeps `gate` for the next group write for [`GATE_LINGER`], unless it has been
    /// held for [`GATE_MAX_HOLD`] already: then it goes back to the pool at once.
    fn park_gate(&self, gate: Gate) {
        if gate.since.elapsed() >= GATE_MAX_HOLD {
            return;
        }
        let round = {
            let mut parked = self.parked.lock().unwrap_or_else(|p| p.into_inner());
            parked.round = parked.round.wrapping_add(1);
            parked.gate = Some(gate);
            parked.round
        };
        let slot = self.parked.clone();
        tokio::spawn(async move {
            tokio::time::sleep(GATE_LINGER).await;
            let released = {
                let mut parked = slot.lock().unwrap_or_else(|p| p.into_inner());
                if parked.round == round {
                    parked.gate.take()
                } else {
                    None
                }
            };
            drop(released);
        });
    }

    /// Runs `work` in one `BEGIN IMMEDIATE … COMMIT` transaction on this thread (a
    /// blocking one: the caller runs it off the async workers). An error rolls it back;
    /// so does the next transaction if a panic left one open.
    pub(crate) fn transaction<T>(
        &self,
        work: impl FnOnce(&mut Lite<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !conn.is_autocommit() {
            conn.execute_batch("ROLLBACK")?;
        }
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let mut lite = Lite(&mut conn);
        match work(&mut lite) {
            Ok(out) => match conn.execute_batch("COMMIT") {
                Ok(()) => Ok(out),
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    Err(e.into())
                }
            },
            Err(e) => {
                conn.execute_batch("ROLLBACK")?;
                Err(e)
            }
        }
    }
}

/// A column's Rust type that both sqlx and rusqlite read (an integer, text, a flag, or
/// either or NULL).
pub(crate) trait ColType:
    rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>
{
}

impl<T> ColType for T where
    T: rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>
{
}

/// A row's columns by name, read through sqlx or through rusqlite: the mapping of a
/// record (`applications::app_of`) is written once for both.
pub(crate) trait Cols {
    /// Column `name` as `T`.
    fn col<T: ColType>(&self, name: &str) -> Result<T>;
}

impl Cols for sqlx::any::AnyRow {
    fn col<T: ColType>(&self, name: &str) -> Result<T> {
        Ok(self.try_get(name)?)
    }
}

impl Cols for rusqlite::Row<'_> {
    fn col<T: ColType>(&self, name: &str) -> Result<T> {
        Ok(self.get(name)?)
    }
}

/// Read-only SQLite connections of its own (issue #11 item 4), for the reads that run
/// synchronously on a thread of the CPU pool as part of a job: the issuance's read of
/// its application then costs no hand-over to sqlx's reader threads and back. WAL lets
/// them read while the writer writes, like sqlx's readers.
#[derive(Debug, Clone)]
pub(crate) struct LiteReaders {
    path: Arc<str>,
    idle: Arc<Mutex<Vec<rusqlite::Connection>>>,
}

/// Idle connections kept (one per CPU-pool thread is the most in use at once).
const LITE_READERS_KEPT: usize = 4;

impl LiteReaders {
    pub(crate) fn new(path: &str) -> LiteReaders {
        LiteReaders {
            path: path.into(),
            idle: Arc::default(),
        }
    }

    fn open(&self) -> Result<rusqlite::Connection> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &*self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch(
            "PRAGMA query_only = ON; PRAGMA busy_timeout = 5000; PRAGMA temp_store = MEMORY;",
        )?;
        Ok(conn)
    }

    /// Runs `read` on an idle connection (or a new one) on this thread.
    pub(crate) fn read<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T>,
    ) -> Result<T> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let out = read(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < LITE_READERS_KEPT {
            idle.push(conn);
        }
        out
    }
}

/// Polls `fut` once, to its end: a future over [`Lite`] never waits (its statements run
/// in place), so one poll finishes it; one that would wait is an error, not a hang.
pub(crate) fn complete_now<T>(fut: impl Future<Output = Result<T>>) -> Result<T> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => Err(StoreError::corrupt("a SQLite writer step waited")),
    }
}

/// `sql` with each `$N` parameter written `?N` (the statements here have no `$` in
/// their literals).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// [`Exec`] on the SQLite writer's open transaction, on the thread that holds its lock.
pub(crate) struct Lite<'c>(&'c mut rusqlite::Connection);

impl Lite<'_> {
    fn prepared(&self, sql: &str, args: &[Val]) -> Result<rusqlite::CachedStatement<'_>> {
        // `$N` becomes `?N`, which SQLite binds to index N itself (a `$N` is a name,
        // looked up along a list for each parameter: slow for a thousand of them).
        let mut st = self.0.prepare_cached(&numbered(sql))?;
        let count = st.parameter_count();
        if count > args.len() {
            return Err(StoreError::corrupt(format!(
                "{count} parameters, {} arguments",
                args.len()
            )));
        }
        for (i, v) in args.iter().take(count).enumerate() {
            let i = i + 1;
            match v {
                Val::Int(v) => st.raw_bind_parameter(i, v)?,
                Val::Text(v) => st.raw_bind_parameter(i, v)?,
                Val::Blob(v) => st.raw_bind_parameter(i, v)?,
                Val::NullInt | Val::NullText => st.raw_bind_parameter(i, rusqlite::types::Null)?,
            }
        }
        Ok(st)
    }

    /// Runs a statement; the rows it changed.
    pub(crate) fn run_now(&self, sql: &str, args: &[Val]) -> Result<u64> {
        let mut st = self.prepared(sql, args)?;
        let n = st.raw_execute()?;
        Ok(u64::try_from(n).unwrap_or(u64::MAX))
    }

    /// Runs a statement; its rows.
    pub(crate) fn rows_now(&self, sql: &str, args: &[Val]) -> Result<Vec<Row>> {
        let mut st = self.prepared(sql, args)?;
        let columns = st.column_count();
        let mut rows = st.raw_query();
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut vals = Vec::with_capacity(columns);
            for i in 0..columns {
                use rusqlite::types::ValueRef;
                vals.push(match r.get_ref(i)? {
                    ValueRef::Null => Val::NullInt,
                    ValueRef::Integer(v) => Val::Int(v),
                    ValueRef::Real(v) => Val::Text(v.to_string()),
                    ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Val::Blob(b.to_vec()),
                });
            }
            out.push(Row::Vals(vals));
        }
        Ok(out)
    }
}

impl Exec for Lite<'_> {
    async fn run(&mut self, sql: &str, args: Vec<Val>) -> Result<u64> {
        self.run_now(sql, &args)
    }

    async fn rows(&mut self, sql: &str, args: Vec<Val>) -> Result<Vec<Row>> {
        self.rows_now(sql, &args)
    }
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn dollar_parameters_become_numbered_question_marks() {
        assert_eq!(
            numbered("UPDATE t SET a = $2 WHERE id = $1 AND b > $2 AND c = '$x'"),
            "UPDATE t SET a = ?2 WHERE id = ?1 AND b > ?2 AND c = '$x'"
        );
    }
}
