//! `etl`: a declarative ETL batch runner over Apache Arrow.
//!
//! `spec` parses the YAML contract, `connectors` hold sources and destinations (and the
//! registry that builds them), `formats` encode and decode files, and `runner` moves data.

pub mod connectors;
pub mod error;
pub mod formats;
pub mod runner;
pub mod spec;

pub use error::{Error, Result};
