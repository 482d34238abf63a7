//! Delivery's shell: the delivery queue's consumer, the dead-letter
//! queue's consumer, what both read and take (a queued delivery's body and
//! a new event's claim), and the Durable Objects that keep each
//! destination's breaker and pace.

pub mod body;
pub mod breaker;
pub mod claim;
pub mod consumer;
pub mod dead_letters;
pub mod ops;
pub mod pacer;
