//! The operator API under `/api`: strict parameters, the queries over the
//! event store and their rows, keyset paging, replays, and the destinations
//! view, who may take which route ([`auth`]), and the answers of every route as shared serde types.

pub mod answers;
pub mod audit;
pub mod auth;
pub mod destinations;
pub mod events;
pub mod paging;
pub mod params;
pub mod replay;
pub mod settings;
