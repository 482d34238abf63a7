//! The harness: an in-memory SQLite with every file of `migrations/`
//! applied in order, statements bound as the shell binds them
//! (`crates/qase-edge/src/store/db.rs`), rows answered as D1 answers them
//! (a JSON object per row, by column name, read with the engine's own serde
//! types), and the record of what was built and run that
//! [`super::coverage`] checks.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use engine::store::d1::{self, Param, Statement};
use rusqlite::types::{Value, ValueRef};
use rusqlite::Connection;
use serde::de::DeserializeOwned;
use serde_json::Map;

thread_local! {
    /// `(module::function, SQL text)` of every statement `built!` made.
    static BUILT: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
    /// The SQL text of every statement run.
    static EXECUTED: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
}

/// What a constructor returns: one statement or several.
pub trait Statements {
    /// Their SQL texts.
    fn texts(&self) -> Vec<String>;
}

impl Statements for Statement {
    fn texts(&self) -> Vec<String> {
        vec![self.sql.to_string()]
    }
}

impl<const N: usize> Statements for [Statement; N] {
    fn texts(&self) -> Vec<String> {
        self.iter().map(|s| s.sql.to_string()).collect()
    }
}

impl Statements for Vec<Statement> {
    fn texts(&self) -> Vec<String> {
        self.iter().map(|s| s.sql.to_string()).collect()
    }
}

impl Statements for Option<Statement> {
    fn texts(&self) -> Vec<String> {
        self.iter().map(|s| s.sql.to_string()).collect()
    }
}

/// Notes what the constructor at `path` (`module::function`, or
/// `module::Type::method`) built; the key is `module::function`.
pub fn note_built(path: &str, value: &impl Statements) {
    let segments: Vec<&str> = path.split("::").map(str::trim).collect();
    let key = format!("{}::{}", segments[0], segments[segments.len() - 1]);
    BUILT.with(|built| {
        let mut built = built.borrow_mut();
        for text in value.texts() {
            built.push((key.clone(), text));
        }
    });
}

/// Forgets what this thread built and ran.
pub fn reset() {
    BUILT.with(|built| built.borrow_mut().clear());
    EXECUTED.with(|executed| executed.borrow_mut().clear());
}

/// What this thread built and ran since [`reset`].
pub fn record() -> (Vec<(String, String)>, BTreeSet<String>) {
    (
        BUILT.with(|built| built.borrow().clone()),
        EXECUTED.with(|executed| executed.borrow().clone()),
    )
}

/// A row as D1 answers it: a JSON object by column name.
pub type Row = Map<String, serde_json::Value>;

/// The workspace's `migrations/`, in the order wrangler applies them.
fn migrations() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("migrations/ is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "migrations found: {files:?}");
    files
}

/// The shell's binding of one parameter (`db::prepare`): `Param::Body` is
/// the delivery's bytes as text, or `NULL` when the call has none. An
/// integer goes to D1 as a JavaScript number, which D1 stores as an
/// `INTEGER` when it is whole (every engine integer is, and within 2^53).
fn value(param: &Param, body: Option<&[u8]>) -> Value {
    match param {
        Param::Null => Value::Null,
        Param::Int(n) => Value::Integer(*n),
        Param::Text(text) => Value::Text(text.clone()),
        Param::Body => body.map_or(Value::Null, |bytes| {
            Value::Text(String::from_utf8_lossy(bytes).into_owned())
        }),
    }
}

/// A column's value as D1's JSON rows carry it.
fn json(value: ValueRef<'_>) -> serde_json::Value {
    match value {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(n) => n.into(),
        ValueRef::Real(x) => {
            serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, Into::into)
        }
        ValueRef::Text(text) => String::from_utf8_lossy(text).into_owned().into(),
        ValueRef::Blob(bytes) => bytes.iter().map(|b| serde_json::Value::from(*b)).collect(),
    }
}

/// What running a statement returned: its rows and the rows it changed.
#[derive(Debug)]
pub struct Answer {
    /// The rows (a `SELECT`, or `RETURNING`).
    pub rows: Vec<Row>,
    /// Rows changed (`0` for a read).
    pub changes: usize,
}

/// The event store, migrated.
pub struct Db {
    conn: Connection,
}

