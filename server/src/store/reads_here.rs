//! Reads answered on the calling thread.
//!
//! sqlx runs each SQLite connection on a thread of its own, and every statement is a round trip
//! to it over a channel. On two cores those thread switches, not SQL, were half of what a request
//! cost (bench/README.md, "Where the time goes"). So the reads a request makes on its way — its
//! session with what the request needs beside it, then the records it answers with — are read
//! here instead: with rusqlite, on the calling thread, on connections the store keeps for it.
//! In WAL mode a read never waits for the writer, and an indexed read takes microseconds, less
//! than the switches it saves. Writes, and reads inside a write transaction, use the pool.
//!
//! Only reads come here, and only to go faster: the connections are `query_only`, never wait on
//! a busy database, and any failure — busy, an error, a value this code does not decode — is
//! "not answered here", and the caller asks the pool, which reports errors as every other read
//! does. The SQL is the same text the pool runs, bound as sqlx binds it (ids as 16-byte BLOBs,
//! times as the RFC 3339 text sqlx writes, which the stored times compare against), and a
//! conformance test holds the two answers equal. Postgres answers nothing here: its round trips
//! cross a socket, which blocking the caller would not save.

use std::cell::Cell;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use rusqlite::config::DbConfig;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde::de::DeserializeOwned;
use sqlx::types::Json;
use uuid::Uuid;

/// A value bound to a query's `$n`, the same for both paths.
#[derive(Clone, Copy, Debug)]
pub enum Param<'a> {
    Id(Uuid),
    Text(&'a str),
    Time(DateTime<Utc>),
    Int(i64),
    Flag(bool),
    OptionalId(Option<Uuid>),
}

/// Most ids one `IN (…)` list holds; longer lists are read a list at a time.
pub const ID_LIST_MOST: usize = 512;

/// `ids` padded with the last of them to a power of two in all (one value for none, the type's
/// default), which `IN` does not mind: a statement listing them is prepared for each of a few
/// sizes, not for every count of ids a request or a notification happens to name.
pub fn padded_to_power_of_two<T: Copy + Default>(ids: &[T]) -> impl Iterator<Item = T> + '_ {
    let last = ids.last().copied().unwrap_or_default();
    ids.iter()
        .copied()
        .chain(std::iter::repeat(last))
        .take(ids.len().max(1).next_power_of_two())
}

/// An `IN (…)` list of `ids` (at most [`ID_LIST_MOST`]): its placeholders, `$1, …, $n`, and the
/// values bound to them, [`padded_to_power_of_two`].
pub fn id_list(ids: &[Uuid]) -> (String, Vec<Param<'static>>) {
    let params: Vec<Param<'static>> = padded_to_power_of_two(ids).map(Param::Id).collect();
    let placeholders: Vec<String> = (1..=params.len()).map(|n| format!("${n}")).collect();
    (placeholders.join(", "), params)
}

