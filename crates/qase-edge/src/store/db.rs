//! Runs [`engine::store::d1`] statements on D1 (`QASE_DB`): binds the
//! parameters (the body, where a statement asks for it, as text) and
//! returns rows or the number of rows changed. What a result means is the
//! engine's call.

use serde::de::DeserializeOwned;
use worker::d1::{D1Database, D1PreparedStatement};
use worker::wasm_bindgen::JsValue;
use worker::Env;

use engine::config::bindings;
use engine::store::d1::{Param, Statement};

/// The event store.
pub fn database(env: &Env) -> worker::Result<D1Database> {
    env.d1(bindings::DB)
}

/// `statement`, prepared and bound; `body` stands for [`Param::Body`].
pub fn prepare(
    db: &D1Database,
    statement: &Statement,
    body: Option<&[u8]>,
) -> worker::Result<D1PreparedStatement> {
    let values: Vec<JsValue> = statement
        .params
        .iter()
        .map(|param| match param {
            Param::Null => JsValue::NULL,
            Param::Int(n) => JsValue::from_f64(*n as f64),
            Param::Text(text) => JsValue::from_str(text),
            // Stored bodies passed the envelope check: they are UTF-8.
            Param::Body => body.map_or(JsValue::NULL, |bytes| {
                JsValue::from_str(&String::from_utf8_lossy(bytes))
            }),
        })
        .collect();
    db.prepare(statement.sql.as_ref()).bind(&values)
}

/// Runs a statement that selects rows.
pub async fn rows<T: DeserializeOwned>(
    db: &D1Database,
    statement: &Statement,
) -> worker::Result<Vec<T>> {
    prepare(db, statement, None)?.all().await?.results()
}

/// Runs writing statements in order, binding `body` where one asks for
/// it, up to the first that fails.
pub async fn write_all(
    db: &D1Database,
    statements: &[Statement],
    body: Option<&[u8]>,
) -> worker::Result<()> {
    for statement in statements {
        changes(db, statement, body).await?;
    }
    Ok(())
}

/// Runs a statement that writes; the number of rows it changed.
pub async fn changes(
    db: &D1Database,
    statement: &Statement,
    body: Option<&[u8]>,
) -> worker::Result<usize> {
    let result = prepare(db, statement, body)?.run().await?;
    Ok(result
        .meta()?
        .and_then(|meta| meta.changes)
        .unwrap_or_default())
}
