//! Delivery's shell: the delivery queue's consumer, the dead-letter
//! queue's consumer, the loop that carries out their machines' operations
//! ([`ops`]), and the Durable Objects that keep each destination's breaker
//! and pace.

pub mod breaker;
pub mod consumer;
pub mod dead_letters;
pub mod ops;
pub mod pacer;
