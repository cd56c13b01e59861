//! The Render API over HTTP/1.1 (hyper 1 on tokio): token-based v2, direct v1, and the
//! retrieval of finished outputs. See `docs/api.md` for the contract as served here.
//!
//! ```text
//! TCP ─▶ hyper (header, size and time limits) ─▶ handle(): span, route, CORS
//!        ─▶ v2 / v1 handlers ─▶ deliver (finished outputs, byte ranges) ─▶ store
//! ```

mod accounts;
mod batch;
mod body;
mod error;
mod handlers;
mod metrics;
mod route;
mod server;
pub mod token;

pub use accounts::{Accounts, Caller, RenderSlot, ANONYMOUS_TIER, DEFAULT_ANONYMOUS_RENDERS};
pub use body::{RenderBody, MAX_PARALLEL};
pub use error::ApiError;
pub use metrics::Metrics;
pub use route::{BatchAction, Mode, Route};
pub use server::{App, ServerSettings};
