//! The dead-letter queue's machine: records each delivery that failed for
//! good as a `dead` row of D1's `deliveries`, with its reason
//! ([`records::dead_letter_writes`]), so it can be listed and replayed (the
//! body is the event's row).
//!
//! What arrives ([`DeadLetterQueueMessage`]):
//! - our own dead letters, recorded;
//! - delivery messages the platform moved here after the consumer failed
//!   on one `max_retries` times. A moved new event's message (for every
//!   destination, recorded as [`ALL_DESTINATIONS`](crate::delivery::attempt::ALL_DESTINATIONS))
//!   first takes the event's claim, as the delivery consumer would: then
//!   the sweep stops re-sending it; and if another message already holds
//!   the claim, the event was forwarded and nothing is dead;
//! - a run's report or an alert the consumer kept failing on: logged and
//!   dropped. Neither is an event: the run's state (`GET /api/runs`) still
//!   has the run, and an alert is a notice.
//!
//! A message that cannot be read is retried, so it stays visible in the
//! logs until the platform's retry limit drops it.

use super::body::{BodySearch, Found};
use super::claim::{ClaimStep, ClaimWalk};
use super::ops::{dead_letter_note, Level, Machine, Next, Note, Op, OpResult};
use crate::delivery::attempt::{self, Disposition};
use crate::delivery::messages::DeadLetter;
use crate::delivery::queue::{DeadLetterQueueMessage, QueueMessage};
use crate::delivery::records::Claim;

/// Where the message stands: which operation's result it waits for.
#[derive(Debug)]
enum Stage {
    /// A read of the event's body.
    Body(BodySearch),
    /// The moved new event's claim.
    Claim(ClaimWalk),
    /// The dead letter's writes.
    Record,
    /// Ended.
    Ended,
}

/// One message of the dead-letter queue (see the module's documentation).
#[derive(Debug)]
pub struct Bury {
    stage: Stage,
    /// The dead letter to record (none for a message that is dropped).
    dead: Option<DeadLetter>,
    /// Whether the claim comes first (a moved new event's message).
    claim_first: bool,
    /// The event's body, once found (only needed for a message D1 did not
    /// take at ingest).
    body: Option<Vec<u8>>,
    notes: Vec<Note>,
}

impl Bury {
    /// Starts on one message of the dead-letter queue at `now` (Unix ms):
    /// `decoded` is what [`DeadLetterQueueMessage::decode`] made of it,
    /// `message_id` the platform's id, for the logs.
    pub fn start(
        decoded: Result<DeadLetterQueueMessage, String>,
        message_id: &str,
        now: u64,
    ) -> (Bury, Next) {
        let mut bury = Bury {
            stage: Stage::Ended,
            dead: None,
            claim_first: false,
            body: None,
            notes: Vec::new(),
        };
        let next = match decoded {
            Err(error) => {
                let line = format!("dead-letter message {message_id} unreadable: {error}");
                bury.note(Level::Error, line);
                bury.end(Disposition::Retry)
            }
            Ok(DeadLetterQueueMessage::DeadLetter(dead)) => {
                bury.dead = Some(dead);
                bury.begin()
            }
            Ok(DeadLetterQueueMessage::Moved(QueueMessage::Delivery(moved))) => {
                bury.claim_first = moved.destination.is_none();
                bury.dead = Some(attempt::moved_dead_letter(&moved, now));
                bury.begin()
            }
            Ok(DeadLetterQueueMessage::Moved(QueueMessage::RunReport(due))) => {
                let line = serde_json::json!({"event": "run_report_given_up", "project": due.run_report.project, "run": due.run_report.run});
                bury.note(Level::Error, line.to_string());
                bury.end(Disposition::Ack)
            }
            Ok(DeadLetterQueueMessage::Moved(QueueMessage::RunDetails(due))) => {
                let line = serde_json::json!({"event": "run_details_given_up", "project": due.run_details.project, "run": due.run_details.run});
                bury.note(Level::Warn, line.to_string());
                bury.end(Disposition::Ack)
            }
            Ok(DeadLetterQueueMessage::Moved(QueueMessage::Alert(alert))) => {
                let line = serde_json::json!({"event": "alert_dropped", "to": alert.alert_to, "kind": alert.alert.kind(), "error": "the delivery consumer failed on it repeatedly", "attempts": alert.attempts});
                bury.note(Level::Error, line.to_string());
                bury.end(Disposition::Ack)
            }
        };
        (bury, next)
    }

