//! What all dialects share.

pub mod auth;
pub mod health;
pub mod layers;
pub mod nullable;
pub mod routes;
