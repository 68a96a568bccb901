//! usher's core: the domain, its services and its rules, with no knowledge of HTTP, gRPC or SQL.
//!
//! Dialects (crate `usher-api`) translate wire shapes into the inputs of [`service::Services`]
//! and render its results; stores (crate `usher-store`) implement [`ports::Store`].

pub mod auth;
pub mod clock;
pub mod error;
pub mod model;
pub mod password;
pub mod ports;
pub mod principal;
pub mod rights;
pub mod secrets;
pub mod service;
pub mod throttle;
pub mod types;

pub use error::{Error, Field, FieldError, Result};
