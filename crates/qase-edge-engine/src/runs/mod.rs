//! Qase test runs: a run's state assembled from its events, its report, the
//! calls to Qase's REST API that fill it in, the machine that makes the
//! report, the reconcile pass that reads what the webhooks missed, what a
//! run's object is asked and answers, and the runs API.

pub mod alarm;
pub mod api;
pub mod details;
pub mod fetch;
pub mod make;
pub mod object;
pub mod qase_api;
pub mod reconcile;
pub mod report;
pub mod settings;
pub mod sql;
pub mod state;