/// A row type a read here can decode, column by column, by name.
pub trait HereRow: Sized {
    /// `None` when a column is missing or holds what this code does not decode.
    fn from_here(row: &Columns<'_>) -> Option<Self>;
}

/// What a database answers on the calling thread.
pub trait ReadsHere: Clone + Debug + Send + Sync + 'static {
    /// The one row or none that `sql` with `params` reads, or `None` when not answered here.
    fn fetch_optional<R: HereRow>(&self, sql: &str, params: &[Param<'_>]) -> Option<Option<R>>;

    /// Every row that `sql` with `params` reads, or `None` when not answered here.
    fn fetch_all<R: HereRow>(&self, sql: &str, params: &[Param<'_>]) -> Option<Vec<R>>;
}

/// Postgres: nothing is answered here.
#[derive(Clone, Copy, Debug)]
pub struct NotHere;

impl ReadsHere for NotHere {
    fn fetch_optional<R: HereRow>(&self, _sql: &str, _params: &[Param<'_>]) -> Option<Option<R>> {
        None
    }

    fn fetch_all<R: HereRow>(&self, _sql: &str, _params: &[Param<'_>]) -> Option<Vec<R>> {
        None
    }
}

/// How many idle connections a store keeps for reads here: one per thread that may call at
/// once. Callers are the runtime's worker threads (one per core), each holding one connection
/// for one statement; a caller finding none idle opens one, and a connection beyond the number
/// kept is closed after use — so the number kept must not be below the workers, or every read
/// past it would pay for opening a connection.
fn connections_kept() -> usize {
    std::thread::available_parallelism().map_or(4, |cores| cores.get().max(4))
}

/// SQLite over a file: reads on rusqlite connections of its own, taken from an idle list.
#[derive(Clone, Debug)]
pub struct SqliteReadsHere(Option<Arc<Connections>>);

#[derive(Debug)]
struct Connections {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    keep: usize,
}

impl SqliteReadsHere {
    /// Reads here on the file at `path`; none for a database with no file (in memory).
    pub fn on_file(path: &Path) -> Self {
        Self(path.is_file().then(|| {
            Arc::new(Connections {
                path: path.to_owned(),
                idle: Mutex::new(Vec::new()),
                keep: connections_kept(),
            })
        }))
    }
}

impl ReadsHere for SqliteReadsHere {
    fn fetch_optional<R: HereRow>(&self, sql: &str, params: &[Param<'_>]) -> Option<Option<R>> {
        self.with_connection(|connection| read(connection, sql, params, 1))
            .map(|mut rows| rows.pop())
    }

    fn fetch_all<R: HereRow>(&self, sql: &str, params: &[Param<'_>]) -> Option<Vec<R>> {
        self.with_connection(|connection| read(connection, sql, params, usize::MAX))
    }
}

impl SqliteReadsHere {
    fn with_connection<T>(&self, read: impl FnOnce(&Connection) -> Option<T>) -> Option<T> {
        let connections = self.0.as_ref()?;
        let connection = connections.take()?;
        let answer = read(&connection);
        connections.give_back(connection);
        answer
    }
}

impl Connections {
    fn take(&self) -> Option<Connection> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(connection) => Some(connection),
            None => open(&self.path),
        }
    }

    fn give_back(&self, connection: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.keep
        {
            idle.push(connection);
        }
    }
}

fn open(path: &Path) -> Option<Connection> {
    // The file exists (the pool made it); never create one, and never write through this one.
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ok()?;
    connection.pragma_update(None, "query_only", true).ok()?;
    // A plan that never depends on the values bound. Without this, SQLite plans a bound `LIMIT`
    // (or a range, given statistics) around the value it was first given, and any new binding
    // of that parameter makes the kept statement parse and plan its SQL again on every run: a
    // seventh of an access-log read (bench/README.md, "Reads, evening of 2026-12-05").
    connection
        .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .ok()?;
    // Busy means "ask the pool", whose connections wait.
    connection.busy_timeout(Duration::ZERO).ok()?;
    Some(connection)
}

/// Up to `most` rows of `sql`, or `None` if any of it failed.
fn read<R: HereRow>(
    connection: &Connection,
    sql: &str,
    params: &[Param<'_>],
    most: usize,
) -> Option<Vec<R>> {
    let mut statement = connection.prepare_cached(sql).ok()?;
    for index in 1..=statement.parameter_count() {
        // Named `$n`, as for sqlx, which binds the n-th value wherever `$n` stands.
        let position: usize = statement
            .parameter_name(index)?
            .strip_prefix('$')?
            .parse()
            .ok()?;
        let bound = match params.get(position.checked_sub(1)?)? {
            Param::Id(id) => statement.raw_bind_parameter(index, id.as_bytes().as_slice()),
            Param::Text(text) => statement.raw_bind_parameter(index, *text),
            Param::Time(at) => statement.raw_bind_parameter(index, sqlx_time_text(*at)),
            Param::Int(value) => statement.raw_bind_parameter(index, *value),
            Param::Flag(value) => statement.raw_bind_parameter(index, *value),
            Param::OptionalId(id) => {
                statement.raw_bind_parameter(index, id.as_ref().map(|id| id.as_bytes().as_slice()))
            }
        };
        bound.ok()?;
    }
    // Once a statement, not once a column of every row: each name read from SQLite is a call
    // into it, a length and a UTF-8 check, and finding columns so was a ninth of reading a page
    // of the access log.
    let names: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut rows = statement.raw_query();
    let mut read = Vec::new();
    while read.len() < most {
        match rows.next().ok()? {
            Some(row) => read.push(R::from_here(&Columns::of(row, &names))?),
            None => break,
        }
    }
    Some(read)
}

/// A row read here, its columns decoded as sqlx decodes them.
pub struct Columns<'r> {
    row: &'r rusqlite::Row<'r>,
    /// The statement's column names, in order.
    names: &'r [String],
    /// Where the next name is looked for first: rows are read in the order they were selected,
    /// so a name is found at the first look, not by comparing it with every column before it
    /// (rusqlite's own lookup by name, which was a sixth of reading an access log page).
    next: Cell<usize>,
}

// By hand, and without the values: a row holds what is never logged.
impl Debug for Columns<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Columns").finish_non_exhaustive()
    }
}

impl<'r> Columns<'r> {
    fn of(row: &'r rusqlite::Row<'r>, names: &'r [String]) -> Self {
        Self {
            row,
            names,
            next: Cell::new(0),
        }
    }

    /// The column named exactly `name` (as sqlx matches names).
    fn index(&self, name: &str) -> Option<usize> {
        let start = self.next.get();
        let found = (start..self.names.len())
            .chain(0..start)
            .find(|&index| self.names[index] == name)?;
        self.next.set(found + 1);
        Some(found)
    }

    fn value(&self, name: &str) -> Option<ValueRef<'_>> {
        self.row.get_ref(self.index(name)?).ok()
    }

    /// A column that may be NULL, read with one lookup: NULL is `Some(None)`.
    fn optional<T>(&self, name: &str, decode: fn(ValueRef<'_>) -> Option<T>) -> Option<Option<T>> {
        match self.value(name)? {
            ValueRef::Null => Some(None),
            value => decode(value).map(Some),
        }
    }

    pub fn id(&self, name: &str) -> Option<Uuid> {
        id(self.value(name)?)
    }

    pub fn optional_id(&self, name: &str) -> Option<Option<Uuid>> {
        self.optional(name, id)
    }

    pub fn text(&self, name: &str) -> Option<String> {
        text(self.value(name)?)
    }

    pub fn optional_text(&self, name: &str) -> Option<Option<String>> {
        self.optional(name, text)
    }

    pub fn bytes(&self, name: &str) -> Option<Vec<u8>> {
        match self.value(name)? {
            ValueRef::Blob(bytes) => Some(bytes.to_vec()),
            _ => None,
        }
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        int(self.value(name)?)
    }

    pub fn optional_int(&self, name: &str) -> Option<Option<i64>> {
        self.optional(name, int)
    }

    pub fn small_int(&self, name: &str) -> Option<i32> {
        self.int(name)?.try_into().ok()
    }

    pub fn optional_small_int(&self, name: &str) -> Option<Option<i32>> {
        self.optional(name, |value| int(value)?.try_into().ok())
    }

    /// A JSON column, as sqlx's `Json` reads it.
    pub fn json<T: DeserializeOwned>(&self, name: &str) -> Option<Json<T>> {
        json(self.value(name)?)
    }

    pub fn optional_json<T: DeserializeOwned>(&self, name: &str) -> Option<Option<Json<T>>> {
        self.optional(name, json)
    }

    pub fn flag(&self, name: &str) -> Option<bool> {
        flag(self.value(name)?)
    }

    pub fn optional_flag(&self, name: &str) -> Option<Option<bool>> {
        self.optional(name, flag)
    }

    /// A time as this store writes it (RFC 3339), or as SQLite's own functions do.
    pub fn time(&self, name: &str) -> Option<DateTime<Utc>> {
        time(self.value(name)?)
    }

    pub fn optional_time(&self, name: &str) -> Option<Option<DateTime<Utc>>> {
        self.optional(name, time)
    }
}

/// A time as sqlx stores it in SQLite (its `Encode` for `DateTime`), which stored times compare
/// against as text.
pub(super) fn sqlx_time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn id(value: ValueRef<'_>) -> Option<Uuid> {
    match value {
        ValueRef::Blob(bytes) => Uuid::from_slice(bytes).ok(),
        _ => None,
    }
}

fn text(value: ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::Text(text) => std::str::from_utf8(text).ok().map(str::to_owned),
        _ => None,
    }
}

fn int(value: ValueRef<'_>) -> Option<i64> {
    match value {
        ValueRef::Integer(value) => Some(value),
        _ => None,
    }
}

fn flag(value: ValueRef<'_>) -> Option<bool> {
    int(value).map(|value| value != 0)
}

fn json<T: DeserializeOwned>(value: ValueRef<'_>) -> Option<Json<T>> {
    match value {
        ValueRef::Text(text) | ValueRef::Blob(text) => serde_json::from_slice(text).ok().map(Json),
        _ => None,
    }
}

fn time(value: ValueRef<'_>) -> Option<DateTime<Utc>> {
    let ValueRef::Text(text) = value else {
        return None;
    };
    let text = std::str::from_utf8(text).ok()?;
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%F %T%.f").map(|at| at.and_utc()))
        .ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use rusqlite::StatementStatus;

    #[derive(Debug, PartialEq)]
    struct Named {
        name: String,
    }

    impl HereRow for Named {
        fn from_here(row: &Columns<'_>) -> Option<Self> {
            Some(Named {
                name: row.text("name")?,
            })
        }
    }

    fn database() -> (tempfile::TempDir, SqliteReadsHere) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("here.sqlite");
        let setup = Connection::open(&path).unwrap();
        setup
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER, name TEXT); \
                 INSERT INTO t VALUES (1, 'one'), (2, 'two');",
            )
            .unwrap();
        (dir, SqliteReadsHere::on_file(&path))
    }