    fn note(&mut self, level: Level, line: String) {
        self.notes.push(Note { level, line });
    }

    fn dead(&self) -> &DeadLetter {
        self.dead
            .as_ref()
            .expect("only a dead letter reads, claims and records")
    }

    fn run(&mut self, stage: Stage, op: Op) -> Next {
        self.stage = stage;
        Next::Run(vec![op])
    }

    fn end(&mut self, disposition: Disposition) -> Next {
        self.stage = Stage::Ended;
        Next::End(disposition)
    }

    /// The body first, for a message D1 did not take at ingest: the
    /// event's row is inserted with the dead letter.
    fn begin(&mut self) -> Next {
        if !self.dead().delivery.recorded {
            let (search, found) = BodySearch::start(&self.dead().delivery);
            return self.on_body(search, found);
        }
        self.after_body()
    }

    fn on_body(&mut self, search: BodySearch, found: Found) -> Next {
        match found {
            Found::Body(body) => self.body = Some(body),
            Found::Read(op) => return self.run(Stage::Body(search), op),
            // Best effort: without the body the dead row is still written,
            // and no claim can insert the event's row either.
            Found::Missing(line) => {
                self.note(
                    Level::Warn,
                    format!("{line}; the dead row alone is written"),
                );
                self.claim_first = false;
            }
        }
        self.after_body()
    }

    fn after_body(&mut self) -> Next {
        if !self.claim_first {
            return self.record();
        }
        let body = self.body.clone().unwrap_or_default();
        let (walk, step) = ClaimWalk::start(&self.dead().delivery, &body);
        self.on_claim(walk, step)
    }

    fn on_claim(&mut self, walk: ClaimWalk, step: ClaimStep) -> Next {
        let claim = match step {
            ClaimStep::Run(op) => return self.run(Stage::Claim(walk), op),
            ClaimStep::Ended(claim) => claim,
        };
        match claim {
            // This message holds the claim: the event is dead.
            Claim::Forward | Claim::Run { .. } => self.record(),
            Claim::Skip | Claim::LeftToTheSweep => {
                let id = &self.dead().delivery.id;
                let line = format!("dead-letter message for {id} dropped: the event was forwarded, or its rescue copy will be");
                self.note(Level::Log, line);
                self.end(Disposition::Ack)
            }
            // D1 down: the dead row cannot be written either.
            Claim::ForwardUnclaimed => self.end(Disposition::Retry),
        }
    }

    fn record(&mut self) -> Next {
        let dead = self.dead().clone();
        let op = Op::record_dead(dead, self.body.as_deref());
        self.run(Stage::Record, op)
    }

    fn after_record(&mut self, result: OpResult) -> Next {
        match result {
            OpResult::Done => {
                let note = dead_letter_note(self.dead());
                self.notes.push(note);
                self.end(Disposition::Ack)
            }
            other => {
                let id = &self.dead().delivery.id;
                let line = format!("dead letter {id} not recorded: {}", super::failure(other));
                self.note(Level::Error, line);
                self.end(Disposition::Retry)
            }
        }
    }
}

impl Machine for Bury {
    fn feed(&mut self, results: Vec<OpResult>, _now: u64) -> Next {
        let result = results.into_iter().next().unwrap_or(OpResult::Done);
        match std::mem::replace(&mut self.stage, Stage::Ended) {
            Stage::Body(mut search) => {
                let found = search.feed(result);
                self.on_body(search, found)
            }
            Stage::Claim(mut walk) => {
                let body = self.body.clone().unwrap_or_default();
                let step = walk.feed(result, &self.dead().delivery, &body);
                self.on_claim(walk, step)
            }
            Stage::Record => self.after_record(result),
            Stage::Ended => Next::End(Disposition::Ack),
        }
    }

    fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }
}

#[cfg(test)]
mod tests;
