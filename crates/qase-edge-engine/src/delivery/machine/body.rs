//! Finding a queued event's body, wherever it is kept: the message, else
//! the event's row in D1 ([`records::body_at`]), else KV `event/`,
//! `quarantine/`, then the rescue copy `rescue/`. Used by the delivery
//! machine and the dead-letter machine alike.

use super::{failure, Op, OpResult};
use crate::delivery::messages::QueuedDelivery;
use crate::delivery::records::{self, BodyAt};
use crate::store::layout;

/// How many places in KV a body may be.
const KV_KEYS: usize = 3;

/// Where a body the message does not carry may be in KV, in order.
fn kv_keys(id: &str) -> [String; KV_KEYS] {
    [
        layout::event_key(id),
        layout::quarantine_key(id),
        // D1 failed at ingest and the body was too large for the message:
        // the rescue copy holds it until the sweep moves it into D1.
        layout::rescue_key(id),
    ]
}

/// Where the search stands: the result of which read it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Row,
    Kv(usize),
}

/// What the search found, or the read it needs next.
// Short-lived: its operation moves straight into the round's list.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Found {
    /// The body.
    Body(Vec<u8>),
    /// Carry out this read and feed its result to [`BodySearch::feed`].
    Read(Op),
    /// In no store (yet), or a store failed: in words.
    Missing(String),
}

/// The search for one message's body.
#[derive(Debug)]
pub(super) struct BodySearch {
    id: String,
    place: Place,
}

impl BodySearch {
    /// Starts the search for `message`'s body.
    pub(super) fn start(message: &QueuedDelivery) -> (BodySearch, Found) {
        let search = BodySearch {
            id: message.id.clone(),
            place: Place::Row,
        };
        let found = match &message.body {
            Some(body) => Found::Body(body.as_bytes().to_vec()),
            None => Found::Read(Op::ReadBodyRow(records::body_of(&message.id))),
        };
        (search, found)
    }

    /// Feeds the last read's result.
    pub(super) fn feed(&mut self, result: OpResult) -> Found {
        match self.place {
            Place::Row => {
                let rows = match result {
                    OpResult::Rows(rows) => Ok(rows),
                    _ => Err(()),
                };
                match records::body_at(rows) {
                    BodyAt::Row(body) => Found::Body(body.into_bytes()),
                    BodyAt::Kv => self.read_kv(0),
                }
            }
            Place::Kv(i) => match result {
                OpResult::Value(Some(body)) => Found::Body(body),
                OpResult::Value(None) if i + 1 < KV_KEYS => self.read_kv(i + 1),
                OpResult::Value(None) => {
                    Found::Missing(format!("the body of {} is in no store (yet)", self.id))
                }
                other => Found::Missing(format!(
                    "the body of {} could not be read: {}",
                    self.id,
                    failure(other)
                )),
            },
        }
    }

    fn read_kv(&mut self, i: usize) -> Found {
        self.place = Place::Kv(i);
        Found::Read(Op::ReadKv(kv_keys(&self.id)[i].clone()))
    }
}