impl Db {
    /// A fresh in-memory database with `migrations/` applied.
    pub fn new() -> Db {
        let conn = Connection::open_in_memory().expect("SQLite opens");
        for file in migrations() {
            let sql = std::fs::read_to_string(&file).expect("a migration is readable");
            conn.execute_batch(&sql)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
        Db { conn }
    }

    /// Runs `statement` as the shell does, `body` standing for
    /// `Param::Body`; an SQL error is `Err`.
    pub fn try_run(&self, statement: &Statement, body: Option<&[u8]>) -> rusqlite::Result<Answer> {
        EXECUTED.with(|executed| executed.borrow_mut().insert(statement.sql.to_string()));
        let mut prepared = self.conn.prepare(&statement.sql)?;
        // D1 refuses a statement whose parameter count is not the
        // placeholders' (SQLite would leave the rest NULL).
        assert_eq!(
            prepared.parameter_count(),
            statement.params.len(),
            "parameters of {}",
            statement.sql
        );
        for (at, param) in statement.params.iter().enumerate() {
            prepared.raw_bind_parameter(at + 1, value(param, body))?;
        }
        let names: Vec<String> = prepared.column_names().map(str::to_owned).collect();
        let readonly = prepared.readonly();
        let mut rows = Vec::new();
        let mut cursor = prepared.raw_query();
        while let Some(row) = cursor.next()? {
            let mut object = Row::new();
            for (at, name) in names.iter().enumerate() {
                object.insert(name.clone(), json(row.get_ref(at)?));
            }
            rows.push(object);
        }
        drop(cursor);
        let changes = match readonly {
            true => 0,
            false => self.conn.changes() as usize,
        };
        Ok(Answer { rows, changes })
    }

    /// Runs `statement`, which must succeed.
    pub fn run(&self, statement: &Statement, body: Option<&[u8]>) -> Answer {
        self.try_run(statement, body)
            .unwrap_or_else(|e| panic!("{e}: {}", statement.sql))
    }

    /// `db::changes`: the rows a write changed.
    pub fn changes(&self, statement: &Statement, body: Option<&[u8]>) -> usize {
        self.run(statement, body).changes
    }

    /// `db::rows`: the rows read, as the engine's row type.
    pub fn rows<T: DeserializeOwned>(&self, statement: &Statement) -> Vec<T> {
        self.run(statement, None)
            .rows
            .into_iter()
            .map(|row| {
                serde_json::from_value(serde_json::Value::Object(row.clone()))
                    .unwrap_or_else(|e| panic!("{e}: {row:?} from {}", statement.sql))
            })
            .collect()
    }

    /// D1's batch: every statement in one transaction, their changes.
    pub fn batch(&mut self, statements: &[Statement]) -> Vec<usize> {
        self.conn
            .execute_batch("BEGIN")
            .expect("a transaction begins");
        let changes = statements.iter().map(|s| self.changes(s, None)).collect();
        self.conn
            .execute_batch("COMMIT")
            .expect("the transaction commits");
        changes
    }

    /// A look at the tables with SQL of the test's own (not counted as a
    /// statement of the engine).
    pub fn look(&self, sql: &str) -> Vec<Row> {
        let mut prepared = self.conn.prepare(sql).expect("the test's SQL prepares");
        let names: Vec<String> = prepared.column_names().map(str::to_owned).collect();
        let mut cursor = prepared.raw_query();
        let mut rows = Vec::new();
        while let Some(row) = cursor.next().expect("the test's SQL runs") {
            let mut object = Row::new();
            for (at, name) in names.iter().enumerate() {
                object.insert(name.clone(), json(row.get_ref(at).expect("a column")));
            }
            rows.push(object);
        }
        rows
    }

    /// One value of the test's own SQL.
    pub fn scalar(&self, sql: &str) -> serde_json::Value {
        let rows = self.look(sql);
        assert_eq!(rows.len(), 1, "{sql}");
        rows[0].values().next().cloned().expect("a column")
    }
}

/// A Qase envelope of `event_name` in `project`, its payload `payload`.
pub fn body(event_name: &str, project: &str, payload: &str) -> Vec<u8> {
    format!(
        r#"{{"event_name":"{event_name}","timestamp":1700000000,"payload":{payload},"team_member_id":7,"project_code":"{project}"}}"#
    )
    .into_bytes()
}

/// The event id of `body` (what ingest names it).
pub fn id_of(body: &[u8]) -> String {
    qase_webhooks::EventId::of(body).to_string()
}

/// The row the engine records for `body`, as ingest and the sweep build it.
pub fn new_event(
    body: &[u8],
    received_at: u64,
    outcome: engine::store::types::EventStatus,
    forward: engine::store::types::Forward,
) -> engine::store::d1::NewEvent {
    let envelope = qase_webhooks::Envelope::parse(body).expect("an envelope");
    engine::store::d1::NewEvent {
        id: id_of(body),
        event_name: envelope.event_name.to_string(),
        project_code: envelope.project_code.clone(),
        team_member_id: envelope.team_member_id,
        received_at,
        outcome,
        reason: (outcome == engine::store::types::EventStatus::Quarantined)
            .then(|| "payload.id: expected a number".to_owned()),
        subjects: qase_webhooks::Subjects::of(envelope.event_name.as_str(), envelope.payload),
        forward,
        size: body.len(),
        body_in_kv: false,
    }
}

/// Records `event` as the sweep's rescue does (any `forward`), its body in the row.
pub fn insert(db: &Db, event: &engine::store::d1::NewEvent, body: &[u8]) {
    let statement = crate::built!(d1::rescue_insert(event));
    assert_eq!(db.changes(&statement, Some(body)), 1, "{}", event.id);
}
