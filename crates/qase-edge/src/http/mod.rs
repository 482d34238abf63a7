//! The HTTP surface's shell: every answer built as the runtime's
//! `Response`, every error mapped to its status and JSON body, the
//! console's files and `GET /health`.

pub mod console;
pub mod error;
pub mod health;
pub mod outbound;
pub mod respond;
