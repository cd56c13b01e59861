//! framecast: a render-and-stream origin for dynamic movies.
//!
//! The library follows the data: [`movie`] (file format, params, timeline) feeds
//! [`render`] (frames), with [`assets`] loading every picture and font on the way.
//! See `docs/` for the movie format and the design.

pub mod api;
pub mod assets;
pub mod config;
pub mod container;
pub mod deliver;
pub mod encode;
pub mod error;
pub mod movie;
pub mod output;
pub mod project;
pub mod publish;
pub mod render;
pub mod segment;
pub mod store;

pub use error::{Error, ErrorKind, Result};
