//! Alerts about the service itself, and the rules that raise them: the
//! watchdog over projects that fell silent (`QASE_WATCH`). The alerts a
//! destination's breaker raises are decided in [`crate::delivery::breaker`];
//! their text is the core's `qase_webhooks::chat::alert`.

pub mod post;
pub mod settings;
pub mod watch;
