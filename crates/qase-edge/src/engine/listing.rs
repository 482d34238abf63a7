//! `GET /api/events` as a pure state machine over KV list pages: the
//! caller fetches the page it is told to and feeds it in, until the listing
//! says it is done. No I/O here, so every paging branch is tested on the host
//! (several pages, the per-call page budget, filters that skip whole pages).
//!
//! An event is listed once per response even when its index holds several
//! entries for it (copies of one delivery accepted at the same moment before
//! the duplicate marker was visible; KV is eventually consistent). Such
//! entries lie close together in the newest-first order, so a cursor also
//! carries the ids it returned within [`REPEAT_WINDOW_MS`] of its end, and
//! the next page skips them.

use std::collections::HashSet;

use serde::Serialize;

use crate::engine::layout::{self, EventMetadata};
use crate::engine::query::{Cursor, ListQuery};

/// How many KV list pages one call may read before it returns what it
/// found with a cursor (filters can skip many keys).
pub const MAX_PAGES_PER_CALL: usize = 10;

/// Keys a KV list page holds at most.
pub const KV_PAGE_SIZE: u64 = 1000;

/// How far apart, in receive time, index entries of one event can be: the
/// time a copy can take to be stored plus KV's propagation delay.
pub const REPEAT_WINDOW_MS: u64 = 120_000;

/// Most ids a cursor carries to skip repeats (keeps the cursor short).
pub const MAX_RECENT_IDS: usize = 32;

/// One key of a KV list page, as the listing reads it.
#[derive(Debug, Clone)]
pub struct ListedKey {
    /// The key.
    pub name: String,
    /// Its metadata, if it has readable metadata.
    pub metadata: Option<EventMetadata>,
}

/// One KV list page.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The keys, in KV's order.
    pub keys: Vec<ListedKey>,
    /// The cursor of the next page, if any.
    pub cursor: Option<String>,
    /// Whether this is the last page.
    pub complete: bool,
}

/// An event as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventSummary {
    /// The event id.
    pub id: String,
    /// What the index entry records.
    #[serde(flatten)]
    pub metadata: EventMetadata,
}

/// A listing's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventPage {
    /// Events, newest first.
    pub events: Vec<EventSummary>,
    /// Where the next call resumes; `None` once the listing is complete.
    pub cursor: Option<String>,
}

/// What the caller does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// List `prefix` from this KV cursor (`None`: the first page) and feed
    /// the page to [`Listing::feed`].
    Fetch {
        /// The key prefix.
        prefix: String,
        /// The KV cursor.
        cursor: Option<String>,
    },
    /// Answer this.
    Done(EventPage),
}

/// A listing in progress.
#[derive(Debug)]
pub struct Listing {
    query: ListQuery,
    prefix: String,
    /// The KV cursor of the page being fed and how many of its keys to skip.
    page_cursor: Option<String>,
    skip: usize,
    pages_read: usize,
    events: Vec<EventSummary>,
    returned: HashSet<String>,
}

impl Listing {
    /// Starts a listing; the first step is always a fetch.
    pub fn start(query: ListQuery) -> (Listing, Step) {
        let prefix = match &query.project {
            Some(project) => layout::project_index_prefix(project),
            None => layout::INDEX.to_owned(),
        };
        let returned = query.cursor.recent.iter().cloned().collect();
        let listing = Listing {
            page_cursor: query.cursor.kv.clone(),
            skip: query.cursor.skip,
            prefix,
            query,
            pages_read: 0,
            events: Vec::new(),
            returned,
        };
        let step = listing.fetch();
        (listing, step)
    }

    fn fetch(&self) -> Step {
        Step::Fetch {
            prefix: self.prefix.clone(),
            cursor: self.page_cursor.clone(),
        }
    }

    fn keeps(&self, metadata: &EventMetadata) -> bool {
        let query = &self.query;
        query.until.is_none_or(|until| metadata.received_at < until)
            && query
                .event
                .as_ref()
                .is_none_or(|p| p.matches(&metadata.event_name))
            && query.status.is_none_or(|s| s == metadata.status)
    }

