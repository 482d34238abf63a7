//! The HTTP surface: the route table (checked against `openapi.json`),
//! every error answered (and its JSON body),
//! the console's requests and headers, and the requests qase-edge makes
//! of other services.

pub mod console;
pub mod error;
pub mod outbound;
pub mod routes;

/// The headers of every JSON answer: the shell's responses and the ingest
/// module's (`qase_answer_headers`, asked for once per isolate).
pub const JSON_HEADER_PAIRS: [(&str, &str); 2] = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
];
