//! Alerts about the service itself, and the rules that raise them: the
//! watchdog over projects that fell silent (`QASE_WATCH`), and the check
//! that tells a disabled webhook from a quiet project by Qase's API
//! ([`disabled`]). The alerts a
//! destination's breaker raises are decided in [`crate::delivery::breaker`];
//! their text is the core's `qase_webhooks::chat::alert`.

pub mod disabled;
pub mod post;
pub mod settings;
pub mod watch;