    /// Takes the page asked for by the last [`Step::Fetch`].
    pub fn feed(&mut self, page: Page) -> Step {
        self.pages_read += 1;
        let skip = std::mem::take(&mut self.skip);
        for (index, key) in page.keys.iter().enumerate().skip(skip) {
            let (Some(id), Some(metadata)) =
                (layout::index_entry_id(&key.name), key.metadata.as_ref())
            else {
                continue;
            };
            // Newest first: past `since`, everything else is older still.
            if self
                .query
                .since
                .is_some_and(|since| metadata.received_at < since)
            {
                return self.done(None);
            }
            if !self.keeps(metadata) || !self.returned.insert(id.to_owned()) {
                continue;
            }
            self.events.push(EventSummary {
                id: id.to_owned(),
                metadata: metadata.clone(),
            });
            if self.events.len() == self.query.limit {
                let more = index + 1 < page.keys.len() || !page.complete;
                let resume = more.then(|| (self.page_cursor.clone(), index + 1));
                return self.done(resume);
            }
        }
        let next_page = match (page.complete, page.cursor) {
            (false, Some(cursor)) => cursor,
            _ => return self.done(None),
        };
        self.page_cursor = Some(next_page);
        if self.pages_read == MAX_PAGES_PER_CALL {
            // Out of pages for this call: the client continues from here.
            let resume = Some((self.page_cursor.clone(), 0));
            return self.done(resume);
        }
        self.fetch()
    }

    /// The answer, with a cursor resuming at `(page cursor, skip)` if given.
    fn done(&mut self, resume: Option<(Option<String>, usize)>) -> Step {
        let cursor = resume.map(|(kv, skip)| {
            Cursor {
                kv,
                skip,
                recent: self.recent_ids(),
            }
            .encode()
        });
        Step::Done(EventPage {
            events: std::mem::take(&mut self.events),
            cursor,
        })
    }