    #[test]
    fn reads_bind_dollar_numbers_wherever_they_stand_and_keep_their_connection() {
        let (_dir, here) = database();
        let one: Option<Option<Named>> = here.fetch_optional(
            "SELECT name FROM t WHERE id = $2 AND name <> $1",
            &[Param::Text("none"), Param::Int(1)],
        );
        assert_eq!(one, Some(Some(Named { name: "one".into() })));
        let all: Option<Vec<Named>> = here.fetch_all("SELECT name FROM t ORDER BY id", &[]);
        assert_eq!(all.map(|rows| rows.len()), Some(2));
        let none: Option<Option<Named>> =
            here.fetch_optional("SELECT name FROM t WHERE id = $1", &[Param::Int(3)]);
        assert_eq!(none, Some(None));
        // One caller at a time: one connection, opened once and kept.
        let connections = here.0.as_ref().unwrap();
        assert_eq!(connections.idle.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_kept_statement_is_not_planned_again_for_new_values() {
        let (_dir, here) = database();
        for limit in [1, 2, 1, 2] {
            let rows: Option<Vec<Named>> = here.fetch_all(
                "SELECT name FROM t WHERE id > $1 ORDER BY id LIMIT $2",
                &[Param::Int(0), Param::Int(limit)],
            );
            assert_eq!(rows.map(|rows| rows.len()), Some(limit as usize));
        }
        let connections = here.0.as_ref().unwrap();
        let connection = connections.take().unwrap();
        let statement = connection
            .prepare_cached("SELECT name FROM t WHERE id > $1 ORDER BY id LIMIT $2")
            .unwrap();
        assert_eq!(statement.get_status(StatementStatus::RePrepare), 0);
    }

    #[test]
    fn nothing_is_written_here_and_what_fails_is_left_to_the_pool() {
        let (_dir, here) = database();
        let write: Option<Vec<Named>> = here.fetch_all("DELETE FROM t RETURNING name", &[]);
        assert_eq!(write, None, "query_only refuses the write");
        let missing: Option<Vec<Named>> = here.fetch_all("SELECT id FROM t", &[]);
        assert_eq!(missing, None, "a column the row does not have");
        let unbound: Option<Vec<Named>> =
            here.fetch_all("SELECT name FROM t WHERE id = $2", &[Param::Int(1)]);
        assert_eq!(unbound, None, "a parameter with no value");
        let all: Option<Vec<Named>> = here.fetch_all("SELECT name FROM t", &[]);
        assert_eq!(all.map(|rows| rows.len()), Some(2), "both rows still there");
    }

    /// Columns read in an order of their own, NULL and not.
    #[derive(Debug, PartialEq)]
    struct Reordered {
        name: Option<String>,
        id: i64,
        missing: Option<String>,
    }

    impl HereRow for Reordered {
        fn from_here(row: &Columns<'_>) -> Option<Self> {
            Some(Reordered {
                name: row.optional_text("name")?,
                id: row.int("id")?,
                missing: row.optional_text("missing")?,
            })
        }
    }

    #[test]
    fn columns_are_found_by_their_exact_name_in_any_order() {
        let (_dir, here) = database();
        let rows: Option<Vec<Reordered>> =
            here.fetch_all("SELECT id, NULL AS missing, name FROM t ORDER BY id", &[]);
        assert_eq!(
            rows,
            Some(vec![
                Reordered {
                    name: Some("one".into()),
                    id: 1,
                    missing: None
                },
                Reordered {
                    name: Some("two".into()),
                    id: 2,
                    missing: None
                },
            ])
        );
        // As sqlx matches names: exactly, so `NAME` is not `name`.
        let shouted: Option<Vec<Reordered>> =
            here.fetch_all("SELECT id, NULL AS missing, name AS NAME FROM t", &[]);
        assert_eq!(shouted, None);
    }

    #[test]
    fn an_id_list_is_padded_to_a_power_of_two_with_its_last_id() {
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
        let (placeholders, params) = id_list(&ids);
        assert_eq!(placeholders, "$1, $2, $3, $4, $5, $6, $7, $8");
        let bound: Vec<Uuid> = params
            .iter()
            .map(|param| match param {
                Param::Id(id) => *id,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(bound[..5], ids[..]);
        assert_eq!(bound[5..], [ids[4]; 3]);
        assert_eq!(id_list(&ids[..4]).1.len(), 4);
        // Any id type, the last repeated; none is one default value.
        assert_eq!(
            padded_to_power_of_two(&[7_i64, 8, 9]).collect::<Vec<_>>(),
            [7, 8, 9, 9]
        );
        assert_eq!(padded_to_power_of_two(&[7_i64]).collect::<Vec<_>>(), [7]);
        assert_eq!(padded_to_power_of_two::<i64>(&[]).collect::<Vec<_>>(), [0]);
        assert_eq!(id_list(&ids[..1]).0, "$1");
    }

    #[test]
    fn a_database_without_a_file_answers_nothing_here() {
        let here = SqliteReadsHere::on_file(Path::new(":memory:"));
        let rows: Option<Vec<Named>> = here.fetch_all("SELECT 'x' AS name", &[]);
        assert_eq!(rows, None);
    }
}
