//! `etl`: a declarative ETL batch runner over Apache Arrow.
//!
//! `spec` parses the YAML contract, `contract` holds the value types sources, destinations and
//! the runner share, `connectors` hold sources and destinations (and the
//! registry that builds them), `formats` encode and decode files, and `runner` moves data.

pub mod connectors;
pub mod contract;
pub mod drift;
pub mod error;
pub mod formats;
pub mod runner;
pub mod spec;
pub mod transform;
pub mod values;

/// Fault injection for the crash tests (a no-op unless built with `fault-injection`).
pub mod fault;

pub use error::{Error, Result};
