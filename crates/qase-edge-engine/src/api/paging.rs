//! Paging over the event store: keyset pages of `limit + 1` rows (see
//! [`crate::api::events`] for the order and the SQL), and how many rows a call
//! that returns bodies (the export, a bulk replay) takes within its budget.
//! Pure, so tested on the host, including a cursor used while new events
//! arrive.

use crate::api::events::EventRow;
use crate::api::params::Cursor;

/// A page: at most `limit` rows of the `limit + 1` fetched, and the cursor
/// of its last row when more follow.
pub fn page<T>(
    mut rows: Vec<T>,
    limit: usize,
    cursor: impl Fn(&T) -> Cursor,
) -> (Vec<T>, Option<Cursor>) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more { rows.last().map(cursor) } else { None };
    (rows, next)
}

/// What one call that returns bodies may read: bytes of bodies, and KV
/// reads for bodies that are not in the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyBudget {
    /// Bytes of bodies (the first event is taken whatever its size).
    pub bytes: u64,
    /// Bodies read from KV.
    pub kv_reads: usize,
}

/// How many of a page's rows (at most `limit` of them) fit `budget`,
/// counting each row's size, and each body in KV as a KV read when
/// `kv_bodies` (an export reads them; a replay leaves them to the
/// consumer). The first row is always taken, so every call makes progress.
pub fn fit(rows: &[EventRow], limit: usize, budget: BodyBudget, kv_bodies: bool) -> usize {
    let (mut bytes, mut kv_reads) = (0u64, 0usize);
    for (taken, row) in rows.iter().take(limit).enumerate() {
        bytes += row.size;
        kv_reads += usize::from(kv_bodies && row.body_in_kv());
        if taken > 0 && (bytes > budget.bytes || kv_reads > budget.kv_reads) {
            return taken;
        }
    }
    rows.len().min(limit)
}

/// An export call's budget: 8 MiB of bodies, and 20 bodies read from KV
/// (each above D1's row limit, so the bytes stop it first in practice).
pub const EXPORT_BUDGET: BodyBudget = BodyBudget {
    bytes: 8 * 1024 * 1024,
    kv_reads: 20,
};

/// A bulk replay call's budget: 8 MiB of bodies held in rows (bodies in KV
/// are read by the consumer, not by the call).
pub const BULK_REPLAY_BUDGET: BodyBudget = BodyBudget {
    bytes: 8 * 1024 * 1024,
    kv_reads: 0,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::events::row;

    /// The keyset order over rows, and the conditions `after` and `through`
    /// stand for, evaluated in Rust: what D1 does with the SQL above.
    fn newest_first(rows: &mut [EventRow]) {
        rows.sort_by(|a, b| (b.received_at, &b.id).cmp(&(a.received_at, &a.id)));
    }

    fn is_after(row: &EventRow, cursor: &Cursor) -> bool {
        row.received_at <= cursor.at && (row.received_at < cursor.at || row.id < cursor.id)
    }

    /// One page as D1 would answer [`list_events`].
    fn fetch(table: &[EventRow], cursor: Option<&Cursor>, limit: usize) -> Vec<EventRow> {
        let mut rows: Vec<EventRow> = table
            .iter()
            .filter(|r| cursor.is_none_or(|c| is_after(r, c)))
            .cloned()
            .collect();
        newest_first(&mut rows);
        rows.truncate(limit + 1);
        rows
    }

    #[test]
    fn a_cursor_survives_new_arrivals_without_repeat_or_gap() {
        // Ten events, several sharing a millisecond (ties broken by id).
        let mut table: Vec<EventRow> = (0..10).map(|n| row(n, 1_000 + n / 3, 1, false)).collect();
        let mut seen = Vec::new();
        let mut cursor: Option<Cursor> = None;
        let mut next_id = 100;
        loop {
            let (rows, next) = page(fetch(&table, cursor.as_ref(), 2), 2, EventRow::cursor);
            seen.extend(rows.iter().map(|r| r.id.clone()));
            // Between pages, new events arrive: later, and at the very
            // millisecond of the page's last row (a larger id sorts before it).
            table.push(row(next_id, 5_000 + next_id, 1, false));
            if let Some(last) = rows.last() {
                table.push(row(next_id + 1, last.received_at, 1, false));
                let mut id = last.id.clone();
                id.replace_range(4..5, "f");
                table.push(EventRow {
                    id,
                    ..row(0, last.received_at, 1, false)
                });
            }
            next_id += 2;
            match next {
                Some(next) => cursor = Some(next.clone()),
                None => break,
            }
            // The cursor is opaque text and survives a round trip.
            cursor = Cursor::decode(&cursor.unwrap().encode());
        }
        let expected: Vec<String> = {
            let mut first: Vec<EventRow> =
                (0..10).map(|n| row(n, 1_000 + n / 3, 1, false)).collect();
            newest_first(&mut first);
            first.into_iter().map(|r| r.id).collect()
        };
        assert_eq!(seen, expected, "each of the first ten once, in order");
    }

    #[test]
    fn pages_say_whether_more_follow() {
        let rows: Vec<EventRow> = (0..3).map(|n| row(n, 10 - n, 1, false)).collect();
        let (taken, next) = page(rows.clone(), 2, EventRow::cursor);
        assert_eq!(taken.len(), 2);
        assert_eq!(next, Some(rows[1].cursor()));
        let (taken, next) = page(rows.clone(), 3, EventRow::cursor);
        assert_eq!((taken.len(), next), (3, None));
        let (taken, next) = page(Vec::<EventRow>::new(), 3, EventRow::cursor);
        assert_eq!((taken.len(), next), (0, None));
    }

    #[test]
    fn a_budget_takes_the_first_row_and_stops_at_bytes_or_kv_reads() {
        let budget = BodyBudget {
            bytes: 100,
            kv_reads: 1,
        };
        let rows = vec![
            row(0, 9, 500, false),
            row(1, 8, 10, false),
            row(2, 7, 10, false),
        ];
        assert_eq!(
            fit(&rows, 10, budget, true),
            1,
            "the first always, then over"
        );
        let rows = vec![
            row(0, 9, 10, false),
            row(1, 8, 10, true),
            row(2, 7, 10, true),
            row(3, 6, 10, false),
        ];
        assert_eq!(fit(&rows, 10, budget, true), 2, "one KV read allowed");
        assert_eq!(fit(&rows, 10, budget, false), 4, "a replay reads no KV");
        assert_eq!(fit(&rows, 3, budget, false), 3, "never past the limit");
        assert_eq!(fit(&[], 3, budget, false), 0);
    }
}
