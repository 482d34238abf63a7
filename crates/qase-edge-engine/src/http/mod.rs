//! The HTTP surface: the route table (checked against `openapi.json`),
//! the console's requests and headers, and the requests qase-edge makes
//! of other services.

pub mod console;
pub mod outbound;
pub mod routes;
