//! A new event's claim ([`records::claim`]) walked to its end: each
//! statement run in turn, and, when D1 fails for a message it did not
//! record at ingest, KV asked whether the rescue copy is there
//! ([`records::unclaimed`]). Used by the delivery machine and the
//! dead-letter machine alike.

use super::{Op, OpResult};
use crate::delivery::messages::QueuedDelivery;
use crate::delivery::records::{self, Claim};
use crate::store::layout;

/// What the walk needs next, or where it ended.
// Short-lived: its operation moves straight into the round's list.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum ClaimStep {
    /// Carry this out and feed its result to [`ClaimWalk::feed`].
    Run(Op),
    /// The end: never [`Claim::Run`].
    Ended(Claim),
}

/// Where the walk stands: the result of which operation it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    Statement(records::Stage),
    RescueCopy,
}

/// One message's claim.
#[derive(Debug)]
pub(super) struct ClaimWalk {
    waiting: Waiting,
}

impl ClaimWalk {
    /// Starts the claim of `message`, whose body is `body`.
    pub(super) fn start(message: &QueuedDelivery, body: &[u8]) -> (ClaimWalk, ClaimStep) {
        let mut walk = ClaimWalk {
            waiting: Waiting::Statement(records::Stage::Claim),
        };
        let step = walk.on(records::claim(message, body), message, body);
        (walk, step)
    }

    /// Feeds the last operation's result.
    pub(super) fn feed(
        &mut self,
        result: OpResult,
        message: &QueuedDelivery,
        body: &[u8],
    ) -> ClaimStep {
        match self.waiting {
            Waiting::Statement(stage) => {
                let changes = match result {
                    OpResult::Changed(changes) => Ok(changes),
                    _ => Err(()),
                };
                let claim = records::after(stage, &message.id, changes);
                self.on(claim, message, body)
            }
            Waiting::RescueCopy => {
                let rescue_copy = matches!(result, OpResult::Value(Some(_)));
                ClaimStep::Ended(records::unclaimed(message, rescue_copy))
            }
        }
    }

    fn on(&mut self, claim: Claim, message: &QueuedDelivery, body: &[u8]) -> ClaimStep {
        match claim {
            Claim::Run { stage, statement } => {
                self.waiting = Waiting::Statement(stage);
                let body = body.to_vec();
                ClaimStep::Run(Op::Claim { statement, body })
            }
            Claim::ForwardUnclaimed if !message.recorded => {
                self.waiting = Waiting::RescueCopy;
                ClaimStep::Run(Op::ReadKv(layout::rescue_key(&message.id)))
            }
            ended => ClaimStep::Ended(ended),
        }
    }
}
