//! Pacing of chat destinations: chat services throttle their incoming
//! webhooks (Slack about one message a second), so a burst of events is
//! spread out, never dropped. One pacer per destination hands out send
//! slots ([`reserve`]); a message whose slot is near waits for it, one whose
//! slot is far is put back on the queue until then ([`step`]), keeping the
//! slot it was given. The pacer object (`qase_edge::delivery::pacer`) is
//! asked [`PacerCall`]s and answers [`ReserveAnswer`].

use serde::{Deserialize, Serialize};

use crate::delivery::settings::MAX_RETRY_SECONDS;

/// The longest a consumer waits in place for a slot; beyond that the
/// message goes back on the queue, delayed.
pub const MAX_INLINE_WAIT_MS: u64 = 5_000;

/// A slot for one send: the slot's time, and the next free time after it.
/// `next_free` is the pacer's state (0 when it has none).
pub fn reserve(next_free: u64, now: u64, interval_ms: u64) -> (u64, u64) {
    let slot = next_free.max(now);
    (slot, slot + interval_ms)
}

/// A call to a destination's pacer object (one JSON body, `POST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum PacerCall {
    /// The next send slot, the one after it `interval_ms` later ([`reserve`]).
    /// Answers [`ReserveAnswer`].
    Reserve {
        /// The destination's pace: milliseconds between two sends.
        interval_ms: u64,
    },
}

/// The answer to [`PacerCall::Reserve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveAnswer {
    /// The slot, in Unix milliseconds.
    pub slot: u64,
}

/// What a consumer does with a message given its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Wait this many milliseconds (0: none), then send.
    SendAfter(u64),
    /// Put the message back on the queue for this many seconds, keeping
    /// its slot (`not_before`).
    Requeue {
        /// The queue delay.
        delay_seconds: u32,
        /// The slot, in Unix milliseconds.
        not_before: u64,
    },
}

/// The step for a message whose slot is `slot`, at `now`. A slot further
/// off than the queue's longest delay ([`MAX_RETRY_SECONDS`], 12 hours: a
/// longer one fails to send) is reached in several requeues, each keeping
/// the slot.
pub fn step(slot: u64, now: u64) -> Step {
    let wait = slot.saturating_sub(now);
    if wait <= MAX_INLINE_WAIT_MS {
        return Step::SendAfter(wait);
    }
    Step::Requeue {
        // The queue delivers after the delay, never before: round down, and
        // the consumer waits the rest in place.
        delay_seconds: (wait / 1000).min(MAX_RETRY_SECONDS) as u32,
        not_before: slot,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn calls_and_answers_are_tagged_json_and_read_back() {
        let call = PacerCall::Reserve { interval_ms: 1_500 };
        let text = serde_json::to_value(call).unwrap();
        assert_eq!(text, json!({"call": "reserve", "interval_ms": 1_500}));
        assert_eq!(serde_json::from_value::<PacerCall>(text).unwrap(), call);
        let answer = serde_json::to_value(ReserveAnswer { slot: 9 }).unwrap();
        assert_eq!(answer, json!({"slot": 9}));
        assert_eq!(
            serde_json::from_value::<ReserveAnswer>(answer).unwrap(),
            ReserveAnswer { slot: 9 }
        );
    }

    #[test]
    fn a_call_the_pacer_cannot_read_is_refused() {
        let read = |value: serde_json::Value| serde_json::from_value::<PacerCall>(value);
        assert!(read(json!({"call": "release", "interval_ms": 1})).is_err());
        assert!(read(json!({"interval_ms": 1})).is_err());
        // No default pace hides a caller that forgot it.
        assert!(read(json!({"call": "reserve"})).is_err());
        assert!(read(json!({"call": "reserve", "interval_ms": -1})).is_err());
    }

    #[test]
    fn slots_are_handed_out_one_interval_apart_from_now_on() {
        let (first, next) = reserve(0, 1_000, 1_000);
        assert_eq!((first, next), (1_000, 2_000));
        let (second, next) = reserve(next, 1_100, 1_000);
        assert_eq!((second, next), (2_000, 3_000));
        // After a quiet spell, the next slot is now.
        assert_eq!(reserve(next, 9_000, 1_000), (9_000, 10_000));
    }

    #[test]
    fn a_burst_is_spread_out_and_nothing_is_dropped() {
        let mut next = 0;
        let mut slots = Vec::new();
        for _ in 0..100 {
            let (slot, after) = reserve(next, 50_000, 1_000);
            slots.push(slot);
            next = after;
        }
        assert!(slots.windows(2).all(|w| w[1] - w[0] == 1_000));
        let steps: Vec<Step> = slots.iter().map(|&slot| step(slot, 50_000)).collect();
        assert_eq!(steps[0], Step::SendAfter(0));
        assert_eq!(steps[5], Step::SendAfter(5_000));
        assert_eq!(
            steps[99],
            Step::Requeue {
                delay_seconds: 99,
                not_before: 149_000
            }
        );
    }

    #[test]
    fn a_slot_beyond_the_queues_longest_delay_is_reached_in_several_requeues() {
        let slot = 100_000 * 1000;
        assert_eq!(
            step(slot, 0),
            Step::Requeue {
                delay_seconds: MAX_RETRY_SECONDS as u32,
                not_before: slot
            }
        );
        let back = MAX_RETRY_SECONDS * 1000;
        assert_eq!(
            step(slot, back),
            Step::Requeue {
                delay_seconds: MAX_RETRY_SECONDS as u32,
                not_before: slot
            }
        );
        // A slot past u32 seconds away does not wrap around to a short delay.
        assert!(matches!(
            step(u64::MAX, 0),
            Step::Requeue { delay_seconds, .. } if u64::from(delay_seconds) == MAX_RETRY_SECONDS
        ));
    }

    #[test]
    fn a_requeued_message_comes_back_no_later_than_its_slot() {
        match step(12_345, 0) {
            Step::Requeue {
                delay_seconds,
                not_before,
            } => {
                assert!(u64::from(delay_seconds) * 1000 <= not_before);
                assert_eq!(
                    step(not_before, u64::from(delay_seconds) * 1000),
                    Step::SendAfter(345)
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
