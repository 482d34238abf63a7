//! Forwarding accepted events: the queue messages and what kind each is, which destinations a
//! message goes to and the request each gets, what follows an attempt, the
//! delivery rows of the event store, each destination's breaker, the
//! pacing of chat destinations, and the machine that sequences them for
//! one delivery message.

pub mod analytics;
pub mod attempt;
pub mod breaker;
pub mod breaker_reports;
pub mod github;
pub mod machine;
pub mod messages;
pub mod pace;
pub mod queue;
pub mod records;
pub mod settings;