    /// The ids that an entry on the next page may repeat: those returned in
    /// this call within [`REPEAT_WINDOW_MS`] of its last event, after those
    /// carried in (all of them when this call reached no further than the
    /// window), the newest [`MAX_RECENT_IDS`] kept.
    fn recent_ids(&self) -> Vec<String> {
        let mut recent = match (self.events.first(), self.events.last()) {
            (Some(first), Some(last))
                if first.metadata.received_at > last.metadata.received_at + REPEAT_WINDOW_MS =>
            {
                Vec::new()
            }
            _ => self.query.cursor.recent.clone(),
        };
        if let Some(last) = self.events.last() {
            let horizon = last.metadata.received_at + REPEAT_WINDOW_MS;
            let in_window = self
                .events
                .iter()
                .skip_while(|e| e.metadata.received_at > horizon);
            recent.extend(in_window.map(|e| e.id.clone()));
        }
        let excess = recent.len().saturating_sub(MAX_RECENT_IDS);
        recent.drain(..excess);
        recent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::layout::EventStatus;
    use crate::engine::query::ListQuery;

    /// An id made from a number.
    fn id(n: u64) -> String {
        format!("evt_{n:032x}")
    }

    fn entry(n: u64, received_at: u64, project: &str, event_name: &str) -> ListedKey {
        ListedKey {
            name: layout::index_key(received_at, &id(n)),
            metadata: Some(EventMetadata {
                event_name: event_name.to_owned(),
                project_code: project.to_owned(),
                received_at,
                status: EventStatus::Accepted,
                reason: None,
            }),
        }
    }

    /// A KV namespace's index, newest first, served in pages of `page_size`
    /// with cursors that are the offset of the next page.
    struct Source {
        keys: Vec<ListedKey>,
        page_size: usize,
        fetches: usize,
    }

    impl Source {
        fn page(&mut self, cursor: Option<String>) -> Page {
            self.fetches += 1;
            let start: usize = cursor.map_or(0, |c| c.parse().unwrap());
            let end = (start + self.page_size).min(self.keys.len());
            Page {
                keys: self.keys[start..end].to_vec(),
                cursor: (end < self.keys.len()).then(|| end.to_string()),
                complete: end == self.keys.len(),
            }
        }
    }

    fn newest_first(mut keys: Vec<ListedKey>) -> Vec<ListedKey> {
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        keys
    }

    fn run(source: &mut Source, query: ListQuery) -> EventPage {
        let (mut listing, mut step) = Listing::start(query);
        loop {
            match step {
                Step::Fetch { cursor, .. } => step = listing.feed(source.page(cursor)),
                Step::Done(page) => return page,
            }
        }
    }

    fn query(pairs: &[(&str, &str)]) -> ListQuery {
        ListQuery::parse(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    /// Follows cursors from `first` to the end; every page's events in order.
    fn all_pages(source: &mut Source, first: &[(&str, &str)]) -> (Vec<String>, usize) {
        let mut ids = Vec::new();
        let mut calls = 0;
        let mut cursor: Option<String> = None;
        loop {
            let mut pairs: Vec<(&str, &str)> = first.to_vec();
            if let Some(c) = &cursor {
                pairs.push(("cursor", c));
            }
            let page = run(source, query(&pairs));
            calls += 1;
            ids.extend(page.events.iter().map(|e| e.id.clone()));
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return (ids, calls),
            }
        }
    }

    fn source(keys: Vec<ListedKey>, page_size: usize) -> Source {
        Source {
            keys: newest_first(keys),
            page_size,
            fetches: 0,
        }
    }

    #[test]
    fn many_pages_are_listed_once_each_newest_first() {
        let keys = (0..2_500).map(|n| entry(n, 1_000 + n * 10, "P", "run.completed"));
        let mut source = source(keys.collect(), 1000);
        let (ids, calls) = all_pages(&mut source, &[("limit", "700")]);
        assert_eq!(ids.len(), 2_500);
        assert_eq!(ids.first(), Some(&id(2_499)));
        assert_eq!(ids.last(), Some(&id(0)));
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 2_500);
        assert_eq!(calls, 4);
    }

    #[test]
    fn a_filter_that_skips_many_pages_stops_at_the_page_budget_with_a_cursor() {
        // 12 pages of `run.*`, then one `case.created` at the very end.
        let mut keys: Vec<ListedKey> = (1..=12_000)
            .map(|n| entry(n, 10_000_000 + n, "P", "run.completed"))
            .collect();
        keys.push(entry(0, 1, "P", "case.created"));
        let mut source = source(keys, 1000);
        let page = run(&mut source, query(&[("event", "case.*")]));
        assert!(page.events.is_empty());
        assert!(page.cursor.is_some(), "the client continues");
        assert_eq!(source.fetches, MAX_PAGES_PER_CALL);
        let (ids, calls) = all_pages(&mut source, &[("event", "case.*")]);
        assert_eq!(ids, vec![id(0)]);
        assert_eq!(calls, 2);
    }

    #[test]
    fn since_stops_early_and_until_and_status_filter() {
        let keys = (0..100).map(|n| entry(n, n * 1000, "P", "run.completed"));
        let mut source = source(keys.collect(), 30);
        let page = run(&mut source, query(&[("since", "90"), ("limit", "1000")]));
        assert_eq!(page.events.len(), 10);
        assert_eq!(page.cursor, None);
        assert_eq!(source.fetches, 1, "stopped at the first older entry");
        let page = run(&mut source, query(&[("until", "10"), ("limit", "1000")]));
        assert_eq!(page.events.len(), 10);
        let page = run(&mut source, query(&[("status", "quarantined")]));
        assert!(page.events.is_empty());
    }

    #[test]
    fn an_event_with_several_index_entries_is_listed_once_across_pages() {
        // Regression: copies accepted at once were listed 2-3 times.
        let mut keys: Vec<ListedKey> = (0..10)
            .map(|n| entry(n, 1_000_000 + n * 100, "P", "run.completed"))
            .collect();
        // Copies of 5 received before and after 4 and 3 arrived.
        keys.push(entry(5, 1_000_000 + 5 * 100 + 1, "P", "run.completed"));
        keys.push(entry(5, 1_000_000 + 4 * 100 - 1, "P", "run.completed"));
        keys.push(entry(5, 1_000_000 + 3 * 100 - 1, "P", "run.completed"));
        for page_size in [1, 2, 3, 1000] {
            for limit in ["1", "2", "3", "50"] {
                let mut source = source(keys.clone(), page_size);
                let (ids, _) = all_pages(&mut source, &[("limit", limit)]);
                assert_eq!(ids.len(), 10, "page {page_size}, limit {limit}: {ids:?}");
            }
        }
    }

    #[test]
    fn keys_that_are_not_index_entries_are_skipped() {
        let mut keys = vec![entry(1, 5, "P", "run.completed")];
        keys.push(ListedKey {
            name: "idx/garbage".into(),
            metadata: keys[0].metadata.clone(),
        });
        keys.push(ListedKey {
            name: layout::index_key(4, &id(2)),
            metadata: None,
        });
        let mut source = source(keys, 1000);
        let page = run(&mut source, query(&[]));
        assert_eq!(page.events.len(), 1);
        assert_eq!(page.events[0].id, id(1));
    }
}
