//! The HTTP surface: the route table (checked against `openapi.json`) and
//! the console's requests and headers.

pub mod console;
pub mod routes;
